"""Group commit (Database.run_write, the batching LogWriter) and one-trip reads
(Database.run_read), on real databases.

Concurrent writes share transactions; each must still succeed or fail on its own, be on disk
when its caller resumes, and leave the log without a gap.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.demo import DemoLogin
from hub.errors import Conflict
from hub.ledger.entries import Action, Event, Record
from hub.model.packets import Draft
from hub.services import ledger
from hub.store import ledger as ledger_store
from hub.store.database import Database
from hub.store.schema import ledger_entries
from hub.store.sqlite_jobs import PAGE_CACHE_KIB
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, ManualClock, agency_id, case_id


def _record(clock: ManualClock, purpose: str) -> Record:
    return Record(
        action=Action.CONSULTATION,
        event=Event.PACKET_OPENED,
        recorded_at=clock.now(),
        actor_user_id=None,
        actor_agency_id=None,
        purpose=purpose,
        lawful_basis="cja2003-s325",
    )


async def _count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ledger_entries))).one()[0])


async def test_concurrent_jobs_commit_together_and_fail_alone(hub: Hub, clock: ManualClock) -> None:
    db = hub.db
    before = await _count(db)

    def job(k: int):  # type: ignore[no-untyped-def]
        async def run(conn: AsyncConnection) -> int:
            entry = await ledger.append(conn, _record(clock, f"purpose-{k}"))
            if k % 7 == 3:
                raise Conflict(f"job {k} refuses after writing")
            return entry.seq

        return run

    results = await asyncio.gather(
        *(db.run_write(job(k)) for k in range(50)), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, Exception)]
    seqs = [r for r in results if isinstance(r, int)]
    assert len(failed) == 7 and all(isinstance(f, Conflict) for f in failed)
    # The failed jobs' entries were rolled back with their savepoints: the chain has no gap.
    assert await _count(db) == before + 43
    assert len(set(seqs)) == 43
    assert await ledger.verify(db) == before + 43


async def test_a_job_alone_that_fails_writes_nothing(hub: Hub, clock: ManualClock) -> None:
    before = await _count(hub.db)

    async def run(conn: AsyncConnection) -> None:
        await ledger.append(conn, _record(clock, "alone"))
        raise Conflict("no")

    with pytest.raises(Conflict):
        await hub.db.run_write(run)
    assert await _count(hub.db) == before
    assert await ledger.verify(hub.db) == before


async def test_committed_jobs_are_visible_to_a_new_connection(hub: Hub, clock: ManualClock) -> None:
    async def run(conn: AsyncConnection) -> int:
        return (await ledger.append(conn, _record(clock, "visible"))).seq

    seq = await hub.db.run_write(run)

    async def read(conn: AsyncConnection) -> str:
        stmt = select(ledger_entries.c.purpose).where(ledger_entries.c.seq == seq)
        return str((await conn.execute(stmt)).one()[0])

    assert await hub.db.run_read(read) == "visible"
    # And from a separate engine, as another process would see it.
    other = Database(hub.db.url)
    try:
        async with other.read() as conn:
            stmt = select(ledger_entries.c.purpose).where(ledger_entries.c.seq == seq)
            assert (await conn.execute(stmt)).one()[0] == "visible"
    finally:
        await other.dispose()


async def test_a_job_that_awaits_something_else_is_refused(hub: Hub, config: Config) -> None:
    if not config.is_sqlite:
        pytest.skip("only a SQLite job runs in a worker thread")

    async def wanders(conn: AsyncConnection) -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other"):
        await hub.db.run_read(wanders)


async def test_writes_through_both_paths_interleave_without_gaps(
    hub: Hub, clock: ManualClock
) -> None:
    """Group-committed jobs and ordinary write() transactions share one chain."""
    before = await _count(hub.db)

    async def grouped(k: int) -> None:
        async def run(conn: AsyncConnection) -> None:
            await ledger.append(conn, _record(clock, f"grouped-{k}"))

        await hub.db.run_write(run)

    async def plain(k: int) -> None:
        async with hub.db.write() as conn:
            await ledger.append(conn, _record(clock, f"plain-{k}"))

    await asyncio.gather(*(grouped(k) for k in range(20)), *(plain(k) for k in range(20)))
    assert await _count(hub.db) == before + 40
    assert await ledger.verify(hub.db) == before + 40


async def test_batched_shares_with_a_key_used_twice_fail_alone(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """Thirty concurrent shares through the batching log writer, five under one idempotency key:
    one of those five is sent, the other four are refused, and every other share lands with its
    log entry (a refused item in a batch is retried alone, so it takes nothing else with it)."""
    issued = await hub.tokens.issue(None, "DBY-POLICE", "Case system", ["packets:send"])
    caller = await hub.callers.authenticate(issued.secret)
    draft = Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject="Address check",
        body="Is the proposed address suitable?",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )
    before = await _count(hub.db)
    keys = [f"key-{k}" for k in range(25)] + ["same"] * 5
    results = await asyncio.gather(
        *(hub.packets.send(caller.actor, draft, idempotency=(k, "digest")) for k in keys),
        return_exceptions=True,
    )
    sent = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(sent) == 26
    assert len(refused) == 4 and all(isinstance(r, Conflict) for r in refused)
    assert await _count(hub.db) == before + 26
    assert await ledger.verify(hub.db) == before + 26
    async with hub.db.read() as conn:
        for summary in sent:
            entries = await ledger_store.entries_for_packet(conn, summary.id)
            assert [e["event"] for e in entries] == ["packet-sent"]


async def test_every_sqlite_connection_is_durable_and_keeps_a_page_cache(tmp_path: Path) -> None:
    """The settings each kind of connection gets (inline reads, reader threads, the group
    commit's writer, the async engine): WAL, synchronous=FULL, and the page cache a large
    database's listings need (``PAGE_CACHE_KIB``)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")

    async def settings(conn: AsyncConnection) -> tuple[str, int, int]:
        values = []
        for pragma in ("journal_mode", "synchronous", "cache_size"):
            values.append((await conn.execute(text(f"PRAGMA {pragma}"))).scalar_one())
        return values[0], values[1], values[2]

    expected = ("wal", 2, -PAGE_CACHE_KIB)  # 2: FULL
    try:
        assert await db.run_read(settings) == expected  # inline, on the event loop's thread
        assert await db.run_write(settings) == expected  # the writer thread
        async with db.read() as conn:
            assert await settings(conn) == expected
        assert db._sync_engine is not None
        with db._sync_engine.connect() as sync:  # a reader thread's pool
            assert sync.execute(text("PRAGMA cache_size")).scalar_one() == -PAGE_CACHE_KIB
    finally:
        await db.dispose()
