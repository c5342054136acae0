"""SQLite jobs: how a job (a coroutine function of a connection) runs on a synchronous connection.

``hub.store.database.Database`` runs read jobs on the event loop's thread or a reader thread and
group-commits write jobs on its writer thread; the pieces that touch the sqlite3 connection are
here: driving a job to completion, a batch in savepoints under the writers' lock, and each
connection's settings.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.notify import Note, collecting

T = TypeVar("T")
# A job: a coroutine function of a connection that awaits nothing but the connection.
Job = Callable[[AsyncConnection], Coroutine[Any, Any, T]]
WRITE_FLAG = "mappa_hub_write"
# Each connection's page cache, in KiB (SQLite's default is 2,000). One API inbox page of 100
# packets reads several hundred database pages (rows, recipients, keys, manifests and their
# indexes); with the default, a listing of a large database read nearly all of them again from the
# kernel, 30 % of its CPU at 1M packets (3 % with this cache).
# The cache fills only as pages are read. A reader's cache lasts until another connection commits
# (WAL then makes it start afresh), so it helps most while reads outnumber writes.
PAGE_CACHE_KIB = 32 * 1024


def sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds a lock (not a real fault)."""
    # The primary code is the low byte (SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT...).
    return exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class ThreadConnection:
    """An ``AsyncConnection`` look-alike over a synchronous connection, for a job in a thread.

    The store's functions are coroutines that await nothing but ``conn.execute``. Given this
    object they never suspend, so ``drive`` runs a whole job to completion in the worker thread:
    one hand-off for the job instead of several per statement, with one copy of each query."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    def driver_rows(self, sql: str, parameters: list[Any]) -> list[Any]:
        """A compiled statement on the sqlite3 connection itself (``hub.store.hot``)."""
        dbapi: Any = self._conn.connection.dbapi_connection
        rows: list[Any] = dbapi.execute(sql, parameters).fetchall()
        return rows

    def driver_executemany(self, sql: str, rows: list[Any]) -> None:
        """A compiled statement for each of ``rows`` on the sqlite3 connection (``HotInsert``),
        in the job's transaction."""
        dbapi: Any = self._conn.connection.dbapi_connection
        dbapi.executemany(sql, rows)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self._conn.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self._conn, *args, **kwargs)


def drive(job: Job[T], conn: Connection) -> T:
    coroutine = job(cast(AsyncConnection, ThreadConnection(conn)))
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return cast(T, finished.value)
    coroutine.close()
    raise RuntimeError("a database job awaited something other than its connection")


def read_inline(conn: Connection, job: Job[T]) -> T:
    """``job`` in one snapshot on a pysqlite ``conn``, begun and ended on the sqlite3 connection
    itself: SQLAlchemy's transaction around a few indexed reads cost more than the reads. A
    statement the job sends through SQLAlchemy joins the snapshot (the begin listener sends no
    second BEGIN), and ending SQLAlchemy's transaction then ends it."""
    dbapi: Any = conn.connection.dbapi_connection
    dbapi.execute(_BEGIN_DEFERRED)
    try:
        result = drive(job, conn)
    except BaseException:
        _end(conn, dbapi, commit=False)
        raise
    _end(conn, dbapi, commit=True)
    return result


def _end(conn: Connection, dbapi: Any, *, commit: bool) -> None:
    if conn.in_transaction():
        conn.commit() if commit else conn.rollback()
    elif dbapi.in_transaction:
        dbapi.execute("COMMIT" if commit else "ROLLBACK")


def read_in_thread(engine: Engine, job: Job[T]) -> T:
    with engine.connect() as conn, conn.begin():
        return drive(job, conn)


Outcomes = tuple[list[tuple[bool, Any]], list[Note]]


class WritersLock:
    """The lock the group commits of every process on one SQLite file queue on, in the kernel
    (``flock``), rather than polling in SQLite's busy handler. The file stays open: opening it
    for every commit cost more than the lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return self._fd

    def acquire(self) -> None:
        """Wait for the lock (blocks the calling thread)."""
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class KeptWriter:
    """The group commit's connection, kept by the writer thread from one commit to the next.

    Checking a pooled connection out and back in, and SQLAlchemy's transaction around the batch,
    cost each commit about 190,000 instructions, 4 % of a share committed alone (bench/README.md,
    twenty-sixth session): the batch's transaction is begun and ended on the sqlite3 connection
    itself, as ``read_inline`` does for reads. Only the writer thread uses it.
    A batch that fails to end its transaction closes it (SQLite rolls back whatever it held), and
    the next batch opens another."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def discard(self) -> None:
        """Close the connection rather than return it to the pool with unknown state."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.invalidate()
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def write_in_thread(writer: KeptWriter, jobs: list[Job[Any]], lock: WritersLock | None) -> Outcomes:
    if lock is None:
        return write_batch(writer, jobs)
    with lock.held():
        return write_batch(writer, jobs)


def write_batch(writer: KeptWriter, jobs: list[Job[Any]]) -> Outcomes:
    """Each job in its own savepoint of one transaction, then one commit (one fsync). With the
    outcomes, the notes of the jobs that succeeded (``hub.store.notify``)."""
    conn = writer.connection()
    dbapi: Any = conn.connection.dbapi_connection
    try:
        dbapi.execute(_BEGIN_IMMEDIATE)  # the write lock taken up front
        if len(jobs) == 1:  # alone in its batch: no savepoint needed to fail on its own
            try:
                with collecting() as notes:
                    result = drive(jobs[0], conn)
            except Exception as exc:
                _end(conn, dbapi, commit=False)
                return [(False, exc)], []
            _end(conn, dbapi, commit=True)
            return [(True, result)], notes
        outcomes, notes = _in_savepoints(conn, jobs)
        _end(conn, dbapi, commit=True)
    except BaseException:
        writer.discard()
        raise
    return outcomes, notes


def _in_savepoints(conn: Connection, jobs: list[Job[Any]]) -> Outcomes:
    outcomes: list[tuple[bool, Any]] = []
    notes: list[Note] = []
    for job in jobs:
        # The first one joins the transaction begun on the driver (the begin listener sends no
        # second BEGIN), as a statement sent through SQLAlchemy does.
        savepoint = conn.begin_nested()
        try:
            with collecting() as mine:
                result = drive(job, conn)
        except Exception as exc:
            savepoint.rollback()
            outcomes.append((False, exc))
        else:
            savepoint.commit()
            outcomes.append((True, result))
            notes.extend(mine)
    return outcomes, notes


_BEGIN_IMMEDIATE, _BEGIN_DEFERRED = "BEGIN IMMEDIATE", "BEGIN DEFERRED"


def configure_sqlite(
    engine: Engine, busy_timeout_ms: int = 15000, *, autocheckpoint: bool = True
) -> None:
    """Every connection's settings. ``autocheckpoint=False`` where a ``WalCheckpointer``
    (``hub.store.sqlite_checkpoints``) checkpoints instead of the commits."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, WAL or not.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    direct = engine.dialect.driver == "pysqlite"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        info = conn.connection.info
        begin = _BEGIN_IMMEDIATE if info.pop(WRITE_FLAG, False) else _BEGIN_DEFERRED
        if direct and conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            return  # ``read_inline`` began it on the sqlite3 connection: this joins it
        if direct:
            # On the sqlite3 connection itself: through SQLAlchemy's execution this cost more
            # than the short reads it opens.
            conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]
        else:
            conn.exec_driver_sql(begin)
