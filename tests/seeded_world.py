"""The demo world, seeded once per test process and copied into each test that asks for it.

Seeding costs a test about a second (the migrations, fourteen agencies' keys, fourteen people's
password hashes); copying what the seed wrote costs a tenth of that: the data directory (the
SQLite file, the key-encryption key, the hub's signing key) and, on PostgreSQL, the database
(``CREATE DATABASE ... TEMPLATE``). The copy is the same bytes a fresh seed would have written
(the same keys and logins in every test of a process, which no test compares across tests), and
the test's clock is set to where the seed left it.

Only a test whose configuration and clock are the defaults gets a copy; any other seeds afresh.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub.config import Config
from hub.demo import DemoLogin, seed
from hub.wiring import Hub, initialise
from tests.conftest import (
    PG_ADMIN_URL,
    START,
    TickingClock,
    _drop_pg_database,
    _pg_database,
    make_config,
)


@dataclass(frozen=True)
class _Template:
    config: Config
    # The PostgreSQL database the seed wrote to; None on SQLite (the file is in the data dir).
    pg_name: str | None
    logins: tuple[DemoLogin, ...]
    clock_after: datetime


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


class SeededWorlds:
    """One seeded template per database kind, built on first use in a directory of its own."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._templates: dict[str, _Template] = {}

    async def clone(self, config: Config, clock: TickingClock) -> list[DemoLogin] | None:
        """Copy the seeded world to ``config``'s data directory and database and move ``clock``
        to where the seed left it; None (and nothing copied) unless this test would have seeded
        exactly what the template holds."""
        if clock.peek() != START:
            return None
        kind = "sqlite" if config.is_sqlite else "postgres"
        template = self._templates.get(kind) or await self._build(kind)
        source = template.config
        if not _same_but_paths(config, source):
            return None
        # What is copied is the data directory: the SQLite file and the KEK must sit in it, where
        # they sit in the template's.
        layout = _layout(config)
        if None in layout or layout != _layout(source):
            return None
        await asyncio.to_thread(
            shutil.copytree, source.data_dir, config.data_dir, dirs_exist_ok=True
        )
        if template.pg_name is not None:
            await _copy_pg_database(template.pg_name, _database_name(config.database_url))
        clock.set(template.clock_after)
        return list(template.logins)

    async def _build(self, kind: str) -> _Template:
        data_dir = self._root / kind / "data"
        pg_name = None
        if kind == "sqlite":
            url = f"sqlite:///{data_dir / 'hub.sqlite3'}"
        else:
            url, pg_name = await _pg_database()
        config = make_config(data_dir, url)
        clock = TickingClock(START)
        await initialise(config)
        hub = await Hub.open(config, clock)
        try:
            logins = await seed(hub)
        finally:
            await hub.close()
        template = _Template(config, pg_name, tuple(logins), clock.peek())
        self._templates[kind] = template
        return template

    def drop(self) -> None:
        """Drop the PostgreSQL templates (the directories go with pytest's temporary ones)."""
        for template in self._templates.values():
            if template.pg_name is not None:
                asyncio.run(_drop_pg_database(template.pg_name))


def _layout(config: Config) -> tuple[Path | None, Path | None]:
    """Where the SQLite file (``.`` on PostgreSQL) and the KEK are inside the data directory;
    None for one outside it."""

    def inside(path: Path) -> Path | None:
        return path.relative_to(config.data_dir) if path.is_relative_to(config.data_dir) else None

    database = Path(config.database_url.split("///", 1)[1]) if config.is_sqlite else None
    return (inside(database) if database is not None else Path("."), inside(config.kek_path))


def _same_but_paths(config: Config, template: Config) -> bool:
    """``config`` is the template's but for where things are (and upload limits, which the
    seed does not meet)."""
    return (
        dataclasses.replace(
            config,
            data_dir=template.data_dir,
            database_url=template.database_url,
            kek_path=template.kek_path,
            limits=template.limits,
        )
        == template
    )


async def _copy_pg_database(template: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        # The test's database was created empty (``database_url``); it is replaced by the copy.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


async def open_seeded(
    worlds: SeededWorlds, config: Config, clock: TickingClock
) -> tuple[Hub, list[DemoLogin]]:
    """A hub on the demo world: a copy of the template where it applies, else seeded afresh."""
    logins = await worlds.clone(config, clock)
    if logins is None:
        await initialise(config)
    hub = await Hub.open(config, clock)
    if logins is None:
        try:
            logins = await seed(hub)
        except BaseException:
            await hub.close()
            raise
    return hub, logins
