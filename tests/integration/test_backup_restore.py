"""`mappa-hub backup --out DIR` and `mappa-hub restore DIR`, on a real SQLite file and a real
PostgreSQL database: a seeded hub backed up and restored elsewhere verifies and its packets open;
a restore over a database refuses without --force and changes nothing; a damaged backup is
refused; a copy taken while the hub writes is consistent; on PostgreSQL with two roles the log is
append-only again for the runtime role after a restore."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.demo import DemoLogin
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Jurisdiction
from hub.services import ledger
from hub.store import backup as store_backup
from hub.store import ledger as ledger_store
from hub.store.backup import Progress
from hub.store.database import head_revision
from hub.wiring import Hub, initialise
from tests.cli_runner import run_command
from tests.conftest import _drop_pg_database, _pg_database, actor_for, make_config
from tests.integration.test_ledger_append_only import Roles, roles  # noqa: F401 - a fixture

Captured = tuple[int, str, str]


async def cli(config: Config, *args: str) -> Captured:
    """The command on ``config``'s data (tests/cli_runner.py), off the test's event loop."""
    url = config.database_url
    argv = [*args, "--data-dir", str(config.data_dir), "--database-url", url]
    r = await asyncio.to_thread(run_command, argv)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
async def target_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the same kind to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'hub.sqlite3'}"
        return
    url, name = await _pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


def _keys_to(source: Config, target: Config) -> None:
    """What the operator puts back from its own backup: the KEK and the pinned hub key."""
    keys = target.kek_path.parent
    keys.mkdir(parents=True, mode=0o700)
    for name in ("kek.key", "hub-signing.pub"):
        shutil.copy2(source.kek_path.parent / name, keys / name)


async def _areas(config: Config) -> set[str]:
    hub = await Hub.open(config)
    try:
        return {a.code for a in await hub.directory.areas()}
    finally:
        await hub.close()


async def test_backup_and_restore_of_a_seeded_hub(
    hub: Hub,
    logins: dict[str, DemoLogin],
    config: Config,
    target_url: str,
    tmp_path: Path,
) -> None:
    await hub.ledger.checkpoint()
    async with hub.db.read() as conn:
        size, _ = await ledger_store.head(conn)
    out = tmp_path / "backup"

    status, said, err = await cli(config, "backup", "--out", str(out))
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    kind = "sqlite" if config.is_sqlite else "postgresql"
    copy = out / ("hub.sqlite3" if config.is_sqlite else "hub.pgdump")
    assert manifest["database"] == kind and manifest["alembic_revision"] == head_revision()
    assert manifest["ledger"]["tree_size"] == size > 10
    assert manifest["ledger"]["root"] == (await hub.ledger.root_at(size) or b"").hex()
    assert manifest["files"] == {
        copy.name: {
            "sha256": hashlib.sha256(copy.read_bytes()).hexdigest(),
            "bytes": copy.stat().st_size,
        }
    }
    # It ends by naming what it does not hold, where this hub keeps it.
    tail = said[said.index("NOT in this backup") :]
    assert str(config.kek_path) in tail and str(config.kek_path.parent / "hub-signing.pub") in tail

    status, _, err = await cli(config, "backup", "--out", str(out))
    assert status == 2 and "is not empty" in err

    # Into an empty database elsewhere, with the KEK and the pin put back first. With another
    # KEK there, the hub could not open what would be restored: refused first.
    restored = make_config(tmp_path / "restored", target_url)
    restored.kek_path.parent.mkdir(parents=True, mode=0o700)
    restored.kek_path.write_bytes(bytes(32))
    restored.kek_path.chmod(0o600)
    status, _, err = await cli(restored, "restore", str(out))
    assert status == 2 and "put back the KEK the backup needs" in err
    if restored.is_sqlite:
        assert not store_backup.sqlite_path(restored.database_url).exists()
    shutil.rmtree(restored.kek_path.parent)
    _keys_to(config, restored)
    status, said, err = await cli(restored, "restore", str(out))
    assert status == 0, err
    assert f"ledger verified: {size} entries" in said
    assert "the restored log is the backup's" in said
    other = await Hub.open(restored)
    try:
        housing = await actor_for(other, "dby.housing")
        [packet, *_] = [
            p for p in await other.packets.inbox(housing) if "Proposed address" in p.subject
        ]
        assert "primary school" in (await other.packets.open(housing, packet.id)).body
        await other.directory.add_area("ZZZ", "Written after the restore", Jurisdiction.SCOTLAND)
    finally:
        await other.close()

    # Over that database, now in use: refused without --force, and nothing changes.
    before = _fingerprint(restored)
    status, _, err = await cli(restored, "restore", str(out))
    assert status == 2 and "refusing to restore over" in err
    assert _fingerprint(restored) == before and "ZZZ" in await _areas(restored)

    # A damaged or cut-short copy is refused before anything is touched, even with --force.
    for damage in ("flip", "truncate", "manifest"):
        bad = tmp_path / f"bad-{damage}"
        shutil.copytree(out, bad)
        _damage(bad, copy.name, damage)
        status, _, err = await cli(restored, "restore", str(bad), "--force")
        assert status == 1 and "is refused" in err and "nothing was changed" in err, damage
    assert _fingerprint(restored) == before and "ZZZ" in await _areas(restored)

    status, said, err = await cli(restored, "restore", str(out), "--force")
    assert status == 0, err
    assert f"ledger verified: {size} entries" in said
    assert "ZZZ" not in await _areas(restored)
    if restored.is_sqlite:
        assert "the database it replaced is kept as" in said


async def test_without_pg_dump_the_backup_stops_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path / "data", "postgresql://hub@127.0.0.1:9/unreached")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    status, _, err = await cli(config, "backup", "--out", str(tmp_path / "backup"))
    assert status == 1 and "pg_dump not found on PATH" in err
    assert not (tmp_path / "backup").exists()


def _fingerprint(config: Config) -> str | None:
    """The SQLite file's bytes (its WAL merged by the last close); on PostgreSQL the areas
    check stands for the contents."""
    if not config.is_sqlite:
        return None
    path = store_backup.sqlite_path(config.database_url)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _damage(directory: Path, name: str, how: str) -> None:
    path = directory / name
    if how == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        (directory / "manifest.json").unlink()


def _record(hub: Hub) -> Record:
    return Record(
        action=Action.DISCLOSURE, event=Event.EMAIL_SENT, recorded_at=hub.clock.now(),
        actor_user_id=None, actor_agency_id=None, purpose="risk-management",
        lawful_basis="cja2003-s325", content_digest="ab" * 32, channel="letter",
        recipient_address=None,
    )  # fmt: skip


async def test_a_backup_taken_while_the_hub_writes_is_consistent(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(tmp_path / "data", sqlite_url)
    await initialise(config)
    hub = await Hub.open(config)
    # A few pages per step, so that the copy takes many steps with writes between them.
    monkeypatch.setattr(store_backup, "PAGES_PER_STEP", 4)
    # The copy waits after its first step until two writes have committed: part way through is
    # then certain, where left to timing a busy machine could finish the copy between two writes.
    mid_copy, written_mid_copy = threading.Event(), threading.Event()
    copy_sqlite = store_backup.copy_sqlite
    steps: list[int] = []

    def copy_while_the_hub_writes(source: Path, target: Path, progress: Progress) -> None:
        def step(done: int, total: int) -> None:
            steps.append(done)
            if not mid_copy.is_set():
                mid_copy.set()
                assert written_mid_copy.wait(60), "no write committed during the copy"
            progress(done, total)

        copy_sqlite(source, target, step)

    monkeypatch.setattr(store_backup, "copy_sqlite", copy_while_the_hub_writes)
    try:

        async def append(conn: AsyncConnection) -> None:
            await ledger.append_many(conn, [_record(hub)] * 20)

        for _ in range(20):
            await hub.db.run_write(append)
        copying = asyncio.ensure_future(cli(config, "backup", "--out", str(tmp_path / "backup")))
        during = 0
        while not copying.done():  # group-committed writes, as the server makes them
            begun_mid_copy = mid_copy.is_set()
            await hub.db.run_write(append)
            during += int(begun_mid_copy)
            if during >= 2:
                written_mid_copy.set()
        status, _, err = await copying
        assert status == 0, err
        assert mid_copy.is_set() and during >= 2
        assert steps == sorted(steps)  # one pinned snapshot: the copy never started again
        manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
        size = manifest["ledger"]["tree_size"]
        async with hub.db.read() as conn:
            now, _ = await ledger_store.head(conn)
        assert 400 <= size < now  # taken part way through the writes
        # The copy is one moment of the log: a prefix of what it holds now.
        assert manifest["ledger"]["root"] == (await hub.ledger.root_at(size) or b"").hex()
    finally:
        await hub.close()

    restored = make_config(tmp_path / "restored", f"sqlite:///{tmp_path / 'restored' / 'h.db'}")
    _keys_to(config, restored)
    status, said, err = await cli(restored, "restore", str(tmp_path / "backup"))
    assert status == 0, err
    assert f"ledger verified: {size} entries" in said


@pytest.mark.postgres
async def test_after_a_restore_the_runtime_role_still_cannot_rewrite_the_log(
    roles: Roles,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncpg

    config = make_config(tmp_path / "data", roles.url(roles.runtime))
    monkeypatch.setenv("MAPPA_HUB_OWNER_DATABASE_URL", roles.url(roles.owner))
    await initialise(make_config(tmp_path / "data", roles.url(roles.owner)))
    status, said, err = await cli(config, "backup", "--out", str(tmp_path / "backup"))
    assert status == 0, err
    assert "not-checked-by-trust-auth" not in said + err  # the URL's password, never printed

    # pg_restore recreates the tables as the owner, whose default privileges would give the
    # runtime role UPDATE and DELETE on the log again; restore takes them back.
    status, said, err = await cli(config, "restore", str(tmp_path / "backup"), "--force")
    assert status == 0, err
    assert "ledger verified" in said
    runtime = await asyncpg.connect(roles.url(roles.runtime))
    try:
        for statement in ("UPDATE ledger_entries SET purpose = 'x'", "DELETE FROM ledger_entries"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await runtime.execute(statement)
        owner = await runtime.fetchval(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'ledger_entries'"
        )
        assert owner == roles.owner
    finally:
        await runtime.close()


DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "backup"


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "mappa-hub"
    env = {**os.environ, "MAPPA_HUB_BIN": str(command)}
    env.pop("MAPPA_HUB_DATABASE_URL", None)
    return subprocess.run(
        ["sh", str(DEPLOY / name), *args], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip


async def test_the_deploy_scripts_wrap_the_commands(sqlite_url: str, tmp_path: Path) -> None:
    """backup.sh: the database with `mappa-hub backup`, the KEK and pin copied elsewhere;
    restore.sh: those put back first, then `mappa-hub restore`, which verifies with them."""
    config = make_config(tmp_path / "data", sqlite_url)
    await initialise(config)
    made = _script("backup.sh", "--data-dir", str(config.data_dir),
                   "--out", str(tmp_path / "db"), "--kek-out", str(tmp_path / "keys"))  # fmt: skip
    assert made.returncode == 0, made.stderr
    [backup_dir] = (tmp_path / "db").iterdir()
    assert sorted(p.name for p in backup_dir.iterdir()) == ["hub.sqlite3", "manifest.json"]
    [kek] = (tmp_path / "keys").glob("mappa-hub-kek-*.key")
    assert kek.read_bytes() == config.kek_path.read_bytes()

    restored = tmp_path / "restored"
    args = ["--data-dir", str(restored), "--from", str(backup_dir), "--kek", str(kek)]
    done = _script("restore.sh", *args)
    assert done.returncode == 0, done.stderr
    assert "ledger verified" in done.stdout and "hub-signing.pub restored" in done.stdout
    assert (restored / "keys" / "hub-signing.pub").stat().st_mode & 0o777 == 0o444
