"""The database handle: engine set-up, named transactions, migration state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hub.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_WRITE_FLAG = "mappa_hub_write"


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
    """Owns the engine. ``write()`` is one durable transaction; ``read()`` a consistent snapshot."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: a failed statement's values (names, ciphertext) stay out of the logs.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not self.is_sqlite:
            kwargs.update(pool_size=20, max_overflow=10, pool_pre_ping=False)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # In-process writers queue here instead of spinning on SQLite's busy handler.
        self._sqlite_write_lock = asyncio.Lock()
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self.is_sqlite:
            async with self._sqlite_write_lock, self.engine.connect() as conn:
                # Checked by the "begin" listener: writers take the lock up front.
                (await conn.get_raw_connection()).info[_WRITE_FLAG] = True
                async with conn.begin():
                    yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

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
            await conn.run_sync(_upgrade, target)

    async def downgrade(self, target: str) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_downgrade, target)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, WAL or not.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        info = conn.connection.info
        mode = "IMMEDIATE" if info.pop(_WRITE_FLAG, False) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


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
