"""Verifying the log in bulk and in worker processes, on real SQLite and PostgreSQL.

``hub.services.ledger.scan`` must answer exactly as the exact check (``verify_rows`` over the typed
rows) would: the same count and Merkle root for an intact log, and the same first bad entry and
reason for a broken one, whether it runs in this process or splits the log between workers, and
whichever range a tamper falls in (first, last, on a boundary). The log holds entries as a hub
wrote them before entry v4 (v3) and after it: emails naming their address, letters their channel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from hub.config import normalise_database_url
from hub.crypto.canonical import canonical_json
from hub.ledger import rowcheck
from hub.ledger.entries import (
    GENESIS_HASH,
    Action,
    Event,
    LedgerBroken,
    Record,
    chain,
    leaf_hash,
    verify_rows,
)
from hub.ledger.merkle import MerkleTree
from hub.services import ledger
from hub.services.ledger_chunks import ChunkResult, check_range
from hub.store import ledger as ledger_store
from hub.store.database import Database
from hub.store.ledger_rows import open_rows
from hub.store.schema import ledger_entries, ledger_head

SIZE = 300
V3_ENTRIES = 120  # the first entries, written before entry v4
EMAIL, LETTER = 13, 17  # every 13th entry after them an email, every 17th a letter
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _record(i: int) -> Record:
    share = i % 3 == 0
    return Record(
        action=Action.DISCLOSURE if share else Action.CONSULTATION,
        event=Event.PACKET_SENT if share else Event.PACKET_OPENED,
        recorded_at=T0 + timedelta(seconds=i, microseconds=7 * i),
        actor_user_id=1 + i % 14,
        actor_agency_id=1 + i % 14,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        case_id=None if i % 50 == 0 else 1 + i % 7,
        packet_id=f"packet-{i // 3}",
        recipients=(2, 5) if share else (),
        content_digest=hashlib.sha256(b"%d" % i).hexdigest() if share else None,
        policy_version="ab" * 32 if share else None,
        decision="permit" if share else None,
        actor_token_id=9 if i % 11 == 0 else None,
        **_sent(i),
    )


def _sent(i: int) -> dict[str, str]:
    if i <= V3_ENTRIES:
        return {}
    if i % EMAIL == 0:
        return {"channel": "email", "recipient_address": f"person.{i}@agency.example"}
    return {"channel": "letter"} if i % LETTER == 0 else {}


def _v3_rows(count: int) -> list[dict[str, object]]:
    """The first ``count`` entries as a hub wrote them before entry v4."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        entry = chain(seq, prev, _record(seq))
        doc = json.loads(entry.entry_bytes)
        doc["v"] = 3
        del doc["channel"], doc["to"]
        data = canonical_json(doc)
        entry_hash = leaf_hash(data)
        rows.append({**entry.columns(), "entry": data, "entry_hash": entry_hash})
        prev = entry_hash
    return rows


