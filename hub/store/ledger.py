"""Ledger rows. Appending locks the head row, so the sequence stays gapless under concurrency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import ledger_entries, ledger_head

# Built once: appending is on every share's and every read's path.
_HEAD = select(ledger_head.c.seq, ledger_head.c.entry_hash).where(ledger_head.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT_ENTRY = insert(ledger_entries)
_MOVE_HEAD = (
    update(ledger_head)
    .where(ledger_head.c.id == 1)
    .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"))
)


async def lock_head(conn: AsyncConnection) -> tuple[int, str]:
    """Return (seq, hash) of the newest entry, locking the head until the transaction ends."""
    # SQLite writers already hold the database lock.
    stmt = _HEAD if conn.dialect.name == "sqlite" else _HEAD_FOR_UPDATE
    seq, entry_hash = (await conn.execute(stmt)).one()
    return int(seq), str(entry_hash)


async def append(conn: AsyncConnection, columns: Mapping[str, Any]) -> None:
    await conn.execute(_INSERT_ENTRY, dict(columns))
    await conn.execute(_MOVE_HEAD, {"new_seq": columns["seq"], "new_hash": columns["entry_hash"]})


async def head(conn: AsyncConnection) -> tuple[int, str]:
    stmt = select(ledger_head.c.seq, ledger_head.c.entry_hash).where(ledger_head.c.id == 1)
    seq, entry_hash = (await conn.execute(stmt)).one()
    return int(seq), str(entry_hash)


async def stream_entries(conn: AsyncConnection, batch: int = 5000) -> AsyncIterator[RowMapping]:
    """Every entry in sequence order, read in batches to bound memory."""
    after = 0
    while True:
        stmt = (
            select(ledger_entries)
            .where(ledger_entries.c.seq > after)
            .order_by(ledger_entries.c.seq)
            .limit(batch)
        )
        rows = (await conn.execute(stmt)).mappings().all()
        if not rows:
            return
        for row in rows:
            yield row
        after = int(rows[-1]["seq"])


async def entries_for_packet(conn: AsyncConnection, packet_id: str) -> list[RowMapping]:
    stmt = (
        select(ledger_entries)
        .where(ledger_entries.c.packet_id == packet_id)
        .order_by(ledger_entries.c.seq)
    )
    return list((await conn.execute(stmt)).mappings().all())
