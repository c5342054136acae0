"""On real PostgreSQL the log is chained by the statement that appends it (hub.store.ledger_chain).

The entries must be byte for byte those the hub renders itself (``encode``), gapless and linked
however many connections append at once, and a batch whose hashes the hub does not match must
leave nothing behind. SQLite keeps reading the head first: its writer holds the database's lock.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.errors import IntegrityFailure
from hub.ledger.entries import Action, Event, Record, encode, leaf_hash
from hub.services import ledger
from hub.store import ledger as ledger_store
from hub.store import ledger_chain
from hub.store.database import Database
from hub.store.schema import ledger_entries
from tests.conftest import _drop_pg_database, _pg_database

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    url, name = await _pg_database()
    database = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()
        await _drop_pg_database(name)


def _record(i: int, **changes: Any) -> Record:
    fields: dict[str, Any] = {
        "action": Action.DISCLOSURE,
        "event": Event.PACKET_SENT,
        "recorded_at": T0 + timedelta(milliseconds=i, microseconds=i % 997),
        "actor_user_id": 1 + i % 9,
        "actor_agency_id": 1 + i % 4,
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "case_id": 1 + i % 5,
        "packet_id": f"packet-{i}",
        "recipients": tuple(range(2, 2 + i % 4)),
        "content_digest": f"{i:064x}",
        "policy_version": "ab" * 32,
        "decision": "permit",
    }
    fields.update(changes)
    return Record(**fields)


# What a value may hold that its rendering must carry exactly: quotes and a backslash (escaped in
# the entry), text beyond ASCII, a control character, and the empty and missing values.
AWKWARD = [
    _record(1, purpose='say "no"', lawful_basis="back\\slash"),
    _record(2, purpose="Ω café 🚓", content_digest=None, policy_version=None, decision=None),
    _record(3, purpose="tab\there", case_id=None, packet_id=None, recipients=()),
    _record(
        4,
        action=Action.DISCLOSURE,
        event=Event.EMAIL_SENT,
        channel="email",
        recipient_address="o'neill@agency.example",
        actor_user_id=None,
        actor_agency_id=None,
        actor_token_id=7,
    ),
    _record(5, event=Event.LETTER_SENT, channel="letter", recipients=(10**6,)),
]


async def _rows(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        result = await conn.execute(select(ledger_entries).order_by(ledger_entries.c.seq))
        return [dict(r) for r in result.mappings()]


async def test_the_database_chains_the_hubs_own_bytes_without_a_read_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_read_first(conn: object) -> tuple[int, str]:
        raise AssertionError("the head was read before the append")

    monkeypatch.setattr(ledger_store, "lock_head", no_read_first)
    records = [*AWKWARD, *(_record(i) for i in range(10, 50))]
    written = []
    async with db.write() as conn:
        written += await ledger.append_many(conn, records[:1])
    async with db.write() as conn:
        written += await ledger.append_many(conn, records[1:5])
    async with db.write() as conn:
        written += await ledger.append_many(conn, records[5:])
    rows = await _rows(db)
    assert [r["seq"] for r in rows] == list(range(1, len(records) + 1))
    prev = "0" * 64
    for row, entry, record in zip(rows, written, records, strict=True):
        data = encode(row["seq"], prev, record)
        assert bytes(row["entry"]) == data == entry.entry_bytes
        assert row["entry_hash"] == leaf_hash(data) == entry.entry_hash
        assert row["prev_hash"] == prev == entry.prev_hash
        assert (row["purpose"], row["recipient_address"]) == (
            record.purpose,
            record.recipient_address,
        )
        prev = row["entry_hash"]
    async with db.read() as conn:
        assert await ledger_store.head(conn) == (len(records), prev)
    assert await ledger.verify(db) == len(records)


async def test_connections_appending_at_once_leave_one_gapless_chain(db: Database) -> None:
    writers, batches = 6, 15
    sizes = random.Random(7)

    async def writer(k: int) -> int:
        count = 0
        for b in range(batches):
            n = sizes.randint(1, 9)
            async with db.write() as conn:
                entries = await ledger.append_many(
                    conn, [_record(1000 * k + 20 * b + i) for i in range(n)]
                )
            # Each batch's entries follow one another, whoever appended in between.
            assert [e.seq for e in entries] == list(range(entries[0].seq, entries[0].seq + n))
            count += n
        return count

    total = sum(await asyncio.gather(*(writer(k) for k in range(writers))))
    rows = await _rows(db)
    assert [r["seq"] for r in rows] == list(range(1, total + 1))
    for before, row in itertools.pairwise(rows):
        assert row["prev_hash"] == before["entry_hash"]
    assert await ledger.verify(db) == total


async def test_a_hash_the_hub_does_not_match_leaves_nothing_written(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.write() as conn:
        await ledger.append_many(conn, [_record(1), _record(2)])
    async with db.read() as conn:
        head = await ledger_store.head(conn)

    def rendered_otherwise(parts: tuple[bytes, bytes, bytes], seq: int, prev: str) -> bytes:
        a, b, c = parts
        return a + prev.encode() + b + b"%d" % seq + c.replace(b'"v":4', b'"v":5')

    monkeypatch.setattr(ledger, "join_around", rendered_otherwise)
    with pytest.raises(IntegrityFailure, match="chained an entry otherwise"):
        async with db.write() as conn:
            await ledger.append_many(conn, [_record(3), _record(4)])
    async with db.read() as conn:
        assert await ledger_store.head(conn) == head
        count = (await conn.execute(select(func.count()).select_from(ledger_entries))).scalar()
    assert count == 2
    monkeypatch.undo()
    assert await ledger.verify(db) == 2


async def test_a_value_too_long_for_its_column_is_refused_not_cut(db: Database) -> None:
    long = _record(1, purpose="p" * 65)  # purpose is varchar(64)
    with pytest.raises(Exception, match="too long"):
        async with db.write() as conn:
            await ledger.append_many(conn, [long])
    assert await _rows(db) == []


async def test_an_append_of_nothing_writes_nothing(db: Database) -> None:
    async with db.write() as conn:
        assert await ledger.append_many(conn, []) == []
        with pytest.raises(ValueError, match="at least one entry"):
            await ledger_chain.append_chained(conn, [], [])
    assert await _rows(db) == []


async def test_a_longer_append_reads_the_head_first_and_chains_the_same(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``MAX_ENTRIES`` (whose statement would grow with the square of its length) the hub
    reads the head first; the log is the same either way."""
    monkeypatch.setattr(ledger_chain, "MAX_ENTRIES", 3)
    read_first = 0
    lock_head = ledger_store.lock_head

    async def counted(conn: Any) -> tuple[int, str]:
        nonlocal read_first
        read_first += 1
        return await lock_head(conn)

    monkeypatch.setattr(ledger_store, "lock_head", counted)
    async with db.write() as conn:
        await ledger.append_many(conn, [_record(i) for i in range(3)])  # chained by the statement
    async with db.write() as conn:
        await ledger.append_many(conn, [_record(i) for i in range(3, 7)])  # the head read first
    assert read_first == 1
    rows = await _rows(db)
    assert [r["seq"] for r in rows] == list(range(1, 8))
    prev = "0" * 64
    for i, row in enumerate(rows):
        assert bytes(row["entry"]) == encode(i + 1, prev, _record(i))
        prev = row["entry_hash"]
    assert await ledger.verify(db) == 7
