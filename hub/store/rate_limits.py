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
from pathlib import Path

from sqlalchemy import ColumnElement, case, func, true
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from hub.store.leases import db_now, upsert
from hub.store.schema import api_rate_limits as buckets


def _take_one(dialect: str, token_id: int, rate: float, burst: int) -> Insert:
    """The upsert that refills ``token_id``'s bucket and takes a request from it if it can."""
    smaller = func.least if dialect == "postgresql" else func.min
    larger = func.greatest if dialect == "postgresql" else func.max
    now = db_now(dialect)
    statement = upsert(dialect)(buckets).values(
        token_id=token_id, level=burst - 1.0, updated=now, granted=true()
    )
    refilled: ColumnElement[float] = smaller(
        float(burst), buckets.c.level + larger(0.0, now - buckets.c.updated) * rate
    )
    enough = refilled >= 1.0
    taking: Insert = statement.on_conflict_do_update(
        index_elements=["token_id"],
        set_={
            "level": case((enough, refilled - 1.0), else_=refilled),
            "granted": enough,
            "updated": larger(buckets.c.updated, now),
        },
    ).returning(buckets.c.granted, buckets.c.level)
    return taking


def _wait(granted: object, level: float, rate: float) -> float:
    """0.0 if the request may go, else the seconds until the bucket holds one request."""
    return 0.0 if granted else max(0.0, (1.0 - level) / rate)


async def take(conn: AsyncConnection, token_id: int, rate: float, burst: int) -> float:
    """Take one request from ``token_id``'s bucket (PostgreSQL): 0.0, or seconds to wait."""
    statement = _take_one(conn.dialect.name, token_id, rate, burst)
    row = (await conn.execute(statement)).one()
    return _wait(row[0], float(row[1]), rate)


_SQLITE = sqlite_dialect()
_SIDE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_rate_limits (token_id INTEGER PRIMARY KEY, "
    "level FLOAT NOT NULL, updated FLOAT NOT NULL, granted BOOLEAN NOT NULL)"
)


class SideFile:
    """The buckets of a SQLite hub, in ``<database>.limits``: one connection on one thread."""

    def __init__(self, path: Path | None) -> None:
        self._path = str(path) if path is not None else ":memory:"
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rate-limits")
        self._conn: sqlite3.Connection | None = None

    def _take(self, token_id: int, rate: float, burst: int) -> float:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=5, isolation_level=None)
            # Nothing here is worth an fsync: a crash only forgets how full the buckets were.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(_SIDE_SCHEMA)
            self._conn = conn
        compiled = _take_one("sqlite", token_id, rate, burst).compile(dialect=_SQLITE)
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        row = self._conn.execute(str(compiled), params).fetchone()
        return _wait(row[0], float(row[1]), rate)

    async def take(self, token_id: int, rate: float, burst: int) -> float:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._take, token_id, rate, burst)

    def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._thread.submit(shut).result()
        self._thread.shutdown(wait=True)
