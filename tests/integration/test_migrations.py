"""Every migration up and down, the migrated schema equal to the code's, and the refusal to run
on an unmigrated database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hub.config import Config
from hub.errors import ConfigError
from hub.store.database import Database, head_revision
from hub.store.schema import metadata
from hub.wiring import Hub, initialise


def _diff(sync_conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(sync_conn), metadata))


def _tables(sync_conn: Connection) -> set[str]:
    return set(inspect(sync_conn).get_table_names())


async def test_upgrade_matches_schema_then_downgrade_empties(config: Config) -> None:
    await initialise(config)
    db = Database(config.database_url)
    try:
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            assert set(metadata.tables) <= await conn.run_sync(_tables)
        await db.downgrade("base")
        assert await db.current_revision() is None
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await db.migrate()  # and up again
        assert await db.current_revision() == head_revision()
    finally:
        await db.dispose()


async def test_server_refuses_unmigrated_database(config: Config, tmp_path: Path) -> None:
    await initialise(config)
    db = Database(config.database_url)
    await db.downgrade("base")
    await db.dispose()
    with pytest.raises(ConfigError, match=r"not migrated.*mappa-hub init"):
        await Hub.open(config)


async def test_init_is_idempotent(config: Config) -> None:
    assert await initialise(config) is True  # a new KEK the first time
    assert await initialise(config) is False
    assert (config.kek_path.stat().st_mode & 0o077) == 0
