"""The log's rows read from SQLite by a verification worker, through apsw.

A worker (``hub.services.ledger_chunks``) first reads rows whose entries SQLite itself compared
with their columns (``SQLITE_COMPARED``, for ``rowcheck.accept_compared``): turning twenty columns
into Python objects was half a worker's time (2.7 µs a row; 0.8 µs for three columns).

It reads through apsw, whose SQLite is its own and current, rather than the standard library's
``sqlite3`` on the system's SQLite (3.40 on Debian 12): the same statement over 524,288 rows took
1.2 s of a worker's CPU rather than 1.9 s (SQLite's JSON functions were rewritten in 3.45, and
apsw's rows cost less to read). Two copies of SQLite in one process must never open the same file:
POSIX locks belong to the process, so closing one copy's descriptor drops the other's locks. So
only a worker process, which opens nothing else, opens the hub's database with apsw; the hub's own
processes never import this module (``hub.store.ledger_rows.open_rows`` imports it in the worker).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apsw

from hub.ledger import rowcheck
from hub.store.ledger_rows import SQLITE_ROWS, Row

# Columns given to json_object, none of which may be a BLOB (the time has its own test below).
# Since SQLite 3.45 the JSON functions read a BLOB as JSONB: a column holding the JSONB of "sent"
# renders as the text "sent" would, where the exact check refuses a BLOB. Such rows are left out as
# a BLOB time is (a BLOB sorts after every NULL, number and text): the bulk check sees a gap and
# leaves the rest to the exact check. 0.12 s over 524,288 rows here.
_ANY_VALUE = (*(c for c in rowcheck.COLUMNS if c != "at"), "seq")
_NO_BLOB = " AND ".join(f"ifnull({column}, '') < x''" for column in _ANY_VALUE)

# The entry rendered from the columns by SQLite and compared with the stored bytes, for
# ``rowcheck.accept_compared``: the keys of entry v4 (or v3, which lacks channel and to, so a v3 row
# that holds either is not compared), in the entry's order. An older version, or a value that
# json_object cannot hold (a list of recipients that does not parse: the statement stops there), is
# left to the check by columns. (_NO_BLOB is built from the constant column names above.)
SQLITE_COMPARED = f"""
SELECT seq, entry_hash, entry, replace(recorded_at, ' ', 'T'), prev_hash, recipients,
  CASE substr(entry, -7)
  WHEN CAST(',"v":4}}' AS BLOB) THEN json_object(
    'action', action, 'actor_agency', actor_agency_id, 'actor_token', actor_token_id,
    'actor_user', actor_user_id, 'at', replace(recorded_at, ' ', 'T') || 'Z', 'case', case_id,
    'channel', channel, 'content_digest', content_digest, 'decision', decision, 'event', event,
    'lawful_basis', lawful_basis, 'packet', packet_id, 'policy_version', policy_version,
    'prev', prev_hash, 'purpose', purpose, 'recipients', json('[' || recipients || ']'),
    'seq', seq, 'to', recipient_address, 'v', 4)
  WHEN CAST(',"v":3}}' AS BLOB) THEN CASE WHEN channel IS NULL AND recipient_address IS NULL
    THEN json_object(
    'action', action, 'actor_agency', actor_agency_id, 'actor_token', actor_token_id,
    'actor_user', actor_user_id, 'at', replace(recorded_at, ' ', 'T') || 'Z', 'case', case_id,
    'content_digest', content_digest, 'decision', decision, 'event', event,
    'lawful_basis', lawful_basis, 'packet', packet_id, 'policy_version', policy_version,
    'prev', prev_hash, 'purpose', purpose, 'recipients', json('[' || recipients || ']'),
    'seq', seq, 'v', 3) END
  END = CAST(entry AS TEXT)
FROM ledger_entries
WHERE seq > ? AND seq <= ? AND recorded_at < x'' AND {_NO_BLOB}
ORDER BY ledger_entries.seq
"""  # noqa: S608


class SqliteRows:
    """The log on an apsw connection with no transaction open, which this snapshot then owns."""

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT json_object('v', json('[1]'))").fetchall()
            self.compares = True
        except apsw.SQLError:  # a SQLite built without its JSON functions
            self.compares = False

    async def rows(self, after: int, upto: int) -> Iterable[Row]:
        if not self.compares:
            return await self.columns(after, upto)
        try:  # execute steps to the first row, which json_object may refuse
            cursor = self._conn.execute(SQLITE_COMPARED, (after, upto))
        except (apsw.SQLError, UnicodeDecodeError):
            return ()
        return _until_refused(cursor)

    async def columns(self, after: int, upto: int) -> Iterable[Row]:
        # A cursor, iterated as it is checked: cheaper than a list of every row.
        try:
            return _until_refused(self._conn.execute(SQLITE_ROWS, (after, upto)))
        except UnicodeDecodeError:
            return ()

    async def close(self) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


def _until_refused(cursor: apsw.Cursor) -> Iterator[Row]:
    """The cursor's rows up to one whose values json_object or json() refuses (a list of
    recipients that does not parse), or that holds text not in UTF-8: that row and the rest are
    left to the check by columns, or by the service's exact check."""
    try:
        # Not ``yield from``: a generator dropped unfinished would close the cursor, and the
        # connection may be closed by then.
        for row in cursor:  # noqa: UP028
            yield row
    except (apsw.SQLError, UnicodeDecodeError):
        return


def open_sqlite_rows(path: str) -> SqliteRows:
    """A snapshot of the log in the SQLite database at ``path``, which must exist: opened for
    reading and writing (a reader of a database in WAL mode may need to create its shared-memory
    file) but never created, and made read-only by ``PRAGMA query_only``."""
    return SqliteRows(apsw.Connection(path, flags=apsw.SQLITE_OPEN_READWRITE))
