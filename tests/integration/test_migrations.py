"""Every migration up and down, the migrated schema equal to the code's, and the refusal to run
on an unmigrated database."""

from __future__ import annotations

import asyncio
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


async def test_server_refuses_unmigrated_database(config: Config) -> None:
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


async def test_lost_kek_is_not_silently_replaced(config: Config) -> None:
    from hub.model.directory import AgencyType, Jurisdiction

    await initialise(config)
    hub = await Hub.open(config)
    try:
        await hub.directory.add_area("DBY", "Derbyshire", Jurisdiction.ENGLAND_AND_WALES)
        await hub.directory.add_agency("DBY-POLICE", "Police", AgencyType.POLICE, "DBY")
    finally:
        await hub.close()
    original = config.kek_path.read_bytes()
    config.kek_path.unlink()
    with pytest.raises(ConfigError, match="restore the KEK file from its backup"):
        await initialise(config)
    assert not config.kek_path.exists()
    # A different KEK in its place is refused too, by init and by the server.
    from hub.crypto.kek import KeyEncryptionKey

    KeyEncryptionKey.generate().save(config.kek_path)
    with pytest.raises(ConfigError, match="not the one this database's keys are wrapped under"):
        await Hub.open(config)
    with pytest.raises(ConfigError, match="not the one"):
        await initialise(config)
    config.kek_path.unlink()
    config.kek_path.write_bytes(original)
    config.kek_path.chmod(0o600)
    assert await initialise(config) is False
    reopened = await Hub.open(config)  # opens again with the right KEK
    assert [a.code for a in await reopened.directory.agencies()] == ["DBY-POLICE"]
    await reopened.close()


async def test_sqlite_file_is_private(config: Config) -> None:
    await initialise(config)
    if config.is_sqlite:
        db_file = Path(config.database_url.split("///", 1)[1])
        assert db_file.stat().st_mode & 0o077 == 0


@pytest.mark.postgres
async def test_gateways_starting_together_migrate_once(config: Config) -> None:
    """Each gateway host runs `init` as it starts: on PostgreSQL, those running at once take
    turns (an advisory lock) instead of applying the same migrations twice."""
    if config.is_sqlite:
        pytest.skip("one host, one init: SQLite's single writer already orders them")
    await initialise(config)  # the KEK first, as the key ceremony would put it on every host
    db = Database(config.database_url)
    try:
        await db.downgrade("base")
        await asyncio.gather(*(db.migrate() for _ in range(3)))
        assert await db.current_revision() == head_revision()
    finally:
        await db.dispose()