async def _log(url: str) -> Database:
    database = Database(normalise_database_url(url))
    await database.migrate()
    async with database.write() as conn:
        await ledger_store.append_many(conn, _v3_rows(V3_ENTRIES))
        records = [_record(i) for i in range(V3_ENTRIES + 1, SIZE + 1)]
        await ledger.append_many(conn, records)
    return database


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    (tmp_path / "data").mkdir(exist_ok=True)
    database = await _log(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def sqlite_db(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite keeps a value's storage class whatever the column's type (PostgreSQL cannot)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    database = await _log(sqlite_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _reference(db: Database) -> tuple[int, bytes] | tuple[int, str]:
    """What the exact check says: (entries, root), or the first bad entry and the reason."""
    async with db.read() as conn:
        head = await ledger_store.head(conn)
        rows = [r async for r in ledger_store.stream_entries(conn)]
    try:
        count = verify_rows(rows, *head)
    except LedgerBroken as exc:
        return exc.seq, exc.reason
    return count, MerkleTree(bytes.fromhex(r["entry_hash"]) for r in rows).root()


async def _scan(db: Database, workers: int) -> tuple[int, bytes] | tuple[int, str]:
    async with db.read() as conn:
        head = await ledger_store.head(conn)
        try:
            result = await ledger.scan(db, conn, *head, workers=workers, parallel_min=0)
        except LedgerBroken as exc:
            return exc.seq, exc.reason
    return result.entries, result.tree.root()


async def _assert_same_answer(db: Database) -> None:
    expected = await _reference(db)
    for workers in (1, 3):
        assert await _scan(db, workers) == expected, workers


def _apart(db: Database) -> str:
    """The URL a worker's reader opens here, in the test's own process: on SQLite a copy of the
    database. A worker reads SQLite through apsw's own SQLite, which must never open a file that
    this process's sqlite3 has open (POSIX locks belong to the process: closing one copy's
    descriptor drops the other's locks; hub/store/ledger_rows_sqlite.py). A worker process opens
    nothing else, so the service itself never does."""
    if not db.url.startswith("sqlite"):
        return db.url
    path = db.url.split(":///", 1)[1]
    copy = f"{path}.{uuid.uuid4().hex}"
    source, target = sqlite3.connect(path), sqlite3.connect(copy)
    try:
        source.backup(target)  # page by page: every value keeps its storage class
    finally:
        source.close()
        target.close()
    return db.url.replace(path, copy)


def _ranges(workers: int = 3) -> list[tuple[int, int]]:
    return ledger._ranges(SIZE, workers)


async def test_an_intact_log_verifies_alike_in_process_and_in_workers(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(_ranges()) == 3
    expected = await _reference(db)
    assert expected[0] == SIZE
    with caplog.at_level(logging.WARNING, logger=ledger.__name__):
        await _assert_same_answer(db)
    assert not caplog.records  # the workers did the work, none fell back
    assert await ledger.verify(db) == SIZE
    async with db.read() as conn:
        versions = {json.loads(r["entry"])["v"] async for r in ledger_store.stream_entries(conn)}
        sent = await conn.execute(
            text("SELECT count(channel), count(recipient_address) FROM ledger_entries")
        )
        assert versions == {3, 4} and tuple(sent.one()) == (23, 14)


async def test_an_intact_mixed_log_is_accepted_in_bulk(db: Database) -> None:
    """v3 and v4 rows, emails and letters among them, never reach the exact check."""
    async with db.read() as conn:
        rows = await ledger_store.bulk_rows(conn, 0, SIZE)
    leaves = bytearray()
    assert rowcheck.accept(rows, 0, GENESIS_HASH, leaves)[0] == SIZE


async def test_an_intact_mixed_log_is_compared_by_sqlite_itself(sqlite_db: Database) -> None:
    """The same rows, each compared with its entry by SQLite (``SQLITE_COMPARED``): every one
    accepted there, none left to the check by columns."""
    reader = await open_rows(_apart(sqlite_db))
    try:
        assert reader.compares
        leaves = bytearray()
        rows = await reader.rows(0, SIZE)
        assert rowcheck.accept_compared(rows, 0, GENESIS_HASH, leaves)[0] == SIZE
    finally:
        await reader.close()
    async with sqlite_db.read() as conn:
        hashes = await conn.execute(text("SELECT entry_hash FROM ledger_entries ORDER BY seq"))
        assert bytes(leaves) == b"".join(bytes.fromhex(h) for (h,) in hashes)


# Sequence numbers to tamper with: the first entry, both sides of each range boundary, the last.
POSITIONS = sorted({1, SIZE} | {b for _, hi in _ranges() for b in (hi, hi + 1) if b <= SIZE})


@pytest.mark.parametrize("seq", POSITIONS)
async def test_an_edited_column_is_named_in_any_range(db: Database, seq: int) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(ledger_entries).where(ledger_entries.c.seq == seq).values(purpose="other")
        )
    await _assert_same_answer(db)
    assert (await _reference(db))[0] == seq


@pytest.mark.parametrize("seq", POSITIONS)
async def test_a_deleted_row_is_named_in_any_range(db: Database, seq: int) -> None:
    async with db.write() as conn:
        await conn.execute(delete(ledger_entries).where(ledger_entries.c.seq == seq))
    await _assert_same_answer(db)


Tamper = Callable[[Database], Awaitable[None]]


async def _sql(db: Database, statement: str, **params: int) -> None:
    async with db.write() as conn:
        await conn.execute(text(statement), params)


async def _row_past_the_head(db: Database) -> None:
    await _sql(
        db,
        "INSERT INTO ledger_entries (seq, recorded_at, action, event, actor_user_id,"
        " actor_agency_id, case_id, packet_id, recipients, purpose, lawful_basis, content_digest,"
        " policy_version, decision, actor_token_id, entry, prev_hash, entry_hash)"
        " SELECT seq + 1, recorded_at, action, event, actor_user_id, actor_agency_id, case_id,"
        " packet_id, recipients, purpose, lawful_basis, content_digest, policy_version, decision,"
        " actor_token_id, entry, prev_hash, entry_hash FROM ledger_entries WHERE seq = :last",
        last=SIZE,
    )


async def _head(db: Database, seq: int) -> None:
    async with db.write() as conn:
        await conn.execute(update(ledger_head).values(seq=seq))


async def _reorder(db: Database) -> None:
    for seq, temp in ((200, -200), (201, 200), (-200, 201)):
        await _sql(db, "UPDATE ledger_entries SET seq = :temp WHERE seq = :seq", temp=temp, seq=seq)


async def _time(db: Database) -> None:
    if db.is_sqlite:
        statement = "UPDATE ledger_entries SET recorded_at = '2026-11-23 09:00:03.000022'"
    else:
        statement = "UPDATE ledger_entries SET recorded_at = recorded_at + interval '1 second'"
    await _sql(db, statement + " WHERE seq = 3")


TAMPERS: dict[str, Tamper] = {
    "entry-hash": lambda db: _sql(
        db, "UPDATE ledger_entries SET entry_hash = prev_hash WHERE seq = 150"
    ),
    "prev-link": lambda db: _sql(
        db, "UPDATE ledger_entries SET prev_hash = entry_hash WHERE seq = 129"
    ),
    "row-past-the-head": _row_past_the_head,
    "head-behind": lambda db: _head(db, SIZE - 1),
    "head-ahead": lambda db: _head(db, SIZE + 2),
    "reordered": _reorder,
    "recipients": lambda db: _sql(
        db, "UPDATE ledger_entries SET recipients = '5,2' WHERE seq = 258"
    ),
    "time": _time,
    "null-case": lambda db: _sql(db, "UPDATE ledger_entries SET case_id = NULL WHERE seq = 257"),
    # entry v4: seq 195 is an email, 204 a letter, 196 neither, 117 a v3 entry
    "address": lambda db: _sql(
        db, "UPDATE ledger_entries SET recipient_address = 'x@agency.example' WHERE seq = 195"
    ),
    "address-null": lambda db: _sql(
        db, "UPDATE ledger_entries SET recipient_address = NULL WHERE seq = 195"
    ),
    "address-quoted": lambda db: _sql(
        db,
        "UPDATE ledger_entries SET recipient_address = '\"person.195\"@agency.example'"
        " WHERE seq = 195",
    ),
    "channel": lambda db: _sql(db, "UPDATE ledger_entries SET channel = 'email' WHERE seq = 204"),
    "channel-set": lambda db: _sql(
        db, "UPDATE ledger_entries SET channel = 'letter' WHERE seq = 196"
    ),
    "v3-channel": lambda db: _sql(
        db, "UPDATE ledger_entries SET channel = 'email' WHERE seq = 117"
    ),
}


# -- entries forged to what the database's comparison renders -------------------------------------

FORGED_AT = 200  # an entry v4


def _naive(cols: dict[str, object]) -> bytes:
    """The entry a forger who knows the bulk check writes: the columns dropped into the template,
    nothing escaped."""

    def text_or_null(name: str) -> str:
        value = cols[name]
        return "null" if value is None else f'"{value}"'

    def int_or_null(name: str) -> str:
        value = cols[name]
        return "null" if value is None else str(value)

    at = cols["recorded_at"]
    assert isinstance(at, datetime)
    return (
        f'{{"action":"{cols["action"]}","actor_agency":{int_or_null("actor_agency_id")},'
        f'"actor_token":{int_or_null("actor_token_id")},"actor_user":{int_or_null("actor_user_id")},'
        f'"at":"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z","case":{int_or_null("case_id")},'
        f'"channel":{text_or_null("channel")},"content_digest":{text_or_null("content_digest")},'
        f'"decision":{text_or_null("decision")},"event":"{cols["event"]}",'
        f'"lawful_basis":"{cols["lawful_basis"]}","packet":{text_or_null("packet_id")},'
        f'"policy_version":{text_or_null("policy_version")},"prev":"{cols["prev_hash"]}",'
        f'"purpose":"{cols["purpose"]}","recipients":[{cols["recipients"]}],"seq":{cols["seq"]},'
        f'"to":{text_or_null("recipient_address")},"v":4}}'
    ).encode()


async def _forge(db: Database, **columns: object) -> None:
    """Set columns of entry ``FORGED_AT``, write its entry as their naive rendering, and chain
    every later entry to it again, as a forger rewriting the tail would."""
    async with db.write() as conn:
        result = await conn.execute(
            ledger_entries.select().where(ledger_entries.c.seq >= FORGED_AT - 1)
            .order_by(ledger_entries.c.seq)
        )  # fmt: skip
        rows = [dict(r._mapping) for r in result]
        prev = rows[0]["entry_hash"]
        for row in rows[1:]:
            if row["seq"] == FORGED_AT:
                row.update(columns, prev_hash=prev)
                row["entry"] = _naive(row)
            else:
                doc = json.loads(row["entry"])
                doc["prev"] = row["prev_hash"] = prev
                row["entry"] = canonical_json(doc)
            row["entry_hash"] = prev = leaf_hash(row["entry"])
            await conn.execute(
                update(ledger_entries).where(ledger_entries.c.seq == row["seq"]).values(
                    {k: v for k, v in row.items() if k != "seq"}
                )
            )  # fmt: skip
        await conn.execute(update(ledger_head).values(seq=rows[-1]["seq"], entry_hash=prev))


FORGERIES: dict[str, dict[str, object]] = {
    "injected-key": {"purpose": 'x","purpose":"y'},
    "inner-quote": {"lawful_basis": 'cja"2003'},
    "nullable-injected": {"policy_version": 'ab","policy_version":"cd'},
    "address-injected": {"recipient_address": 'a@x","to":"b@y'},
    "newline": {"purpose": "risk\nmanagement"},
    "backslash": {"purpose": "risk\\management"},
    "recipients-space": {"recipients": "2, 5"},
    "recipients-leading-zero": {"recipients": "02,5"},
}


@pytest.mark.parametrize("columns", FORGERIES.values(), ids=FORGERIES.keys())
async def test_forged_entries_are_refused_and_named(
    db: Database, columns: dict[str, object]
) -> None:
    await _forge(db, **columns)
    assert (await _reference(db))[0] == FORGED_AT  # the exact check refuses the forged entry
    reader = await open_rows(_apart(db))
    if reader.compares:  # SQLite's comparison, alone, refuses it as well
        try:
            rows = await reader.rows(0, SIZE)
            accepted, _ = rowcheck.accept_compared(rows, 0, GENESIS_HASH, bytearray())
        finally:
            await reader.close()
        assert accepted < FORGED_AT
    else:
        await reader.close()
    await _assert_same_answer(db)


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
async def test_tampers_fail_exactly_as_the_exact_check_fails(db: Database, tamper: Tamper) -> None:
    await tamper(db)
    expected = await _reference(db)
    assert isinstance(expected[1], str), "the tamper should break the log"
    await _assert_same_answer(db)


# A BLOB, or a text, that reads like the entry once cast would hide the row from queries on that
# column.
STORAGE_CLASSES = [
    "UPDATE ledger_entries SET case_id = CAST(case_id AS BLOB) WHERE seq = 101",
    "UPDATE ledger_entries SET case_id = 'null' WHERE seq = 50",
    "UPDATE ledger_entries SET actor_agency_id = actor_agency_id + 0.5 WHERE seq = 270",
    "UPDATE ledger_entries SET packet_id = CAST(packet_id AS BLOB) WHERE seq = 131",
    "UPDATE ledger_entries SET purpose = CAST(purpose AS BLOB) WHERE seq = 256",
    "UPDATE ledger_entries SET prev_hash = CAST(prev_hash AS BLOB) WHERE seq = 2",
    "UPDATE ledger_entries SET entry = CAST(entry AS TEXT) WHERE seq = 299",
    "UPDATE ledger_entries SET recipient_address = CAST(recipient_address AS BLOB) WHERE seq = 195",
    "UPDATE ledger_entries SET channel = CAST(channel AS BLOB) WHERE seq = 204",
]


@pytest.mark.parametrize("statement", STORAGE_CLASSES)
async def test_sqlite_storage_classes_are_not_taken_for_the_values(
    sqlite_db: Database, statement: str
) -> None:
    db = sqlite_db
    await _sql(db, statement)
    try:
        expected: object = await _reference(db)
    except Exception as exc:  # the exact path cannot read the row at all
        expected = type(exc)
    assert expected != (SIZE, await _reference_root(db)), "the tamper should break the log"
    for workers in (1, 3):
        try:
            got: object = await _scan(db, workers)
        except Exception as exc:
            got = type(exc)
        assert got == expected, workers


# Values SQLite keeps that cannot even be read as an entry's columns: the verification names the
# row rather than stopping on the driver's error (which would quote the value).
UNREADABLE = {
    "blob-time": "UPDATE ledger_entries SET recorded_at = CAST(recorded_at AS BLOB) WHERE seq = 7",
    "text-time": "UPDATE ledger_entries SET recorded_at = 'yesterday' WHERE seq = 101",
    "not-utf8": "UPDATE ledger_entries SET purpose = CAST(X'C70F' AS TEXT) || purpose"
    " WHERE seq = 150",
    "not-utf8-address": "UPDATE ledger_entries SET recipient_address"
    " = CAST(X'ED' AS TEXT) || recipient_address WHERE seq = 195",
    "not-utf8-last": "UPDATE ledger_entries SET event = CAST(X'FF' AS TEXT) WHERE seq = 300",
}


@pytest.mark.parametrize("statement", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_a_row_that_cannot_be_read_is_named(sqlite_db: Database, statement: str) -> None:
    db = sqlite_db
    await _sql(db, statement)
    seq = int(statement.rsplit("=", 1)[1])
    for workers in (1, 3):
        assert await _scan(db, workers) == (seq, ledger._UNREADABLE), workers


async def test_a_gap_before_a_row_that_cannot_be_read_is_named_first(sqlite_db: Database) -> None:
    db = sqlite_db
    await _sql(db, "UPDATE ledger_entries SET recorded_at = 'yesterday' WHERE seq = 60")
    await _sql(db, "DELETE FROM ledger_entries WHERE seq = 59")
    for workers in (1, 3):
        assert await _scan(db, workers) == (59, "missing or out of order (found 60)"), workers


async def _reference_root(db: Database) -> bytes:
    async with db.read() as conn:
        hashes = await conn.execute(text("SELECT entry_hash FROM ledger_entries ORDER BY seq"))
        return MerkleTree(bytes.fromhex(h) for (h,) in hashes).root()


# -- workers that fail or answer wrongly only cost time --------------------------------------------


async def test_a_worker_that_fails_is_replaced_by_checking_its_range_here(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*args: object) -> None:
        return None

    monkeypatch.setattr(ledger, "_worker", failing)
    await _assert_same_answer(db)


@pytest.mark.parametrize("operator", [None, "glibc.malloc.arena_max=2"])
async def test_workers_keep_their_freed_memory_unless_the_operator_says_otherwise(
    db: Database, monkeypatch: pytest.MonkeyPatch, operator: str | None
) -> None:
    """glibc's allocator is told to keep what a worker frees (bench/README.md: about a tenth of its
    CPU went on faulting the same memory in again); an operator's own tunables are left alone."""
    if operator is None:
        monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    else:
        monkeypatch.setenv("GLIBC_TUNABLES", operator)
    real = ledger.asyncio.create_subprocess_exec
    seen: list[str | None] = []

    async def start(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["env"].get("GLIBC_TUNABLES"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(ledger.asyncio, "create_subprocess_exec", start)
    await _assert_same_answer(db)
    # One worker is the service itself; three are three processes.
    assert seen == [operator or ledger._WORKER_MALLOC] * len(_ranges())


async def test_a_worker_whose_range_does_not_link_is_checked_here(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ledger._worker

    async def misleading(url: str, after: int, upto: int, *rest: object) -> ChunkResult | None:
        result = await real(url, after, upto, *rest)  # type: ignore[arg-type]
        if result is None or after == 0:
            return result
        return ChunkResult(result.accepted, "f" * 64, result.last_hash, result.levels)

    monkeypatch.setattr(ledger, "_worker", misleading)
    await _assert_same_answer(db)


async def test_a_worker_stopped_by_a_tamper_hands_over_mid_range(db: Database) -> None:
    start, end = _ranges()[1]
    middle = (start + end) // 2
    async with db.write() as conn:
        await conn.execute(
            update(ledger_entries).where(ledger_entries.c.seq == middle).values(event="other")
        )
    await _assert_same_answer(db)
    assert (await _reference(db))[0] == middle


# -- a worker's batches, each next one read while this one is checked --------------------------------


async def test_a_range_read_in_many_batches_is_accepted_whole(db: Database) -> None:
    """Batches of 16 rows, each next one asked for before this one is checked (on PostgreSQL, a
    statement in flight on the worker's one connection): the range is accepted as one."""
    start, end = _ranges()[1]
    result = await check_range(_apart(db), start, end, size=16)
    async with db.read() as conn:
        rows = await ledger_store.bulk_rows(conn, start, end)
    assert result.accepted == end - start
    assert result.first_prev == rows[0][rowcheck.PREV]
    assert result.last_hash == rows[-1][1]
    assert result.levels[-1] == MerkleTree(bytes.fromhex(r[1]) for r in rows).root()


async def test_a_worker_stopped_early_waits_for_the_batch_read_ahead(db: Database) -> None:
    """A tamper in the range's second batch stops the worker while the third is being read: it
    answers what it accepted, its snapshot closes cleanly, and the log reads on as before."""
    start, end = _ranges()[1]
    tampered = start + 16 + 5
    async with db.write() as conn:
        await conn.execute(
            update(ledger_entries).where(ledger_entries.c.seq == tampered).values(purpose="other")
        )
    result = await check_range(_apart(db), start, end, size=16)
    assert result.accepted == tampered - start - 1
    assert result.levels == [result.levels[0]] and len(result.levels[0]) == 32 * result.accepted
    await _assert_same_answer(db)
