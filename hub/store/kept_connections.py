"""PostgreSQL jobs on connections kept checked out between jobs.

A hot read (the token before every API call, a share's case, a listing page) is one round trip,
about 30 µs of the hub's CPU on asyncpg. Checking a connection out of SQLAlchemy's pool and back in
around it, with the transaction's begin and end, cost about 100 µs more: three times the read
(bench/README.md, eighth session). A share batch's write job paid the same once a batch, which at
a steady few hundred shares a second is once or twice a share. So jobs take a connection from a
short list of idle ones and put it back when they finish; the pool is visited only when the list is
empty, or to return a connection the list has no room for.

A job runs as ``async with engine.connect() as conn, conn.begin()`` ran it: a write job inside
that transaction; a read job without the begin, committing at the end whatever transaction a
statement began (SQLAlchemy's, or one begun on the driver by ``hub.store.hot``), so that nothing is
left open on a kept connection. A connection goes back on the list only after a job that finished
cleanly. After any exception (a refused token, a lost connection, a cancelled request) it is closed
instead, back through the pool, which rolls it back or drops it as before: a broken connection is
never handed out again, and an error is raised exactly as it was (a lost server is an outage, 503).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.hot import drop_if_lost, pooled
from hub.store.sqlite_jobs import Job

T = TypeVar("T")

# Idle connections kept per process: enough for the jobs in flight at once under load (a read is
# one round trip), few enough to leave most of the pool (32) to other work.
KEEP_IDLE = 6


class KeptConnections:
    """Jobs on connections reused from job to job (see the module's note)."""

    def __init__(self, engine: AsyncEngine, keep: int = KEEP_IDLE) -> None:
        self._engine = engine
        self._keep = keep
        self._idle: list[AsyncConnection] = []
        self._closed = False

    @property
    def idle(self) -> int:
        """Connections waiting for the next job (for tests and the curious)."""
        return len(self._idle)

    async def read(self, job: Job[T]) -> T:
        """``job(conn)``; a transaction a statement began is committed when it ends."""
        conn = await self._take()
        try:
            result = await job(conn)
            await _end_transaction(conn)
        except BaseException:
            await self._give_up(conn)
            raise
        await self._put_back(conn)
        return result

    async def write(self, job: Job[T]) -> T:
        """``job(conn)`` in one transaction, committed when it ends (rolled back if it raises)."""
        conn = await self._take()
        try:
            async with conn.begin():
                result = await job(conn)
        except BaseException:
            await self._give_up(conn)
            raise
        await self._put_back(conn)
        return result

    async def _take(self) -> AsyncConnection:
        """A kept connection whose session is still open, else one from the pool. asyncpg marks
        a connection closed when the server ends its session (a restart sends every idle session
        a notice, then closes it): such a one is dropped here, not handed to a job. The pool
        itself replaces every connection older than a disconnect it has seen, but a kept
        connection is never checked out again, so it is checked here instead."""
        while self._idle:
            conn = self._idle.pop()
            driver: Any = (await pooled(conn)).driver_connection
            if driver is not None and not driver.is_closed():
                return conn
            await conn.invalidate()
            await conn.close()
        return await self._engine.connect()

    async def _put_back(self, conn: AsyncConnection) -> None:
        if self._closed or len(self._idle) >= self._keep:
            await conn.close()
        else:
            self._idle.append(conn)

    async def _give_up(self, conn: AsyncConnection) -> None:
        """After a job raised: the connection to the pool, rolled back there, or dropped if a
        statement on the driver found its session ended (SQLAlchemy's own statements mark that
        themselves). A server gone for one connection is gone for those kept beside it."""
        await drop_if_lost(conn)
        if conn.invalidated:
            await self._drop_idle()
        await conn.close()

    async def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        """Return every idle connection to the pool; later jobs return theirs as they end."""
        self._closed = True
        await self._drop_idle()


async def _end_transaction(conn: AsyncConnection) -> None:
    """Commit what a read job left open, as leaving ``conn.begin()`` would have: SQLAlchemy's
    transaction, or one ``hub.store.hot`` began on the driver itself, which SQLAlchemy does not
    know of until asked to begin (asyncpg's adapter then joins it, and commits it with its own)."""
    if not conn.in_transaction():
        adapter: Any = (await pooled(conn)).dbapi_connection
        if getattr(adapter, "_transaction", None) is None:
            return
        await conn.begin()
    await conn.commit()
