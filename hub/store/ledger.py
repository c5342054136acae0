"""Ledger rows. Appending locks the head row, so the sequence stays gapless under concurrency."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotRead, pooled
from hub.store.hot_batch import HotInserts
from hub.store.hot_writes import HotInsert, HotWrite
from hub.store.ledger_rows import POSTGRES_ROWS, SQLITE_ROWS, Row
from hub.store.schema import ledger_entries, ledger_head

# Built once: appending is on every share's and every read's path.
_HEAD = select(ledger_head.c.seq, ledger_head.c.entry_hash).where(ledger_head.c.id == 1)
# On SQLite every share's batch reads the head, appends and moves the head: on the writer's own
# connection (hub.store.hot), which already holds the database lock, so a plain read is enough.
# PostgreSQL locks and reads the head in the statement that appends (hub.store.ledger_chain), and
# here only where that cannot run (an SQLAlchemy without what it needs of the asyncpg adapter).
_LOCKED_HEAD = {"sqlite": HotRead(_HEAD), "postgresql": HotRead(_HEAD.with_for_update())}
# The entries and the head's move: on PostgreSQL one statement (``HotInserts``).
_APPEND = HotInserts(
    HotInsert(ledger_entries),
    then=HotWrite(
        update(ledger_head)
        .where(ledger_head.c.id == 1)
        .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"))
    ),
)


async def lock_head(conn: AsyncConnection) -> tuple[int, str]:
    """Return (seq, hash) of the newest entry, locking the head until the transaction ends."""
    ((seq, entry_hash),) = await _LOCKED_HEAD[conn.dialect.name].all_in_transaction(conn, {})
    return int(seq), str(entry_hash)


async def append_many(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert chained entries (in sequence order) and move the head to the last one."""
    last = rows[-1]
    await _APPEND.run(conn, [rows], {"new_seq": last["seq"], "new_hash": last["entry_hash"]})


async def head(conn: AsyncConnection) -> tuple[int, str]:
    stmt = select(ledger_head.c.seq, ledger_head.c.entry_hash).where(ledger_head.c.id == 1)
    seq, entry_hash = (await conn.execute(stmt)).one()
    return int(seq), str(entry_hash)


async def stream_entries(conn: AsyncConnection, batch: int = 5000) -> AsyncIterator[RowMapping]:
    """Every entry in sequence order, read in batches to bound memory."""
    after = 0
    while rows := await entries_after(conn, after, batch):
        for row in rows:
            yield row
        after = int(rows[-1]["seq"])


class UnreadableEntry(Exception):
    """A row among those asked for holds values that cannot be read as an entry's columns: on
    SQLite, where a column keeps whatever it is given, text that is not UTF-8, or a time that is a
    BLOB or text in no time's form. Raised without the driver's error, which quotes the value."""


def _unreadable(conn: AsyncConnection, exc: Exception) -> bool:
    """Whether reading SQLite's rows failed on a stored value rather than on the database."""
    if conn.dialect.name != "sqlite":
        return False  # PostgreSQL's columns hold only their own types, and text only in UTF-8
    if isinstance(exc, DBAPIError):
        exc = exc.orig if isinstance(exc.orig, Exception) else exc
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc).startswith("Could not decode to UTF-8")
    # SQLAlchemy's reading of a time: a BLOB (TypeError) or text in no time's form (ValueError).
    return isinstance(exc, TypeError | ValueError)


async def entries_after(conn: AsyncConnection, after: int, limit: int) -> Sequence[RowMapping]:
    """The next ``limit`` entries after ``after``, in sequence order, as typed mappings. Raises
    ``UnreadableEntry`` if any of them cannot be read."""
    stmt = (
        select(ledger_entries)
        .where(ledger_entries.c.seq > after)
        .order_by(ledger_entries.c.seq)
        .limit(limit)
    )
    try:
        return (await conn.execute(stmt)).mappings().all()
    except (DBAPIError, sqlite3.OperationalError, TypeError, ValueError) as exc:
        if _unreadable(conn, exc):
            raise UnreadableEntry from None
        raise


async def next_seq(conn: AsyncConnection, after: int) -> int | None:
    """The sequence number of the first row after ``after`` (a number, readable whatever the
    row's other values hold), or None if there is none."""
    stmt = select(func.min(ledger_entries.c.seq)).where(ledger_entries.c.seq > after)
    found = (await conn.execute(stmt)).scalar()
    return None if found is None else int(found)


async def bulk_rows(conn: AsyncConnection, after: int, upto: int) -> Sequence[Row]:
    """Entries (after, upto] in the caller's snapshot, as ``hub.store.ledger_rows`` renders them,
    read through the driver: SQLAlchemy's per-row processing would cost more than the check.
    Raises ``UnreadableEntry`` if any of them cannot be read."""
    driver = await driver_connection(conn)
    if conn.dialect.name == "sqlite":
        cursor = await driver.execute(SQLITE_ROWS, (after, upto))
        try:
            rows: list[Row] = await cursor.fetchall()
        except sqlite3.OperationalError as exc:
            if _unreadable(conn, exc):
                raise UnreadableEntry from None
            raise
        finally:
            await cursor.close()
        return rows
    records: list[Row] = await driver.fetch(POSTGRES_ROWS, after, upto)
    return records


async def driver_connection(conn: AsyncConnection) -> Any:
    """The driver's own connection (aiosqlite or asyncpg) under ``conn``, in its transaction."""
    driver = (await pooled(conn)).driver_connection
    if driver is None:
        raise RuntimeError("the connection has been closed")
    return driver


async def entries_for_packet(conn: AsyncConnection, packet_id: str) -> list[RowMapping]:
    stmt = (
        select(ledger_entries)
        .where(ledger_entries.c.packet_id == packet_id)
        .order_by(ledger_entries.c.seq)
    )
    return list((await conn.execute(stmt)).mappings().all())
