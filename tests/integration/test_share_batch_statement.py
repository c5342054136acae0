"""A batch of shares and its log entries in one statement on PostgreSQL (hub.services.log_writer).

On PostgreSQL a batch holding shares and nothing else to write (no idempotency key to remember,
nobody's read to mark) appends its log entries in its packets' statement, a round trip fewer.
The hub still renders every entry itself and refuses the batch, before its commit, if the
database chained one otherwise; a batch with anything else to write keeps its separate append.
SQLite's writer has no round trips to save and writes as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.demo import DemoLogin
from hub.errors import IntegrityFailure
from hub.ledger.entries import Action, Event, Record
from hub.model.packets import Draft
from hub.services import ledger
from hub.store import ledger as ledger_store
from hub.store import packet_writes
from hub.store.hot_writes import Beside
from hub.store.schema import ledger_entries, packets
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def _draft(hub: Hub, subject: str = "Address check") -> Draft:
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject=subject,
        body="Is the proposed address suitable?",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )


async def _counts(hub: Hub) -> tuple[int, int, tuple[int, str]]:
    async with hub.db.read() as conn:
        stored = (await conn.execute(select(func.count()).select_from(packets))).scalar_one()
        logged = (await conn.execute(select(func.count()).select_from(ledger_entries))).scalar_one()
        head = await ledger_store.head(conn)
    return int(stored), int(logged), head


async def test_concurrent_shares_go_in_with_their_entries_in_one_statement(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    police = await actor_for(hub, "dby.police")
    draft = await _draft(hub)
    stored, logged, _ = await _counts(hub)
    before = len(driver_statements)
    sent = await asyncio.gather(*(hub.packets.send(police, draft) for _ in range(12)))
    statements = driver_statements[before:]
    after = await _counts(hub)
    assert after[:2] == (stored + 12, logged + 12) and after[2][0] == logged + 12
    assert await ledger.verify(hub.db) == logged + 12
    async with hub.db.read() as conn:
        for summary in sent:
            entries = await ledger_store.entries_for_packet(conn, summary.id)
            assert [e["event"] for e in entries] == ["packet-sent"]
    if hub.db.engine.dialect.name != "postgresql":
        assert statements == []  # SQLite's writer runs its statements on its own thread
        return
    writes = [s for s in statements if "INSERT INTO packets" in s]
    assert writes and all("INSERT INTO ledger_entries" in s for s in writes)
    # No append of its own: every entry went in with its packets.
    assert [s for s in statements if "ledger_entries" in s] == writes


async def test_an_entry_the_hub_would_render_otherwise_leaves_the_share_unwritten(
    hub: Hub, logins: dict[str, DemoLogin], monkeypatch: pytest.MonkeyPatch
) -> None:
    police = await actor_for(hub, "dby.police")
    draft = await _draft(hub)
    await hub.packets.send(police, draft)
    before = await _counts(hub)

    def rendered_otherwise(parts: tuple[bytes, bytes, bytes], seq: int, prev: str) -> bytes:
        a, b, c = parts
        return a + prev.encode() + b + b"%d" % seq + c.replace(b'"v":4', b'"v":5')

    monkeypatch.setattr(ledger, "join_around", rendered_otherwise)
    if hub.db.engine.dialect.name == "postgresql":
        with pytest.raises(IntegrityFailure, match="chained an entry otherwise"):
            await hub.packets.send(police, draft)
        assert await _counts(hub) == before  # neither the packet nor its entry
    else:  # SQLite chains in the hub, after the head it read: nothing to compare
        await hub.packets.send(police, draft)
        assert (await _counts(hub))[:2] == (before[0] + 1, before[1] + 1)
    monkeypatch.undo()
    assert await ledger.verify(hub.db) == (await _counts(hub))[1]


async def test_a_share_with_an_idempotency_key_appends_its_entry_apart(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    """The key is remembered between the packets and the entry, so that batch keeps the
    separate append (and the head is locked last, after the key's insert)."""
    issued = await hub.tokens.issue(None, "DBY-POLICE", "Case system", ["packets:send"])
    caller = await hub.callers.authenticate(issued.secret)
    draft = await _draft(hub)
    _, logged, _ = await _counts(hub)
    issuing = len(driver_statements)  # the token's own entry went in before
    summary = await hub.packets.send(caller.actor, draft, idempotency=("key-1", "digest"))
    statements = driver_statements[issuing:]
    async with hub.db.read() as conn:
        entries = await ledger_store.entries_for_packet(conn, summary.id)
    assert [e["event"] for e in entries] == ["packet-sent"]
    assert await ledger.verify(hub.db) == logged + 1
    if hub.db.engine.dialect.name == "postgresql":
        writes = [s for s in statements if "INSERT INTO packets" in s]
        assert len(writes) == 1 and "ledger_entries" not in writes[0]
        assert len([s for s in statements if "INSERT INTO ledger_entries" in s]) == 1


async def test_off_postgresql_the_combined_statement_writes_nothing(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """``insert_packets_beside`` answers None where it cannot be one statement, and has
    written nothing: the log writer then writes the parts apart."""
    if hub.db.engine.dialect.name == "postgresql":
        pytest.skip("on PostgreSQL the combined statement runs (the tests above)")
    housing = await agency_id(hub, "DBY-HOUSING")
    now = hub.clock.now()
    record = Record(
        action=Action.CONSULTATION,
        event=Event.PACKET_OPENED,
        recorded_at=now,
        actor_user_id=None,
        actor_agency_id=None,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
    )
    member = {"case_id": await case_id(hub, "Harlow"), "agency_id": housing, "joined_at": now}
    before = await _counts(hub)

    async def job(conn: AsyncConnection) -> object:
        assert ledger.chained_append(conn, [record]) is None
        beside = Beside(lambda after: "unused AS (SELECT 1)", "SELECT 1", 1, ())
        return await packet_writes.insert_packets_beside(conn, [], [member], beside)

    assert await hub.db.run_write(job) is None
    assert await _counts(hub) == before


async def test_the_head_is_locked_only_once_the_packets_went_in(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The log's head is the one row every batch of every serving process waits for: locked from
    the statement that takes it to the commit. Taken before the packets' inserts, it would be
    held while an insert waits (here for another transaction's row of the same case and agency),
    and every other append would wait too. So it is taken after them, as when the append was a
    statement of its own: an append beside the waiting batch goes through."""
    if hub.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer holds the database's lock for the whole batch")
    harlow = await case_id(hub, "Harlow")
    async with hub.db.read() as conn:
        agency = (
            await conn.execute(
                text(
                    "SELECT id FROM agencies WHERE id NOT IN "
                    "(SELECT agency_id FROM case_agencies WHERE case_id = :case) "
                    "ORDER BY id LIMIT 1"
                ),
                {"case": harlow},
            )
        ).scalar_one_or_none()
    assert agency is not None
    now = hub.clock.now()

    def record(purpose: str) -> Record:
        return Record(
            action=Action.CONSULTATION,
            event=Event.PACKET_OPENED,
            recorded_at=now,
            actor_user_id=None,
            actor_agency_id=None,
            purpose=purpose,
            lawful_basis="cja2003-s325",
        )

    url = hub.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(url)
    try:
        # Another transaction holds the same membership row, uncommitted.
        await other.execute("BEGIN")
        await other.execute(
            "INSERT INTO case_agencies (case_id, agency_id, joined_at) VALUES ($1, $2, now())",
            harlow,
            agency,
        )
        member = {"case_id": harlow, "agency_id": agency, "joined_at": now}

        async def waiting_batch() -> list[Any]:
            async with hub.db.write() as conn:
                chain = ledger.chained_append(conn, [record("risk-management")])
                assert chain is not None
                both = await packet_writes.insert_packets_beside(conn, [], [member], chain[1])
                assert both is not None
                return both[1]

        batch = asyncio.create_task(waiting_batch())
        waiting = 0
        for _ in range(1500):  # until its insert waits for the other transaction's row
            if batch.done():
                batch.result()  # it did not wait: raises what it met, if anything
                break
            # (Not by its text: pg_stat_activity may show a query asyncpg ran before it.)
            waiting = await other.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting == 1 and not batch.done()
        async with asyncio.timeout(10):  # not held up by the batch waiting beside it
            async with hub.db.write() as conn:
                (alone,) = await ledger.append_many(conn, [record("public-protection")])
        await other.execute("ROLLBACK")
        chained = await asyncio.wait_for(batch, 10)
    finally:
        await other.close()
    assert [row[1] for row in chained] == [alone.seq + 1]  # chained after the one that passed it
    assert await ledger.verify(hub.db) == alone.seq + 1
