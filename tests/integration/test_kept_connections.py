"""PostgreSQL jobs on kept connections (hub.store.kept_connections), on a real server: reused from
job to job, reads and writes, never more kept than the limit, never kept after an error, nothing
left open on them, and a lost server still an outage rather than a fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, make_url, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import NotFound
from hub.store.database import Database
from hub.store.hot import HotRead
from hub.store.hot_writes import HotInsert
from hub.store.kept_connections import KEEP_IDLE
from hub.store.outage import database_unavailable
from tests.conftest import PG_ADMIN_URL, _drop_pg_database, _pg_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    url, name = await _pg_database()
    database = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        yield database
    finally:
        await database.dispose()
        await _drop_pg_database(name)


async def _pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _pid_on_driver(conn: AsyncConnection) -> int:
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return int(await driver.fetchval("SELECT pg_backend_pid()"))


async def _terminate(pid: int) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        # With a timeout it returns once the session is gone, not when it is signalled.
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid) is True
    finally:
        await admin.close()


async def _state(pid: int) -> str:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return str(await admin.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", pid))
    finally:
        await admin.close()


async def test_a_kept_connection_serves_the_next_read_with_no_transaction_left_open(
    db: Database,
) -> None:
    first = await db.run_read(_pid)  # through SQLAlchemy: begins a transaction
    assert db.kept_idle == 1
    # Committed when the job ended: the kept session is idle, not idle in a transaction (which
    # would hold its snapshot and locks until the next job).
    assert await _state(first) == "idle"
    assert await db.run_read(_pid_on_driver) == first
    assert await db.run_read(_pid) == first
    assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]


async def test_no_more_than_the_limit_is_kept_and_the_rest_go_back_to_the_pool(
    db: Database,
) -> None:
    pids = await asyncio.gather(*(db.run_read(_slow_pid) for _ in range(KEEP_IDLE + 6)))
    assert len(set(pids)) == KEEP_IDLE + 6  # concurrent jobs each had a connection of their own
    assert db.kept_idle == KEEP_IDLE
    assert db.engine.pool.checkedout() == KEEP_IDLE  # type: ignore[attr-defined]
    again = await asyncio.gather(*(db.run_read(_pid) for _ in range(KEEP_IDLE)))
    assert set(again) <= set(pids)
    await db.dispose()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_job_that_raises_returns_its_connection_to_the_pool(db: Database) -> None:
    async def refused(conn: AsyncConnection) -> int:
        await _pid(conn)  # begins a transaction
        raise NotFound("No such thing.")

    kept = await db.run_read(_pid)
    with pytest.raises(NotFound):
        await db.run_read(refused)
    # The kept connection was the one the failing job took, and it was not put back...
    assert db.kept_idle == 0
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # ...but rolled back by the pool, which holds it idle for the next checkout.
    assert await _state(kept) == "idle"
    assert await db.run_read(_pid) == kept


async def test_kept_connections_whose_sessions_ended_are_not_handed_out(db: Database) -> None:
    """A server restart ends every idle session (asyncpg hears it and marks the connection
    closed): the next jobs get new connections rather than fail on the dead ones, which the
    pool would have replaced had they been in it."""
    pids = set(await asyncio.gather(*(db.run_read(_slow_pid) for _ in range(3))))
    assert db.kept_idle == 3
    for pid in pids:
        await _terminate(pid)
    await asyncio.sleep(0.05)  # the notices and the sockets' ends reach asyncpg
    fresh = await db.run_read(_pid)
    assert fresh not in pids
    assert db.kept_idle == 1
    assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]


async def _slow_pid(conn: AsyncConnection) -> int:
    await conn.execute(text("SELECT pg_sleep(0.05)"))
    return await _pid(conn)


async def _ends_own_session(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


async def _ends_own_session_on_driver(conn: AsyncConnection) -> None:
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.fetchval("SELECT pg_terminate_backend(pg_backend_pid())")


@pytest.mark.parametrize(
    "job", [_ends_own_session, _ends_own_session_on_driver], ids=["sqlalchemy", "driver"]
)
async def test_a_session_lost_during_a_job_is_an_outage_and_nothing_kept_survives_it(
    db: Database, job: object
) -> None:
    """A session ended while its job runs fails the job as an outage (the edge answers 503);
    the connection is dropped, not kept, and so are those kept beside it (a server gone for one
    is gone for all), returned to the pool, which replaces them."""
    await asyncio.gather(*(db.run_read(_slow_pid) for _ in range(3)))
    assert db.kept_idle == 3
    with pytest.raises((DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError)) as raised:
        await db.run_read(job)  # type: ignore[arg-type]
    assert database_unavailable(raised.value)
    assert db.kept_idle == 0
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await db.run_read(_pid) > 0
    assert db.kept_idle == 1


async def test_a_cancelled_job_does_not_leave_its_connection_kept(db: Database) -> None:
    started = asyncio.Event()

    async def long(conn: AsyncConnection) -> int:
        started.set()
        await conn.execute(text("SELECT pg_sleep(5)"))
        return 0

    task = asyncio.create_task(db.run_read(long))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.kept_idle == 0
    assert await db.run_read(_pid) > 0  # the next job runs (on a clean connection)


async def test_a_hot_read_on_a_pooled_connection_whose_session_ended_drops_it(
    db: Database,
) -> None:
    """Outside the kept connections too (``Database.read``): a hot read on the driver that finds
    its session ended invalidates the connection, so the pool does not hand it out again."""
    backend = HotRead(select(func.pg_backend_pid().label("pid")))
    async with db.read() as conn:
        pid = (await backend.all(conn, {}))[0][0]
    await _terminate(pid)
    with pytest.raises(asyncpg.InterfaceError) as raised:
        async with db.read() as conn:
            await backend.all(conn, {})
    assert database_unavailable(raised.value)
    async with db.read() as conn:
        assert (await backend.all(conn, {}))[0][0] != pid


async def _table(db: Database) -> Table:
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE kept_rows (x integer PRIMARY KEY)"))
    return Table("kept_rows", MetaData(), Column("x", Integer, primary_key=True))


async def _rows(db: Database) -> list[int]:
    admin = await asyncpg.connect(db.engine.url.set(drivername="postgresql").render_as_string())
    try:
        return [int(r["x"]) for r in await admin.fetch("SELECT x FROM kept_rows ORDER BY x")]
    finally:
        await admin.close()


async def test_a_write_job_on_a_kept_connection_commits_or_rolls_back_whole(db: Database) -> None:
    """``run_write`` on PostgreSQL: one transaction a job, on a kept connection, committed when
    the job returns (seen from another session) and rolled back whole when it raises, the
    connection then given back to the pool rather than kept."""
    rows = HotInsert(await _table(db))

    async def insert(conn: AsyncConnection) -> int:
        await rows.run(conn, [{"x": 1}, {"x": 2}])  # on the driver, in the job's transaction
        return await _pid(conn)

    first = await db.run_write(insert)
    assert await _rows(db) == [1, 2]
    assert await _state(first) == "idle"
    assert db.kept_idle == 1

    async def half(conn: AsyncConnection) -> None:
        await rows.run(conn, [{"x": 3}])
        await rows.run(conn, [{"x": 1}])  # already there

    with pytest.raises(IntegrityError):
        await db.run_write(half)
    assert await _rows(db) == [1, 2]  # 3 went with the failed job
    assert db.kept_idle == 0
    assert await _state(first) == "idle"  # rolled back by the pool


async def test_a_read_job_leaves_no_transaction_open_even_one_begun_on_the_driver(
    db: Database,
) -> None:
    """A statement run on the driver inside a transaction (``hub.store.hot``'s locking reads and
    inserts) begins it where SQLAlchemy does not see it: the job's end still commits it, as
    ``conn.begin()`` did, rather than leave the kept session idle in a transaction."""
    rows = HotInsert(await _table(db))
    backend = HotRead(select(func.pg_backend_pid().label("pid")))

    async def job(conn: AsyncConnection) -> int:
        pid = int((await backend.all_in_transaction(conn, {}))[0][0])
        await rows.run(conn, [{"x": 7}])  # not what a read job does, but it must not be lost
        return pid

    pid = await db.run_read(job)
    assert await _state(pid) == "idle"
    assert await _rows(db) == [7]
    assert db.kept_idle == 1


class _LateCloseProxy:
    """A loopback TCP proxy to the test server that can hold back the server's close: what the
    server sends reaches the client at once, its end of the stream only when released. So the
    client hears a session's end (PostgreSQL's FATAL notice) well before its socket closes, as
    happens by chance under load when the two arrive in different turns of the event loop."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.release = asyncio.Event()
        self.release.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        upstream = asyncio.create_task(self._pipe(client_r, server_w, hold=False))
        downstream = asyncio.create_task(self._pipe(server_r, client_w, hold=True))
        self._tasks |= {upstream, downstream}

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if hold:
                await self.release.wait()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        self.release.set()
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def late_close() -> AsyncIterator[tuple[Database, _LateCloseProxy]]:
    url, name = await _pg_database()
    target = make_url(PG_ADMIN_URL)
    proxy = _LateCloseProxy(target.host or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    proxied = make_url(url).set(drivername="postgresql+asyncpg", host="127.0.0.1", port=port)
    database = Database(proxied.render_as_string(hide_password=False))
    try:
        yield database, proxy
    finally:
        proxy.release.set()  # a connection's orderly close waits for the server's end
        await database.dispose()
        await proxy.close()
        await _drop_pg_database(name)


_BACKEND = HotRead(select(func.pg_backend_pid().label("pid")))


async def _pid_hot(conn: AsyncConnection) -> int:
    return int((await _BACKEND.all(conn, {}))[0][0])


@pytest.mark.parametrize("job", [_pid_hot, _pid], ids=["hot-read", "sqlalchemy"])
async def test_a_session_ended_before_its_socket_closed_is_an_outage_and_dropped(
    late_close: tuple[Database, _LateCloseProxy], job: object
) -> None:
    """A kept connection that heard the server end its session (a restart, an administrator,
    idle_session_timeout) but whose socket has not closed yet looks open to asyncpg, whose
    protocol then refuses the next statement ("cannot switch to state"). That is an outage
    (503), not a fault (500), and the connection is dropped, never kept or pooled again."""
    db, proxy = late_close
    pid = await db.run_read(_pid)
    assert db.kept_idle == 1
    proxy.release.clear()
    await _terminate(pid)
    await asyncio.sleep(0.05)  # the notice reaches asyncpg; the close is held back
    with pytest.raises(Exception) as raised:
        await db.run_read(job)  # type: ignore[arg-type]
    assert database_unavailable(raised.value), repr(raised.value)
    assert db.kept_idle == 0
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # Dropped, not pooled: the next jobs run on a new session (the old socket still open).
    assert await db.run_read(_pid_hot) != pid
    assert await db.run_read(_pid) != pid
