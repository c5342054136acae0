"""Ledger rows. Appending locks the head row, so the sequence stays gapless under concurrency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotRead, pooled
from hub.store.hot_writes import HotInsert, HotInserts, HotWrite
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


async def entries_after(conn: AsyncConnection, after: int, limit: int) -> Sequence[RowMapping]:
    """The next ``limit`` entries after ``after``, in sequence order, as typed mappings."""
    stmt = (
        select(ledger_entries)
        .where(ledger_entries.c.seq > after)
        .order_by(ledger_entries.c.seq)
        .limit(limit)
    )
    return (await conn.execute(stmt)).mappings().all()


async def bulk_rows(conn: AsyncConnection, after: int, upto: int) -> Sequence[Row]:
    """Entries (after, upto] in the caller's snapshot, as ``hub.store.ledger_rows`` renders them,
    read through the driver: SQLAlchemy's per-row processing would cost more than the check."""
    driver = await driver_connection(conn)
    if conn.dialect.name == "sqlite":
        cursor = await driver.execute(SQLITE_ROWS, (after, upto))
        try:
            rows: list[Row] = await cursor.fetchall()
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
