"""Ledger rows through the raw driver, for checking the log in bulk (``hub.ledger.rowcheck``).

Imports no SQLAlchemy, so that a worker process (``hub.services.ledger_chunks``) starts in tens of
milliseconds. A row by its columns is (seq, entry_hash, entry, then ``rowcheck.COLUMNS``): each
column as the driver returns it, which keeps storage classes apart (a SQLite BLOB is bytes, never
text), except recorded_at, rendered as the entry writes it. A BLOB there would render as text, so
those rows are left out: the bulk check then sees a gap and leaves the rest to the exact check.

On SQLite a worker reads through apsw and first reads rows whose entries SQLite itself compared
with their columns (``hub.store.ledger_rows_sqlite``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any, Protocol

Row = Sequence[Any]

# Both dialects select the same columns; only the time's rendering differs.
SQLITE_ROWS = """
SELECT seq, entry_hash, entry, action, actor_agency_id, actor_token_id, actor_user_id,
       replace(recorded_at, ' ', 'T'), case_id, channel, content_digest, decision, event,
       lawful_basis, packet_id, policy_version, prev_hash, purpose, recipients, recipient_address
FROM ledger_entries
WHERE seq > ? AND seq <= ? AND recorded_at < x''
ORDER BY ledger_entries.seq
"""

POSTGRES_ROWS = """
SELECT seq, entry_hash, entry, action, actor_agency_id, actor_token_id, actor_user_id,
       to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), case_id, channel,
       content_digest, decision, event, lawful_basis,
       packet_id, policy_version, prev_hash, purpose, recipients, recipient_address
FROM ledger_entries
WHERE seq > $1 AND seq <= $2
ORDER BY ledger_entries.seq
"""


class Rows(Protocol):
    """One read-only snapshot of the log, for as long as it is open."""

    # True if ``rows`` answers in ``rowcheck.accept_compared``'s shape, False if in ``accept``'s.
    compares: bool

    async def rows(self, after: int, upto: int) -> Iterable[Row]: ...

    async def columns(self, after: int, upto: int) -> Iterable[Row]:
        """Rows (after, upto] in ``rowcheck.accept``'s shape."""
        ...

    async def close(self) -> None: ...


async def batches(
    reader: Rows, after: int, upto: int, size: int
) -> AsyncGenerator[Iterable[Row], None]:
    """Rows (after, upto] in ``seq`` order, ``size`` sequence numbers a batch.

    Each next batch is asked for before the one yielded is checked, so that PostgreSQL's backend
    reads it while the worker's CPU checks this one (on 500,000 rows, 3.15 s became 2.5 s
    for one worker). On SQLite, a batch is a cursor that reads as it is iterated: asking early
    changes nothing. Stopping early waits for the batch in flight, so that the snapshot can be
    closed on a connection with nothing running.
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Task[Iterable[Row]] | None = None
    try:
        start = after
        while start < upto:
            end = min(start + size, upto)
            rows = await (pending or reader.rows(start, end))
            pending = None
            if end < upto:  # one statement at a time on a connection: asked once this one is in
                pending = loop.create_task(reader.rows(end, min(end + size, upto)))
                await asyncio.sleep(0)  # the task sends its statement now
            yield rows
            start = end
    finally:
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)


class _PostgresRows:
    compares = False

    def __init__(self, conn: Any, transaction: Any) -> None:
        self._conn = conn
        self._transaction = transaction

    async def rows(self, after: int, upto: int) -> Iterable[Row]:
        rows: list[Row] = await self._conn.fetch(POSTGRES_ROWS, after, upto)
        return rows

    async def columns(self, after: int, upto: int) -> Iterable[Row]:
        return await self.rows(after, upto)

    async def close(self) -> None:
        await self._transaction.rollback()
        await self._conn.close()


async def open_rows(url: str) -> Rows:
    """A snapshot of the log in the database the hub's SQLAlchemy ``url`` names."""
    if url.startswith("sqlite"):
        from hub.store.ledger_rows_sqlite import open_sqlite_rows

        return open_sqlite_rows(url.split(":///", 1)[1])
    import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL workers import it

    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    transaction = conn.transaction(isolation="repeatable_read", readonly=True)
    await transaction.start()
    # A range of the primary key read in its order: an index scan, whatever the statistics say.
    # A log without them (restored from a dump, or just loaded) was read by a bitmap heap scan
    # and a sort, twice the server's time.
    await conn.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
    return _PostgresRows(conn, transaction)
