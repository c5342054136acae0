"""On PostgreSQL the log is append-only in the database itself (issue 17, item 3).

deploy/postgres/setup.sql is run by psql as the superuser, as an operator would, with names of
this test's own: an owner role that `init` migrates with, and a runtime role the hub then runs as.
The hub seeds the demo world and signs a checkpoint as the runtime role - appending works - and
the same role's UPDATE, DELETE and TRUNCATE of log and checkpoint rows are refused: first by its
privileges, then, after the owner grants them by mistake, by the trigger. The runtime role cannot
change the schema either, and the log still verifies."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.demo import seed
from hub.wiring import Hub, initialise
from tests.conftest import PG_ADMIN_URL, make_config

pytestmark = pytest.mark.postgres
SETUP_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "setup.sql"


@dataclasses.dataclass(frozen=True)
class Roles:
    database: str
    owner: str
    runtime: str

    def url(self, role: str) -> str:
        server = PG_ADMIN_URL.rsplit("@", 1)[1].rsplit("/", 1)[0]
        return f"postgresql://{role}:not-checked-by-trust-auth@{server}/{self.database}"


def _psql(*variables: str) -> subprocess.CompletedProcess[str]:
    args = ["psql", PG_ADMIN_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    for v in variables:
        args += ["-v", v]
    return subprocess.run(
        [*args, "-f", str(SETUP_SQL)], capture_output=True, text=True, check=False
    )


@pytest.fixture
async def roles() -> AsyncIterator[Roles]:
    import asyncpg

    if shutil.which("psql") is None:
        pytest.skip("psql (postgresql-client) is not installed")
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    tag = uuid.uuid4().hex[:10]
    made = Roles(f"mappa_roles_{tag}", f"mappa_owner_{tag}", f"mappa_runtime_{tag}")
    try:
        ran = _psql("owner_password=owner-pw-0", "hub_password=hub-pw-0",
                    f"database={made.database}", f"owner_role={made.owner}",
                    f"runtime_role={made.runtime}")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        yield made
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{made.database}" WITH (FORCE)')
        for role in (made.owner, made.runtime):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def test_setup_sql_refuses_to_run_without_the_passwords() -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql (postgresql-client) is not installed")
    ran = _psql("hub_password=only-one")
    assert ran.returncode != 0 and "owner_password is not set" in ran.stderr


async def test_the_runtime_role_cannot_rewrite_the_log(roles: Roles, tmp_path: Path) -> None:
    import asyncpg

    config = dataclasses.replace(
        make_config(tmp_path / "data", roles.url(roles.runtime)),
        owner_database_url=make_config(tmp_path / "data", roles.url(roles.owner)).database_url,
    )
    await initialise(config)  # the migrations, as the owner
    hub = await Hub.open(config)  # the gateway, as the runtime role
    try:
        await seed(hub)
        await hub.ledger.checkpoint()
        runtime = await asyncpg.connect(roles.url(roles.runtime))
        owner = await asyncpg.connect(roles.url(roles.owner))
        try:
            assert await runtime.fetchval("SELECT current_user") == roles.runtime
            count = await runtime.fetchval("SELECT count(*) FROM ledger_entries")
            assert count > 10
            attempts = [
                "UPDATE ledger_entries SET purpose = 'rewritten' WHERE seq = 1",
                "DELETE FROM ledger_entries WHERE seq = (SELECT max(seq) FROM ledger_entries)",
                "TRUNCATE ledger_entries",
                "UPDATE ledger_checkpoints SET tree_size = tree_size + 1",
                "DELETE FROM ledger_checkpoints",
                "TRUNCATE ledger_checkpoints",
            ]
            for statement in attempts:  # refused by the privileges migration 0023 left
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await runtime.execute(statement)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # nor the schema
                await runtime.execute("CREATE TABLE shadow_ledger (seq integer)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await runtime.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
            # The owner grants the privileges by mistake: the trigger still refuses.
            await owner.execute(
                f'GRANT UPDATE, DELETE, TRUNCATE ON ledger_entries, ledger_checkpoints TO "{roles.runtime}"'
            )
            for statement in attempts:
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                    await runtime.execute(statement)
            # The rows the hub keeps current are still the runtime role's to write.
            await runtime.execute("UPDATE ledger_head SET seq = seq WHERE id = 1")
            assert await runtime.fetchval("SELECT count(*) FROM ledger_entries") == count
        finally:
            await runtime.close()
            await owner.close()
        await hub.ledger.verify()
    finally:
        await hub.close()
