"""PostgreSQL read jobs on connections kept checked out between jobs.

A hot read (the token before every API call, a share's case, a listing page) is one round trip,
about 30 µs of the hub's CPU on asyncpg. Checking a connection out of SQLAlchemy's pool and back in
around it, with the transaction's begin and end, cost about 100 µs more: three times the read
(bench/README.md, eighth session). So read jobs take a connection from a short list of idle ones
and put it back when they finish; the pool is visited only when the list is empty, or to return a
connection the list has no room for.

A connection goes back on the list only after a job that finished cleanly, its transaction (if a
statement through SQLAlchemy began one) committed as ``conn.begin()`` would have. After any
exception (a refused token, a lost connection, a cancelled request) it is closed instead, back
through the pool, which rolls it back or drops it as it did before: a broken connection is never
handed out again, and an error is raised exactly as it was (a lost server is an outage, 503).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.hot import drop_if_lost
from hub.store.sqlite_jobs import Job

T = TypeVar("T")

# Idle connections kept per process: enough for the reads in flight at once under load (a read
# is one round trip), few enough to leave most of the pool (32) to writes and other work.
KEEP_IDLE = 6


class KeptReaders:
    """Read jobs on connections reused from job to job (see the module's note)."""

    def __init__(self, engine: AsyncEngine, keep: int = KEEP_IDLE) -> None:
        self._engine = engine
        self._keep = keep
        self._idle: list[AsyncConnection] = []
        self._closed = False

    @property
    def idle(self) -> int:
        """Connections waiting for the next job (for tests and the curious)."""
        return len(self._idle)

    async def run(self, job: Job[T]) -> T:
        """``job(conn)`` as ``async with engine.connect() as conn, conn.begin()`` would run it."""
        conn = await self._take()
        try:
            result = await job(conn)
            if conn.in_transaction():
                await conn.commit()
        except BaseException:
            # To the pool: rolled back there, or dropped if a statement on the driver found the
            # session ended (SQLAlchemy's own statements mark that themselves).
            await drop_if_lost(conn)
            if conn.invalidated:  # the server went away: those kept are likely gone too
                await self._drop_idle()
            await conn.close()
            raise
        if self._closed or len(self._idle) >= self._keep:
            await conn.close()
        else:
            self._idle.append(conn)
        return result

    async def _take(self) -> AsyncConnection:
        """A kept connection whose session is still open, else one from the pool. asyncpg marks
        a connection closed when the server ends its session (a restart sends every idle session
        a notice, then closes it): such a one is dropped here, not handed to a job. The pool
        itself replaces every connection older than a disconnect it has seen, but a kept
        connection is never checked out again, so it is checked here instead."""
        while self._idle:
            conn = self._idle.pop()
            driver: Any = (await conn.get_raw_connection()).driver_connection
            if driver is not None and not driver.is_closed():
                return conn
            await conn.invalidate()
            await conn.close()
        return await self._engine.connect()

    async def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        """Return every idle connection to the pool; later jobs return theirs as they end."""
        self._closed = True
        await self._drop_idle()
