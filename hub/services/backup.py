"""Backups of the hub's database into a directory with a manifest, and restoring them.

A backup directory holds the database copy (``hub.sqlite3``, or ``hub.pgdump`` from pg_dump) and
``manifest.json``: the format and its version, the database kind, the schema revision, the log's
size, head and Merkle root as copied, the ids of the KEKs the copy's keys are wrapped under, and
each file's SHA-256 and size. The manifest is written last: a directory without one is an
unfinished backup. The sums find a truncated or damaged copy; they are not a signature (whoever
can rewrite the directory can rewrite the manifest). What shows that a restored log is the hub's
own is ``ledger verify`` against the pinned hub key and the checkpoints held outside the hub.

A backup never holds the KEK, the pinned hub key or the cosigned checkpoint file: ``kept_elsewhere``
names them, for the operator to keep apart from it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory

from hub.clock import Clock
from hub.config import Config
from hub.crypto.kek import KeyEncryptionKey
from hub.errors import Conflict, IntegrityFailure, InvalidInput
from hub.services.checkpoints import pin_path, read_pins
from hub.services.cosigned import cosigned_path
from hub.store import backup as store
from hub.store import checkpoints as checkpoint_store
from hub.store.backup import Snapshot
from hub.store.database import Database, alembic_config

FORMAT, VERSION = "mappa-hub-backup", 1
MANIFEST = "manifest.json"
SQLITE, POSTGRESQL = "sqlite", "postgresql"
DATABASE_FILES = {SQLITE: "hub.sqlite3", POSTGRESQL: "hub.pgdump"}

# Progress of a named stage: (stage, done, total).
Stages = Callable[[str, int, int], None]


class BadBackup(IntegrityFailure):
    """A backup directory that is unfinished, damaged or altered; nothing was changed."""

    code = "bad_backup"

    def __init__(self, directory: Path, reason: str) -> None:
        super().__init__(f"the backup in {directory} is refused: {reason}; nothing was changed")


class TargetInUse(Conflict):
    code = "target_in_use"


@dataclass(frozen=True)
class BackupFile:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest(Snapshot):
    """What the copy holds (the snapshot it was taken from), and what it is and was made of."""

    database: str
    created_at: datetime
    files: Mapping[str, BackupFile]

    @property
    def database_file(self) -> str:
        return DATABASE_FILES[self.database]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "database": self.database,
            "alembic_revision": self.revision,
            "ledger": {
                "tree_size": self.tree_size,
                "root": self.root.hex(),
                "head_hash": self.head_hash,
            },
            "kek_ids": list(self.kek_ids),
            "tables": self.tables,
            "created_at": self.created_at.isoformat(),
            "files": {n: {"sha256": f.sha256, "bytes": f.size} for n, f in self.files.items()},
        }

    @classmethod
    def from_json(cls, doc: Any) -> Manifest:
        """Raises ValueError, KeyError or TypeError on anything but a manifest of this format."""
        if doc["format"] != FORMAT or doc["version"] != VERSION:
            raise ValueError("not a backup manifest of a format this mappa-hub reads")
        database, ledger = doc["database"], doc["ledger"]
        if database not in DATABASE_FILES:
            raise ValueError("unknown database kind")
        files = {
            str(name): BackupFile(str(f["sha256"]), int(f["bytes"]))
            for name, f in doc["files"].items()
        }
        if set(files) != {DATABASE_FILES[database]}:
            raise ValueError("the files listed are not one database copy")
        return cls(
            database=database,
            revision=str(doc["alembic_revision"]),
            tree_size=int(ledger["tree_size"]),
            root=bytes.fromhex(ledger["root"]),
            head_hash=str(ledger["head_hash"]),
            kek_ids=tuple(str(k) for k in doc["kek_ids"]),
            tables=int(doc["tables"]),
            created_at=datetime.fromisoformat(doc["created_at"]),
            files=files,
        )


@dataclass(frozen=True)
class KeptElsewhere:
    """A file the hub needs that no backup holds, and where this hub keeps it."""

    what: str
    path: Path

    @property
    def present(self) -> bool:
        return self.path.exists()


def kept_elsewhere(config: Config) -> list[KeptElsewhere]:
    pins = pin_path(config.kek_path)
    return [
        KeptElsewhere("the key-encryption key (KEK): without it nothing sealed in the backup "
                      "can be read; never store it with the backup", config.kek_path),
        KeptElsewhere("the pinned hub signing key (hub-signing.pub): ledger verify trusts "
                      "checkpoints signed under it only; keep it with the KEK", pins),
        KeptElsewhere("the newest checkpoint cosigned by peer hubs (hub-cosigned.json, the "
                      "witnesses' pin on this log), once a peer has cosigned", cosigned_path(pins)),
        KeptElsewhere("the policy files (configuration; each version in force is archived in "
                      "the database)", config.policy_dir),
    ]  # fmt: skip


def database_kind(config: Config) -> str:
    return SQLITE if config.is_sqlite else POSTGRESQL


# -- backup --------------------------------------------------------------------------------


async def make_backup(config: Config, out: Path, clock: Clock, stages: Stages) -> Manifest:
    """A consistent copy of the database in the new or empty directory ``out``, manifest last.
    On failure the files made are removed again."""
    created = _prepare_out(out)
    kind = database_kind(config)
    copy = out / DATABASE_FILES[kind]
    try:
        store.create_private(copy)
        if kind == SQLITE:
            source = store.sqlite_path(config.database_url)
            store.require_owner(source)
            await asyncio.to_thread(store.copy_sqlite, source, copy, _stage(stages, "copying"))
            snapshot = await store.sqlite_snapshot(copy)
        else:
            snapshot = await store.dump_postgres(
                config.database_url, copy, _stage(stages, "dumping tables")
            )
        store.fsync_file_and_dir(copy)
        digest = await asyncio.to_thread(store.sha256_file, copy, _stage(stages, "hashing"))
        manifest = Manifest(
            **vars(snapshot), database=kind, created_at=clock.now(),
            files={copy.name: BackupFile(digest, copy.stat().st_size)},
        )  # fmt: skip
        _write_manifest(out, manifest)
    except BaseException:
        _remove_partial(out, created, copy)
        raise
    return manifest


def _remove_partial(out: Path, created: bool, copy: Path) -> None:
    for leftover in (copy, copy.with_name(copy.name + "-journal"), out / f".{MANIFEST}.tmp"):
        leftover.unlink(missing_ok=True)
    if created:
        with suppress(OSError):  # something else appeared in it: leave it
            out.rmdir()


def _prepare_out(out: Path) -> bool:
    """Make ``out`` (mode 0700) unless it is an empty directory already; True if made here."""
    if out.exists():
        if not out.is_dir():
            raise InvalidInput(f"--out {out} is not a directory")
        if any(out.iterdir()):
            raise InvalidInput(f"--out {out} is not empty: give a new or empty directory")
        return False
    out.mkdir(parents=True, mode=0o700)
    return True


def _write_manifest(out: Path, manifest: Manifest) -> None:
    temporary = out / f".{MANIFEST}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(manifest.to_json(), indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, out / MANIFEST)
    store.fsync_file_and_dir(out / MANIFEST)


# -- restore -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestorePlan:
    directory: Path
    manifest: Manifest
    # What the restore would replace, in words, or None for an empty target.
    replaces: str | None


async def check_restore(
    config: Config, directory: Path, force: bool, stages: Stages
) -> RestorePlan:
    """Everything that can be checked before changing anything: the manifest, every file's
    SHA-256, the kind and revision of the backup, and whether the target holds a database."""
    manifest = read_manifest(directory)
    kind = database_kind(config)
    if manifest.database != kind:
        raise InvalidInput(f"the backup is of a {manifest.database} database; the target is {kind}")
    if manifest.revision not in _known_revisions():
        raise InvalidInput(
            f"the backup is at schema revision {manifest.revision}, which this mappa-hub does "
            "not know: restore it with the version that made it (or a newer one)"
        )
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise BadBackup(directory, f"{name} is missing")
        if path.stat().st_size != expected.size:
            raise BadBackup(
                directory, f"{name} is {path.stat().st_size} bytes, not {expected.size}"
            )
        digest = await asyncio.to_thread(store.sha256_file, path, _stage(stages, "checking"))
        if digest != expected.sha256:
            raise BadBackup(directory, f"the SHA-256 of {name} is not the manifest's")
    if not force:
        _require_matching_kek(config, manifest)
    replaces = await _in_use(config)
    if replaces is not None and not force:
        raise TargetInUse(
            f"refusing to restore over {replaces} without --force (stop the hub first; with "
            "--force the database is replaced)"
        )
    return RestorePlan(directory, manifest, replaces)


def _require_matching_kek(config: Config, manifest: Manifest) -> None:
    """Refuse to put a database in place that the KEK on this host cannot open: the hub would
    not start on it. No KEK here yet is no refusal (it may be put back after)."""
    if not config.kek_path.exists() or not manifest.kek_ids:
        return
    here = KeyEncryptionKey.load(config.kek_path).kek_id
    if set(manifest.kek_ids) != {here}:
        raise TargetInUse(
            f"the backup's keys are wrapped under KEK {', '.join(manifest.kek_ids)}, but the KEK "
            f"at {config.kek_path} is {here}: put back the KEK the backup needs first (or --force)"
        )


def read_manifest(directory: Path) -> Manifest:
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory")
    try:
        text = (directory / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadBackup(directory, f"there is no {MANIFEST} (an unfinished backup?)") from None
    try:
        return Manifest.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
        raise BadBackup(directory, f"{MANIFEST} is not a backup manifest this hub reads") from None


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {s.revision for s in script.walk_revisions()}


async def _in_use(config: Config) -> str | None:
    if config.is_sqlite:
        path = store.sqlite_path(config.database_url)
        return f"the database at {path}" if store.sqlite_in_use(path) else None
    tables, entries = await store.postgres_in_use(config.migration_url)
    if not tables:
        return None
    log = f" (a log of {entries} entries)" if entries is not None else ""
    return f"the {tables} tables in the target database{log}"


async def restore(config: Config, plan: RestorePlan, clock: Clock, stages: Stages) -> list[Path]:
    """Put the checked backup in place; the files of a replaced SQLite database that were kept.

    SQLite: written beside the target, synced and renamed over it. PostgreSQL: pg_restore
    --clean in one transaction, as the owner's role where the configuration names one, since
    it recreates the tables."""
    manifest = plan.manifest
    copy = plan.directory / manifest.database_file
    if config.is_sqlite:
        target = store.sqlite_path(config.database_url)
        store.require_owner(target.parent)
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        digest = manifest.files[manifest.database_file].sha256
        return await asyncio.to_thread(store.install_sqlite, copy, target, digest, stamp)
    await store.restore_postgres(
        config.migration_url, copy, manifest.tables, _stage(stages, "restoring tables")
    )
    return []


async def restored_revision(config: Config) -> str | None:
    db = Database(config.database_url)
    try:
        return await db.current_revision()
    finally:
        await db.dispose()


async def unpinned_hub_keys(db: Database, config: Config) -> list[str]:
    """The hub signing keys in the database that are not pinned on this host (hex)."""
    pins = read_pins(pin_path(config.kek_path))
    async with db.read() as conn:
        keys = await checkpoint_store.all_hub_keys(conn)
    return [k.public_key.hex() for k in keys if k.public_key not in pins]


def _stage(stages: Stages, name: str) -> store.Progress:
    return lambda done, total: stages(name, done, total)
