"""Ledger rows through the raw driver, for checking the log in bulk (``hub.ledger.rowcheck``).

Imports no SQLAlchemy, so that a worker process (``hub.services.ledger_chunks``) starts in tens of
milliseconds. A row by its columns is (seq, entry_hash, entry, then ``rowcheck.COLUMNS``): each
column as the driver returns it, which keeps storage classes apart (a SQLite BLOB is bytes, never
text), except recorded_at, rendered as the entry writes it. A BLOB there would render as text, so
those rows are left out: the bulk check then sees a gap and leaves the rest to the exact check.

On SQLite a worker first reads rows whose entries SQLite itself compared with their columns
(``SQLITE_COMPARED``, for ``rowcheck.accept_compared``): turning twenty columns into Python objects
was half a worker's time (2.7 µs a row; 0.8 µs for three columns).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from typing import Any, Protocol
from urllib.parse import quote

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

# The entry rendered from the columns by SQLite and compared with the stored bytes, for
# ``rowcheck.accept_compared``: the keys of entry v4 (or v3, which lacks channel and to, so a v3 row
# that holds either is not compared), in the entry's order. An older version, or a value that
# json_object cannot hold (a BLOB: the statement stops there), is left to the check by columns.
SQLITE_COMPARED = """
SELECT seq, entry_hash, entry, replace(recorded_at, ' ', 'T'), prev_hash, recipients,
  CASE substr(entry, -7)
  WHEN CAST(',"v":4}' AS BLOB) THEN json_object(
    'action', action, 'actor_agency', actor_agency_id, 'actor_token', actor_token_id,
    'actor_user', actor_user_id, 'at', replace(recorded_at, ' ', 'T') || 'Z', 'case', case_id,
    'channel', channel, 'content_digest', content_digest, 'decision', decision, 'event', event,
    'lawful_basis', lawful_basis, 'packet', packet_id, 'policy_version', policy_version,
    'prev', prev_hash, 'purpose', purpose, 'recipients', json('[' || recipients || ']'),
    'seq', seq, 'to', recipient_address, 'v', 4)
  WHEN CAST(',"v":3}' AS BLOB) THEN CASE WHEN channel IS NULL AND recipient_address IS NULL
    THEN json_object(
    'action', action, 'actor_agency', actor_agency_id, 'actor_token', actor_token_id,
    'actor_user', actor_user_id, 'at', replace(recorded_at, ' ', 'T') || 'Z', 'case', case_id,
    'content_digest', content_digest, 'decision', decision, 'event', event,
    'lawful_basis', lawful_basis, 'packet', packet_id, 'policy_version', policy_version,
    'prev', prev_hash, 'purpose', purpose, 'recipients', json('[' || recipients || ']'),
    'seq', seq, 'v', 3) END
  END = CAST(entry AS TEXT)
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


class SqliteRows:
    """The log on a connection in autocommit mode, which this snapshot then owns."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT json_object('v', json('[1]'))")
            self.compares = True
        except sqlite3.OperationalError:  # a SQLite built without its JSON functions
            self.compares = False

    async def rows(self, after: int, upto: int) -> Iterable[Row]:
        if not self.compares:
            return await self.columns(after, upto)
        try:  # execute steps to the first row, which json_object may refuse
            cursor = self._conn.execute(SQLITE_COMPARED, (after, upto))
        except sqlite3.OperationalError:
            return ()
        return _until_refused(cursor)

    async def columns(self, after: int, upto: int) -> Iterable[Row]:
        # A cursor, iterated as it is checked: cheaper than a list of every row.
        return self._conn.execute(SQLITE_ROWS, (after, upto))

    async def close(self) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


def _until_refused(cursor: sqlite3.Cursor) -> Iterator[Row]:
    """The cursor's rows up to one whose values json_object or json() refuses (a BLOB, a list of
    recipients that does not parse): that row and the rest are left to the check by columns."""
    try:
        # Not ``yield from``: a generator dropped unfinished would close the cursor, and the
        # connection may be closed by then.
        for row in cursor:  # noqa: UP028
            yield row
    except sqlite3.OperationalError:
        return


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
        path = url.split(":///", 1)[1]
        # mode=rw: never create an empty database where the hub's should be.
        return SqliteRows(
            sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, isolation_level=None)
        )
    import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL workers import it

    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    transaction = conn.transaction(isolation="repeatable_read", readonly=True)
    await transaction.start()
    # A range of the primary key read in its order: an index scan, whatever the statistics say.
    # A log without them (restored from a dump, or just loaded) was read by a bitmap heap scan
    # and a sort, twice the server's time.
    await conn.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
    return _PostgresRows(conn, transaction)
