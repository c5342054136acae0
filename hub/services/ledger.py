"""Appending to and verifying the log. Callers append inside their own write transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.ledger.entries import Entry, Record, chain, verify_rows
from hub.store import ledger as ledger_store
from hub.store.database import Database


async def append(conn: AsyncConnection, record: Record) -> Entry:
    """Chain ``record`` after the newest entry, in the caller's transaction."""
    seq, prev = await ledger_store.lock_head(conn)
    entry = chain(seq + 1, prev, record)
    await ledger_store.append(conn, entry.columns())
    return entry


async def verify(db: Database) -> int:
    """Recompute the whole chain; return the number of entries. Raises ``LedgerBroken``."""
    async with db.read() as conn:
        head_seq, head_hash = await ledger_store.head(conn)
        rows = [row async for row in ledger_store.stream_entries(conn)]
    return verify_rows(rows, head_seq, head_hash)
