"""Each API token's request bucket, in a table every gateway shares.

One statement per request: an upsert that refills the bucket for the time gone by (on the
database's clock), takes one request from it if it holds one, and says whether it did.
On PostgreSQL the table is UNLOGGED (migration 0024): the statement writes no WAL, so its commit
waits for no disk. On SQLite the rows live in a side file beside the database, written without
fsync, shared by the processes of one box (``serve --workers N``) and never contending with the
group commit of the packets.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import pooled
from hub.store.sqlite_jobs import sqlite_busy

# The one statement, per dialect, written out once: built per request it cost more than the
# request's own work (SQLAlchemy's expression building and compiling, about 0.9 ms). "refilled"
# is the bucket after the time gone by (on the database's clock), at most ``burst``; a request is
# let through if it holds one. Inside DO UPDATE the column names are the row as it was.
_REFILLED = {
    # Typed: asyncpg's prepared statement would otherwise take :burst for an integer.
    "postgresql": (
        "LEAST(CAST(:burst AS double precision), api_rate_limits.level + GREATEST(0, "
        "extract(epoch from clock_timestamp()) - api_rate_limits.updated) "
        "* CAST(:rate AS double precision))"
    ),
    "sqlite": (
        "min(:burst, level + max(0, (julianday('now') - 2440587.5) * 86400.0 - updated) * :rate)"
    ),
}
_NOW = {
    "postgresql": "extract(epoch from clock_timestamp())",
    "sqlite": "(julianday('now') - 2440587.5) * 86400.0",
}
_LARGER = {"postgresql": "GREATEST", "sqlite": "max"}


def _statement(dialect: str, rows: str | None = None) -> str:
    """The take, of the row ``rows`` gives (by default the token ``:token_id``'s, in a VALUES)."""
    refilled, now, larger = _REFILLED[dialect], _NOW[dialect], _LARGER[dialect]
    updated = "api_rate_limits.updated" if dialect == "postgresql" else "updated"
    if rows is None:
        rows = f"VALUES (:token_id, CAST(:burst AS double precision) - 1, {now}, TRUE)"
    return " ".join(
        [
            "INSERT INTO api_rate_limits (token_id, level, updated, granted)",
            rows,
            "ON CONFLICT (token_id) DO UPDATE SET level = CASE WHEN", refilled,
            ">= 1 THEN", refilled, "- 1 ELSE", refilled, "END, granted =", refilled,
            ">= 1, updated =", larger, "(", updated, ",", now, ") RETURNING granted, level",
        ]
    )  # fmt: skip


_TAKE = {dialect: _statement(dialect) for dialect in _REFILLED}
# asyncpg's numbered parameters: $1 token, $2 burst, $3 rate.
_TAKE_ASYNCPG = (
    _TAKE["postgresql"].replace(":token_id", "$1").replace(":burst", "$2").replace(":rate", "$3")
)


@dataclass(frozen=True)
class Bucket:
    """Every token's bucket: ``burst`` requests, refilled at ``rate`` a second."""

    rate: float
    burst: int


def caller_taking(caller_sql: str, given: int, also_sql: str | None = None) -> str:
    """PostgreSQL: ``caller_sql``, asyncpg's statement for a token's row (placeholders $1 to
    ``$given``; its table ``api_tokens``' columns among its own), and the take of one request
    from that token's bucket, as one statement: a round trip fewer on every API call.

    The take happens only where the row's ``secret_hash`` equals the next parameter; the two
    after it are the bucket's burst and rate. So a wrong secret takes nothing, and guesses
    cannot use up a token's rate; the caller still compares the secret in constant time before it
    trusts the row. (The database's own comparison of two SHA-256 digests can tell by its timing
    at most how much of the stored digest a guess's digest matches: nothing of the secret.)
    Rows: the caller's columns, then ``granted`` and ``level`` (NULL where nothing was taken).

    ``also_sql``: a read the request makes next (a share's case), its placeholders after those
    three, joined only where the take happened, so that it is read for the token's own secret
    alone; its columns come last (all NULL where it found nothing or was not read)."""
    digest, burst, rate = f"${given + 1}", f"${given + 2}", f"${given + 3}"
    # Placeholders and constant SQL only: no value goes into the text.
    rows = (
        f"SELECT caller.id, CAST({burst} AS double precision) - 1, {_NOW['postgresql']}, TRUE "  # noqa: S608
        f"FROM caller WHERE caller.secret_hash = {digest}"
    )
    take = _statement("postgresql", rows).replace(":burst", burst).replace(":rate", rate)
    if also_sql is None:
        return (
            f"WITH caller AS ({caller_sql}), taken AS ({take}) "  # noqa: S608
            "SELECT caller.*, taken.granted, taken.level FROM caller LEFT JOIN taken ON TRUE"
        )
    return (
        f"WITH caller AS ({caller_sql}), taken AS ({take}), also AS ({also_sql}) "  # noqa: S608
        "SELECT caller.*, taken.granted, taken.level, also.* FROM caller LEFT JOIN taken ON TRUE "
        "LEFT JOIN also ON taken.granted IS NOT NULL"
    )


def wait(granted: object, level: float, rate: float) -> float:
    """0.0 if the request may go, else the seconds until the bucket holds one request."""
    return 0.0 if granted else max(0.0, (1.0 - level) / rate)


async def take(conn: AsyncConnection, token_id: int, rate: float, burst: int) -> float:
    """Take one request from ``token_id``'s bucket (PostgreSQL): 0.0, or seconds to wait.

    On asyncpg itself, outside any transaction (so committed as it runs), as a statement asyncpg
    keeps prepared: one round trip, without SQLAlchemy's execution around it."""
    driver: Any = (await pooled(conn)).driver_connection
    row = await driver.fetchrow(_TAKE_ASYNCPG, token_id, float(burst), rate)
    return wait(row[0], float(row[1]), rate)


_SIDE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_rate_limits (token_id INTEGER PRIMARY KEY, "
    "level FLOAT NOT NULL, updated FLOAT NOT NULL, granted BOOLEAN NOT NULL)"
)


def _prepare_side(conn: sqlite3.Connection) -> None:
    # Nothing here is worth an fsync: a crash only forgets how full the buckets were.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(_SIDE_SCHEMA)


def _take_on(conn: sqlite3.Connection, token_id: int, rate: float, burst: int) -> float:
    params = {"token_id": token_id, "rate": rate, "burst": float(burst)}
    row = conn.execute(_TAKE["sqlite"], params).fetchone()
    return wait(row[0], float(row[1]), rate)


class SideFile:
    """The buckets of a SQLite hub, in ``<database>.limits``.

    The statement runs on the event loop's own thread, on a connection that never waits: it
    writes to the WAL without an fsync, a few microseconds, less than a trip to a thread and
    back. When another process holds the file's write lock at that moment it is refused at once,
    and runs instead on this object's thread, on a connection that waits for the lock."""

    def __init__(self, path: Path | None) -> None:
        self._path = str(path) if path is not None else ":memory:"
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rate-limits")
        self._conn: sqlite3.Connection | None = None  # on the event loop's thread; no waiting
        self._waiting: sqlite3.Connection | None = None  # on ``_thread``; waits up to 5 s

    def _take_waiting(self, token_id: int, rate: float, burst: int) -> float:
        if self._waiting is None:
            conn = sqlite3.connect(
                self._path, timeout=5, isolation_level=None, check_same_thread=False
            )
            _prepare_side(conn)
            self._waiting = conn
        return _take_on(self._waiting, token_id, rate, burst)

    async def take(self, token_id: int, rate: float, burst: int) -> float:
        if self._path == ":memory:":  # one database per connection: keep to the one thread
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._thread, self._take_waiting, token_id, rate, burst
            )
        try:
            if self._conn is None:
                conn = sqlite3.connect(
                    self._path, timeout=0, isolation_level=None, check_same_thread=False
                )
                try:
                    _prepare_side(conn)
                except sqlite3.Error:
                    conn.close()
                    raise
                self._conn = conn
            return _take_on(self._conn, token_id, rate, burst)
        except sqlite3.OperationalError as exc:
            if not sqlite_busy(exc):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._take_waiting, token_id, rate, burst)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

        def shut() -> None:
            if self._waiting is not None:
                self._waiting.close()
                self._waiting = None

        self._thread.submit(shut).result()
        self._thread.shutdown(wait=True)
