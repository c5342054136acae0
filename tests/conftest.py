"""Shared fixtures: a real database (SQLite file, or a fresh PostgreSQL database), a hub on it,
the demo world, and a clock that tests move by hand."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hub.clock import ManualClock
from hub.config import Config, PasswordHashing, load_config
from hub.demo import DemoLogin, seed
from hub.model.packets import Draft
from hub.services.actor import Actor
from hub.store import hot
from hub.wiring import Hub, initialise

if TYPE_CHECKING:
    from tests.seeded_world import SeededWorlds

PG_ADMIN_URL = os.environ.get("MAPPA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Fast key derivation for tests only (the product default is RFC 9106's 64 MiB, t=3).
FAST_PASSWORDS = PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def _pg_database() -> tuple[str, str]:
    """Create an empty database on the test server; return (url, name) or skip with the reason."""
    import asyncpg

    name = f"mappa_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}", name


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test that asks for this runs twice: on a real SQLite file and on real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"
        return
    url, name = await _pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"


class TickingClock(ManualClock):
    """A manual clock that also moves one millisecond each time it is read, so that events
    recorded one after another have distinct, ordered times (as on a real clock)."""

    def now(self) -> datetime:
        self.advance(timedelta(milliseconds=1))
        return super().now()

    def peek(self) -> datetime:
        """The time now, without moving the clock."""
        return super().now()


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(START)


def make_config(data_dir: Path, database_url: str) -> Config:
    return load_config(data_dir, database_url, passwords=FAST_PASSWORDS)


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return make_config(tmp_path / "data", database_url)


@pytest.fixture(scope="session")
def seeded_worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededWorlds]:
    """The demo world seeded once per test process, copied into each test that asks for it."""
    from tests.seeded_world import SeededWorlds

    worlds = SeededWorlds(tmp_path_factory.mktemp("seeded"))
    yield worlds
    worlds.drop()


_SEEDED: pytest.StashKey[list[DemoLogin]] = pytest.StashKey()


@pytest.fixture
async def hub(
    config: Config, clock: ManualClock, request: pytest.FixtureRequest, seeded_worlds: SeededWorlds
) -> AsyncIterator[Hub]:
    # A test that will ask for the demo world gets a copy of it, if its config and clock allow.
    seeded = None
    if "logins" in request.fixturenames and isinstance(clock, TickingClock):
        seeded = await seeded_worlds.clone(config, clock)
    if seeded is None:
        await initialise(config)
    else:
        request.node.stash[_SEEDED] = seeded
    opened = await Hub.open(config, clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def logins(hub: Hub, request: pytest.FixtureRequest) -> dict[str, DemoLogin]:
    """The demo world (two areas, 14 agencies, 14 users, 7 cases, 2 packets)."""
    seeded = request.node.stash.get(_SEEDED, None)
    return {login.username: login for login in seeded or await seed(hub)}


@pytest.fixture
def driver_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every statement run on asyncpg inside a job's transaction during the test
    (``hub.store.hot``: the share batch's statements on PostgreSQL; none on SQLite, whose writer
    runs its own on its thread)."""
    statements: list[str] = []
    real = hot._asyncpg_in_transaction

    async def recorded(conn: Any, sql: str, call: Any) -> tuple[bool, Any]:
        statements.append(sql)
        return await real(conn, sql, call)

    monkeypatch.setattr(hot, "_asyncpg_in_transaction", recorded)
    return statements


async def actor_for(hub: Hub, username: str) -> Actor:
    user = next(u for u in await hub.directory.users() if u.username == username)
    return Actor(user, await hub.directory.agency(user.agency_id))


async def agency_id(hub: Hub, code: str) -> int:
    return next(a.id for a in await hub.directory.agencies() if a.code == code)


async def case_id(hub: Hub, family_name: str) -> int:
    return next(c.id for c in await hub.cases.visible_to(None) if c.family_name == family_name)


# What a well-formed share to housing at level 2 carries (policies/proportionality.toml), with a
# necessity statement that meets policies/necessity.toml.
SHARE_CATEGORIES = ("address", "risk-summary")
NECESSITY = {"why": "Housing must assess the proposed address against the risk management plan."}


async def harlow_note(
    hub: Hub, subject: str, *, body: str = "Body", to: str = "DBY-HOUSING"
) -> Draft:
    """A well-formed note on the Harlow case (level 2) to one agency, housing by default: what
    most tests send when what is sent does not matter."""
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, to),),
        subject=subject,
        body=body,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )
