"""Copies of the database and the way back: SQLite's online backup API, pg_dump and pg_restore.

This module knows files, SQL and the PostgreSQL client tools. What a backup directory holds and
when a restore may go ahead is ``hub.services.backup``'s business.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import importlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from hub.errors import ConfigError, HubError, IntegrityFailure
from hub.ledger.merkle import MerkleTree
from hub.store import checkpoints as checkpoint_store
from hub.store import keys as key_store
from hub.store import ledger as ledger_store

Progress = Callable[[int, int], None]

# Pages per step of the SQLite backup (4 KiB each): progress about every 16 MiB.
PAGES_PER_STEP = 4096
_CHUNK = 1 << 20
# The very statements migration 0023 runs to keep the log append-only: after pg_restore
# --no-privileges the owner's default privileges hand UPDATE and DELETE on the recreated tables
# to the runtime role again, and these take them back.
_APPEND_ONLY = importlib.import_module("hub.store.migrations.versions.0023_ledger_append_only")


class ToolFailed(HubError):
    """pg_dump or pg_restore exited with an error (its own words, which never hold a password)."""

    status = 500
    code = "tool_failed"


@dataclass(frozen=True)
class Snapshot:
    """What one consistent view of the database holds, as a backup manifest records it."""

    revision: str
    tree_size: int
    root: bytes
    head_hash: str
    kek_ids: tuple[str, ...]
    tables: int


async def read_snapshot(conn: AsyncConnection) -> Snapshot:
    """The schema revision, the log's head and Merkle root and the KEK ids, in ``conn``'s
    transaction (so all from the same moment)."""
    revision = await conn.run_sync(_revision)
    if revision is None:
        raise ConfigError("the database was never initialised ('mappa-hub init'): nothing to copy")
    size, head_hash = await ledger_store.head(conn)
    tree = MerkleTree()
    async for batch in checkpoint_store.leaf_hash_batches(conn, 0, size):
        tree.extend(batch)
    kek_ids = tuple(sorted(await key_store.kek_ids(conn)))
    tables = len(await conn.run_sync(_table_names))
    return Snapshot(revision, size, tree.root(), head_hash, kek_ids, tables)


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _table_names(conn: Connection) -> list[str]:
    return inspect(conn).get_table_names()


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[AsyncConnection]:
    """One connection of its own (no pool: these commands run once and go)."""
    engine = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
    try:
        try:
            conn = await engine.connect()
        except Exception as exc:
            raise ConfigError(
                "cannot reach the database; check --database-url", reason=type(exc).__name__
            ) from exc
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await engine.dispose()


# -- SQLite --------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigError("the SQLite database URL names no file", key="database_url")
    return Path(database)


def require_owner(path: Path) -> None:
    """As root, refuse a database file another user owns: opening it would leave root-owned
    -wal and -shm files beside it that the hub, running as its own user, cannot open."""
    if os.geteuid() == 0 and path.exists() and path.stat().st_uid != 0:
        raise ConfigError(
            f"run this as the owner of {path} (uid {path.stat().st_uid}), "
            "e.g. sudo -u mappa-hub mappa-hub ..., not as root"
        )


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path))}?mode={mode}"


def copy_sqlite(source: Path, target: Path, progress: Progress) -> None:
    """Copy the live database ``source`` to the new file ``target`` with the online backup API.

    A read transaction held on the source for the whole copy pins one snapshot (the hub runs in
    WAL mode): the server keeps writing, and the copy neither restarts nor mixes two states.
    The copy is left in rollback-journal mode, whole in one file, and checked."""
    if not source.is_file():
        raise ConfigError(f"no SQLite database at {source}; check --data-dir or --database-url")
    try:
        check = _backup(source, target, progress)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"cannot copy {source}: {exc}") from exc
    if check != [("ok",)]:
        raise IntegrityFailure(f"the copy of {source} fails SQLite's integrity check")
    _fsync(target)


def _backup(source: Path, target: Path, progress: Progress) -> list[tuple[str]]:
    src = sqlite3.connect(_uri(source, "rw"), uri=True, timeout=15, isolation_level=None)
    try:
        dst = sqlite3.connect(_uri(target, "rwc"), uri=True, isolation_level=None)
        try:
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts
            src.backup(
                dst,
                pages=PAGES_PER_STEP,
                progress=lambda _status, remaining, total: progress(total - remaining, total),
            )
            src.execute("COMMIT")
            dst.execute("PRAGMA journal_mode=DELETE")
            check: list[tuple[str]] = dst.execute("PRAGMA integrity_check").fetchall()
            return check
        finally:
            dst.close()
    finally:
        src.close()


async def sqlite_snapshot(path: Path) -> Snapshot:
    """``read_snapshot`` of a copy, opened read-only so that reading it changes no byte."""
    url = f"sqlite+aiosqlite:///{_uri(path, 'ro')}&uri=true"
    async with _connection(url) as conn, conn.begin():
        return await read_snapshot(conn)


def sqlite_in_use(path: Path) -> bool:
    """A database file (or a WAL waiting to be merged into one) with something in it."""
    return any(p.exists() and p.stat().st_size > 0 for p in (path, _beside(path, "-wal")))


def install_sqlite(copy: Path, target: Path, sha256: str, stamp: str) -> list[Path]:
    """Put ``copy`` in place of ``target`` atomically: written beside it, checked against
    ``sha256``, synced, renamed. A database already there is kept, with its WAL, as
    ``<name>.pre-restore-<stamp>``; the files kept are returned."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    try:
        if copy_file(copy, temporary) != sha256:
            raise IntegrityFailure(f"{copy} changed while it was being restored")
        kept = _set_aside(target, stamp)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync(target.parent)
    return kept


def _set_aside(target: Path, stamp: str) -> list[Path]:
    """Keep the database being replaced. Its WAL and journal move first: left beside the new
    file, SQLite would replay the old database's pages into it."""
    kept_db = target.with_name(f"{target.name}.pre-restore-{stamp}")
    if any(_beside(kept_db, s).exists() for s in ("", "-wal", "-journal")):  # twice this second
        kept_db = target.with_name(f"{target.name}.pre-restore-{stamp}-{os.getpid()}")
    kept = []
    for suffix in ("-wal", "-journal"):
        old = _beside(target, suffix)
        if old.exists():
            os.replace(old, _beside(kept_db, suffix))
            kept.append(_beside(kept_db, suffix))
    _beside(target, "-shm").unlink(missing_ok=True)  # an index of the WAL, rebuilt on open
    if target.exists():
        try:
            os.link(target, kept_db)
        except OSError:  # a file system without hard links
            shutil.copy2(target, kept_db)
        kept.insert(0, kept_db)
    return kept


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


# -- files ---------------------------------------------------------------------------------


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def copy_file(source: Path, target: Path) -> str:
    """Copy to a new file of mode 0600, synced; the SHA-256 of what was written."""
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private(path: Path) -> None:
    """An empty new file of mode 0600, for a tool to write into: a copy holds the case index in
    clear, and is never readable by others even for a moment."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def fsync_file_and_dir(path: Path) -> None:
    """Sync a file and the directory that names it."""
    _fsync(path)
    _fsync(path.parent)


# -- PostgreSQL ----------------------------------------------------------------------------


def libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """The hub's URL as libpq takes it, and the environment carrying its password: on the
    command line every user's ``ps`` would show it."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "ssl" in query:  # asyncpg's ssl= takes libpq's sslmode names
        query["sslmode"] = query.pop("ssl")
    env = {} if parsed.password is None else {"PGPASSWORD": str(parsed.password)}
    plain = parsed.set(drivername="postgresql", password=None, query=query)
    return plain.render_as_string(hide_password=False), env


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(
            f"{name} not found on PATH: install the PostgreSQL client tools of the server's "
            "version (e.g. apt-get install postgresql-client)"
        )
    return found


async def dump_postgres(url: str, target: Path, progress: Progress) -> Snapshot:
    """pg_dump --format=custom into ``target``, in a snapshot exported from a transaction that
    also reads the log's head: the manifest names exactly what the dump holds."""
    pg_dump = pg_tool("pg_dump")
    dsn, env = libpq_url(url)
    async with _connection(url) as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            exported = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            snapshot = await read_snapshot(conn)
            argv = [pg_dump, "--format=custom", "--no-password", "--verbose",
                    f"--snapshot={exported}", f"--file={target}", f"--dbname={dsn}"]  # fmt: skip
            await _run(argv, env, "dumping contents of table", snapshot.tables, progress)
    return snapshot


async def postgres_in_use(url: str) -> tuple[int, int | None]:
    """The tables in the target database, and the entries in the hub's log if it has one."""
    async with _connection(url) as conn:
        names = await conn.run_sync(_table_names)
        entries = (await ledger_store.head(conn))[0] if "ledger_head" in names else None
    return len(names), entries


async def restore_postgres(url: str, dump: Path, tables: int, progress: Progress) -> None:
    """pg_restore over the target in one transaction (all or nothing), the tables recreated as
    the connecting role, then the log's privileges taken back as migration 0023 sets them."""
    pg_restore = pg_tool("pg_restore")
    dsn, env = libpq_url(url)
    argv = [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
            "--single-transaction", "--exit-on-error", "--no-password", "--verbose",
            f"--dbname={dsn}", str(dump)]  # fmt: skip
    await _run(argv, env, "processing data for table", tables, progress)
    async with _connection(url) as conn, conn.begin():
        for table in _APPEND_ONLY.TABLES:
            await conn.exec_driver_sql(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")
        await conn.exec_driver_sql(_APPEND_ONLY._REVOKE)


async def _run(
    argv: list[str], env: dict[str, str], marker: str, total: int, progress: Progress
) -> None:
    """Run a client tool, counting its ``--verbose`` lines that contain ``marker`` as progress
    and keeping its last error lines for the message if it fails."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    errors: collections.deque[str] = collections.deque(maxlen=4)
    done = 0
    try:
        if proc.stderr is None:
            raise RuntimeError("the tool's stderr was not opened")
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").strip()
            if marker in line:
                done += 1
                progress(min(done, total), total)
            elif "error" in line.lower() or "fatal" in line.lower():
                errors.append(line)
        status = await proc.wait()
    finally:
        if proc.returncode is None:  # cancelled: do not leave the tool running
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if status != 0:
        name = Path(argv[0]).name
        said = " / ".join(errors) or "no message"
        raise ToolFailed(f"{name} failed (exit status {status}): {said}")
