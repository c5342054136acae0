"""``mappa-hub backup --out DIR`` and ``mappa-hub restore DIR [--force] [--dry-run]``
(``hub.services.backup``).

``backup`` writes a consistent copy of the database into a new or empty DIR (SQLite's online
backup API, or pg_dump) with a manifest, and ends by naming what it does not hold: the KEK and the
pin files, which the operator keeps elsewhere. ``restore`` checks the manifest and every file
before it changes anything, refuses to replace a database without --force, restores, then runs
the checks of ``ledger verify`` and compares the log with the manifest.

Exit 0 done; 1 a check failed (a damaged backup, a restored log that does not verify or is not
the backup's, a missing KEK) or a tool failed; 2 bad usage, a non-empty --out, or a target that
holds a database without --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from hub.cli.progress import Progress
from hub.clock import SystemClock
from hub.config import Config
from hub.errors import HubError
from hub.wiring import Hub

if TYPE_CHECKING:
    from hub.services.backup import Manifest

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of the database, with a manifest"
    )
    b.add_argument("--out", type=Path, required=True, help="a new or empty directory")
    r = sub.add_parser(
        "restore", parents=[common], help="restore a backup made by 'backup', then verify the log"
    )
    r.add_argument("directory", type=Path, help="the backup directory")
    r.add_argument(
        "--force", action="store_true", help="replace the database there (stop the hub first)"
    )
    r.add_argument(
        "--dry-run", action="store_true", help="check the backup and the target; change nothing"
    )


class _Stages:
    """A progress line per stage of the work, on a terminal."""

    def __init__(self) -> None:
        self._name: str | None = None
        self._line: Progress | None = None

    def __call__(self, name: str, done: int, total: int) -> None:
        if name != self._name or self._line is None:
            self.close()
            self._name, self._line = name, Progress(name)
        self._line(done, total)

    def close(self) -> None:
        if self._line is not None:
            self._line.close()
        self._name, self._line = None, None


async def run_backup(args: argparse.Namespace, config: Config) -> int:
    from hub.services import backup

    stages = _Stages()
    try:
        manifest = await backup.make_backup(config, args.out, SystemClock(), stages)
    finally:
        stages.close()
    print(f"backup written to {args.out}:")
    for name, f in manifest.files.items():
        print(f"  {name}  {f.size:,} bytes, SHA-256 {f.sha256}")
    print(f"  {backup.MANIFEST}")
    _describe(manifest, _source(config, config.database_url))
    _print_kept_elsewhere(config, "NOT in this backup: keep these elsewhere, apart from it")
    return EXIT_OK


async def run_restore(args: argparse.Namespace, config: Config) -> int:
    from hub.services import backup

    stages = _Stages()
    try:
        plan = await backup.check_restore(config, args.directory, args.force, stages)
        manifest = plan.manifest
        print(f"backup {args.directory} is intact (every file's SHA-256 checked):")
        _describe(manifest, None)
        target = _source(config, config.migration_url)
        if args.dry_run:
            print(f"would restore into {target}, replacing {plan.replaces or 'nothing'}")
            print("dry run: nothing was changed")
            _print_kept_elsewhere(config, "NOT restored by this command: put these back first")
            return EXIT_OK
        kept = await backup.restore(config, plan, SystemClock(), stages)
    finally:
        stages.close()
    print(f"database restored into {target}")
    for path in kept:
        print(f"  the database it replaced is kept as {path}")
    status = await _verify_restored(config, manifest)
    _print_kept_elsewhere(config, "NOT restored by this command: put back the ones missing here")
    return status


async def _verify_restored(config: Config, manifest: Manifest) -> int:
    """The checks of ``ledger verify`` on the restored database, and its log against the
    manifest's: the same size and Merkle root, every hub key pinned."""
    from hub.services import backup
    from hub.services.checkpoints import pin_path
    from hub.store.database import head_revision

    try:
        revision = await backup.restored_revision(config)
    except HubError as exc:
        return _failed(f"the database was restored, but cannot be read: {exc.public_message}")
    if revision != manifest.revision:
        return _failed(f"the restored database is at revision {revision}, not the manifest's")
    if revision != head_revision():
        return _failed(
            f"the restored database is at schema revision {revision} and this mappa-hub needs "
            f"{head_revision()}: run 'mappa-hub init' to migrate it, then 'mappa-hub ledger verify'"
        )
    if not config.kek_path.exists():
        return _failed(
            f"there is no KEK at {config.kek_path}: put it back from its own backup (it is never "
            "in a database backup), then run 'mappa-hub ledger verify'"
        )
    try:
        hub = await Hub.open(config)
        try:
            progress = Progress("verifying")
            try:
                report = await hub.ledger.verify((), progress)
            finally:
                progress.close()
            unpinned = await backup.unpinned_hub_keys(hub.db, config)
        finally:
            await hub.close()
    except HubError as exc:
        return _failed(f"the restored database does not check out: {exc.public_message}")
    print(
        f"ledger verified: {report.entries} entries, chain intact, Merkle root "
        f"{report.root.hex()}; {report.checkpoints} signed checkpoints consistent"
    )
    if report.entries != manifest.tree_size or report.root != manifest.root:
        return _failed(
            f"the restored log ({report.entries} entries) is not the one the manifest names "
            f"({manifest.tree_size} entries, root {manifest.root.hex()})"
        )
    print("the restored log is the backup's: the same size and Merkle root as its manifest")
    if unpinned:
        return _failed(
            f"the hub signing key {unpinned[0]} in the restored database is not pinned in "
            f"{pin_path(config.kek_path)}: put back the pin file kept with the KEK, or find out "
            "where the key came from before starting the hub"
        )
    return EXIT_OK


def _failed(message: str) -> int:
    print(f"mappa-hub: {message}", file=sys.stderr)
    return EXIT_FAILED


def _describe(manifest: Manifest, source: str | None) -> None:
    where = f" from {source}" if source else ""
    print(
        f"database: {manifest.database}{where}, schema revision {manifest.revision}, copied "
        f"{manifest.created_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    print(f"log: {manifest.tree_size} entries, Merkle root {manifest.root.hex()}")
    keks = ", ".join(manifest.kek_ids) or "none (no keys yet)"
    print(f"its keys are wrapped under KEK id {keks}")


def _source(config: Config, url: str) -> str:
    if config.is_sqlite:
        return str(make_url(url).database)
    return make_url(url).render_as_string(hide_password=True)


def _print_kept_elsewhere(config: Config, heading: str) -> None:
    from hub.services import backup

    print(f"\n{heading}:")
    for kept in backup.kept_elsewhere(config):
        missing = "" if kept.present else "  [not on this host]"
        print(f"  {kept.path}{missing}\n      {kept.what}")
