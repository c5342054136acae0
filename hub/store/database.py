"""The database handle: engine set-up, named transactions, migration state."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from hub.errors import ConfigError
from hub.store.group_commit import GroupCommit
from hub.store.kept_connections import KeptConnections
from hub.store.notify import LocalListeners, Note, collecting
from hub.store.notify_relay import SiblingRelay
from hub.store.sqlite_checkpoints import WalCheckpointer
from hub.store.sqlite_jobs import (
    WRITE_FLAG,
    Job,
    WritersLock,
    configure_sqlite,
    read_in_thread,
    read_inline,
    sqlite_busy,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Threads running hot-path reads on SQLite that could not run on the event loop's own thread
# (``Database.run_read``): a snapshot refused at once as busy waits there instead.
SQLITE_READERS = 4

# The advisory lock `init` holds while it migrates (any fixed number; "MAPPA" in ASCII).
_MIGRATION_LOCK = 0x4D41505041

# How long a request waits for the database before it is answered 503 (PostgreSQL).
CONNECT_WAIT_SECONDS, POOL_WAIT_SECONDS = 5.0, 10.0

T = TypeVar("T")


def alembic_config(url: str | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigError("no migrations found")
    return head


class Database:
    """Owns the engines.

    ``write()`` is one durable transaction and ``read()`` a consistent snapshot, on an async
    connection. The hot paths (a share, opening a packet, listing, authenticating a token) instead
    hand a job (a coroutine function of a connection that awaits nothing but the connection) to
    ``run_read()`` or ``run_write()``. On SQLite a read job runs to completion on the event loop's
    own thread, on a connection that never waits for a lock (a WAL snapshot is taken at once;
    in the rare case it is refused as busy, the job runs again on a worker thread that may
    wait). An indexed read costs SQLite tens of microseconds, less than handing the job to a
    thread and back (two context switches and a trip for the GIL, which profiles of the share
    path showed costing more than the reads themselves). ``run_write()`` jobs run in one trip to
    the writer thread (the commit waits for the disk) and are group-committed: the jobs waiting
    when a commit starts share the next transaction, each in its own savepoint, so a batch costs one fsync and a job that fails takes
    nothing else with it. A job's caller resumes only after the commit of its batch returned:
    acknowledged means on disk. On PostgreSQL each job is its own transaction, on the async
    driver.

    Notes sent with ``hub.store.notify.notify`` in a write go out once it commits: PostgreSQL
    delivers them itself; on SQLite this object hands them to ``local`` after the commit.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: a failed statement's values (names, ciphertext) stay out of the logs.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not self.is_sqlite:
            # A fixed pool: connections opened and closed under load (overflow) cost more than
            # the queries they carry.
            kwargs.update(pool_size=32, max_overflow=0, pool_pre_ping=False)
            # Bounded waits while the database is away (a restart, a failover): a request waits
            # at most POOL_WAIT for a connection and CONNECT_WAIT to open one, then is answered
            # 503 (database_unavailable) instead of hanging.
            kwargs.update(pool_timeout=POOL_WAIT_SECONDS)
            kwargs["connect_args"] = {"timeout": CONNECT_WAIT_SECONDS}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # PostgreSQL: jobs on connections kept between jobs (hub.store.kept_connections).
        self._kept = None if self.is_sqlite else KeptConnections(self.engine)
        self._sync_engine: Engine | None = None
        # SQLite: write jobs committed together on one thread (hub.store.group_commit).
        self._group: GroupCommit | None = None
        self._readers: ThreadPoolExecutor | None = None
        # The connection read jobs run on in the event loop's thread (SQLite), opened on first use.
        self._inline_engine: Engine | None = None
        self._inline: Connection | None = None
        # SQLite on a file: its log checkpointed off the commit path.
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            sync_url = url.replace("sqlite+aiosqlite://", "sqlite+pysqlite://", 1)
            database = make_url(sync_url).database
            on_file = bool(database) and database != ":memory:"
            configure_sqlite(self.engine.sync_engine, autocheckpoint=not on_file)
            self._sync_engine = create_engine(
                sync_url,
                echo=echo,
                hide_parameters=True,
                pool_size=SQLITE_READERS + 1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            configure_sqlite(self._sync_engine, autocheckpoint=not on_file)
            self._inline_engine = create_engine(
                sync_url, echo=echo, hide_parameters=True, poolclass=NullPool
            )
            configure_sqlite(self._inline_engine, busy_timeout_ms=0)
            self._readers = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="db-read")
            # Group commits of several processes (serve --workers) on one SQLite file queue on
            # this lock in the kernel, rather than polling in SQLite's busy handler.
            writers_lock = None
            if database and on_file:
                writers_lock = WritersLock(Path(database + ".writers"))
                self._checkpointer = WalCheckpointer(Path(database), writers_lock.path)
            self._group = GroupCommit(self._sync_engine, writers_lock, self._committed)
        # SQLite's in-process stand-in for LISTEN (``hub.store.notify``), and the relay that
        # passes committed notes on to the other processes on the same file.
        self.local = LocalListeners()
        self.relay: SiblingRelay | None = None
        if self._group is not None and self._group.writers_lock is not None:
            self.relay = SiblingRelay(Path(f"{database}.notify"))

    def _committed(self, notes: list[Note]) -> None:
        self._written()
        self._deliver(notes)

    def _written(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.written()

    def _deliver(self, notes: list[Note]) -> None:
        if notes:
            self.local.deliver(notes)
            if self.relay is not None:
                self.relay.send(notes)

    async def listen_to_siblings(self) -> None:
        """SQLite: also hear the notes committed by other processes on this file."""
        if self.relay is not None:
            await self.relay.listen(self.local.deliver)

    # -- hot paths: jobs on a connection ------------------------------------------------

    async def run_read(self, job: Job[T]) -> T:
        """``job(conn)`` on a connection holding a consistent snapshot; its result."""
        if self._inline_engine is not None:
            try:
                return self._read_inline(job)
            except _Busy:
                pass  # another connection holds what a snapshot needs: wait for it in a thread
        if self._sync_engine is not None and self._readers is not None:
            engine = self._sync_engine
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._readers, read_in_thread, engine, job)
        return await self.run_on_driver(job)

    async def run_on_driver(self, job: Job[T]) -> T:
        """PostgreSQL: ``job(conn)`` on a connection kept between jobs
        (``hub.store.kept_connections``), as ``async with engine.connect() as conn, conn.begin()``
        would run it. ``run_read``'s jobs run here; so does the API's rate limit, whose one
        statement runs on the driver outside any transaction, committed as it runs (an UNLOGGED
        table: it waits for no disk)."""
        return await self._kept_connections().read(job)

    def _kept_connections(self) -> KeptConnections:
        if self._kept is None:
            raise RuntimeError("kept connections are PostgreSQL's")
        return self._kept

    @property
    def kept_idle(self) -> int:
        """PostgreSQL: connections kept idle for the next job; 0 on SQLite."""
        return 0 if self._kept is None else self._kept.idle

    def _read_inline(self, job: Job[T]) -> T:
        if self._inline is None or self._inline.closed:
            if self._inline_engine is None:
                raise RuntimeError("inline reads are for SQLite")
            self._inline = self._inline_engine.connect()
        try:
            return read_inline(self._inline, job)
        except OperationalError as exc:  # a statement through SQLAlchemy
            if isinstance(exc.orig, sqlite3.OperationalError) and sqlite_busy(exc.orig):
                raise _Busy() from exc
            raise
        except sqlite3.OperationalError as exc:  # a hot read, on the driver (hub.store.hot)
            if sqlite_busy(exc):
                raise _Busy() from exc
            raise

    async def run_write(self, job: Job[T]) -> T:
        """``job(conn)`` in a write transaction, group-committed; its result once on disk.

        The job may share its transaction with others: it must not commit, and whatever it raises
        rolls back its own work only and is raised here."""
        if self._group is None:
            # PostgreSQL: each job in its own transaction on its own connection (kept between
            # jobs). The server already flushes concurrent commits together, and jobs that
            # append to the log queue on its head row only for their last statements.
            return await self._kept_connections().write(job)
        return await self._group.run(job)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._group is not None:
            async with (
                self._group.lock,
                self._group.writers_lock_held(),
                self.engine.connect() as conn,
            ):
                # Checked by the "begin" listener: writers take the lock up front.
                (await conn.get_raw_connection()).info[WRITE_FLAG] = True
                with collecting() as notes:
                    async with conn.begin():
                        yield conn
            self._written()
            self._deliver(notes)
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def ping(self) -> None:
        """One round trip to the database (raises if it cannot be reached)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def require_migrated(self) -> None:
        """Refuse to run on a database that is not at the newest migration."""
        try:
            current = await self.current_revision()
        except Exception as exc:
            raise ConfigError(
                "cannot reach the database; check --database-url", reason=type(exc).__name__
            ) from exc
        head = head_revision()
        if current != head:
            raise ConfigError(
                f"the database is not migrated (at {current or 'nothing'}, need {head}): "
                "run 'mappa-hub init' first"
            )

    async def migrate(self, target: str = "head") -> None:
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Gateway hosts each run `init` as they start: one migrates, the others wait here
                # and then find nothing left to do (the lock ends with the transaction).
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            await conn.run_sync(_upgrade, target)
        self._written()

    async def downgrade(self, target: str) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_downgrade, target)

    async def dispose(self) -> None:
        if self._group is not None:  # the jobs submitted finish before the engines go
            await self._group.drain()
        if self._kept is not None:
            await self._kept.close()
        await self.engine.dispose()
        if self._inline is not None:
            self._inline.close()
        if self._inline_engine is not None:
            self._inline_engine.dispose()
        if self.relay is not None:
            self.relay.close()
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._group is not None:
            self._group.close()
        if self._sync_engine is not None:
            self._sync_engine.dispose()


class _Busy(Exception):
    """A read refused at once because another connection holds a lock it needs."""


def _current_revision(sync_conn: Connection) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


def _upgrade(sync_conn: Connection, target: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, target)


def _downgrade(sync_conn: Connection, target: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.downgrade(cfg, target)
