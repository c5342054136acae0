"""``mappa-hub transfer export CASE --out FILE [--to-area CODE]`` and ``transfer import FILE``.

Dispatched from ``hub.cli.transfer``. Export writes the signed bundle (a tar, 0600) and says what
the bundle lacks; import checks everything and imports all or nothing. Exit 0 done, 1 refused
(with the reason), 2 bad usage (no such case or area, a file that cannot be read or written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adapters.transfer.bag import build_bundle
from adapters.transfer.importer import import_bundle
from hub.cli.progress import Progress
from hub.config import Config
from hub.errors import HubError, InvalidInput, NotFound
from hub.services.transfer_bundle import BundleRefused
from hub.wiring import Hub

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(actions: Any, common: argparse.ArgumentParser) -> None:
    e = actions.add_parser(
        "export", parents=[common], help="write a case's signed transfer bundle (BagIt, tar)"
    )
    e.add_argument("case", help="case reference, e.g. DBY-2026-0001")
    e.add_argument("--out", type=Path, required=True, help="the bundle file to write (.tar)")
    e.add_argument("--to-area", dest="to_area", help="receiving area code")
    i = actions.add_parser("import", parents=[common], help="verify and import a transfer bundle")
    i.add_argument("file", type=Path, help="the bundle (.tar) or an unpacked bag directory")


def _error(message: str) -> None:
    print(f"mappa-hub: {message}", file=sys.stderr)


async def run(args: argparse.Namespace, config: Config) -> int:
    if args.action == "export":
        return await _export(args, config)
    if args.action == "import":
        return await _import(args, config)
    _error(f"unknown transfer action {args.action}")
    return EXIT_USAGE


def _unwritable(out: Path) -> str | None:
    if out.is_dir():
        return f"{out} is a directory"
    if not out.parent.is_dir():
        return f"{out.parent} does not exist"
    return None


def _exists(path: Path) -> bool:
    return path.exists()


async def _export(args: argparse.Namespace, config: Config) -> int:
    out: Path = args.out
    problem = _unwritable(out)
    if problem:
        _error(problem)
        return EXIT_USAGE
    hub = await Hub.open(config)
    progress = Progress(f"bundling {args.case}")
    try:
        if not args.to_area:
            # The workflow's accepted transfer will supply it; until then it is said here.
            _error("say which area receives the case: --to-area CODE")
            return EXIT_USAGE
        built = await build_bundle(hub, args.case, args.to_area, out, progress=progress)
    except (NotFound, InvalidInput) as exc:
        _error(exc.public_message)
        return EXIT_USAGE
    except HubError as exc:
        _error(exc.public_message)
        return EXIT_FAILED
    finally:
        progress.close()
        await hub.close()
    print(
        f"bundle {built.bundle_id}: {built.packets} packet(s), {built.payload_bytes:,} bytes "
        f"encrypted, sha256 {built.digest} (signed tag manifest) -> {out}"
    )
    for item in built.completeness.missing:
        print(f"lacks: {item.label}: {item.detail}", file=sys.stderr)
    return EXIT_OK


async def _import(args: argparse.Namespace, config: Config) -> int:
    path: Path = args.file
    if not _exists(path):
        _error(f"{path}: no such file")
        return EXIT_USAGE
    hub = await Hub.open(config)
    progress = Progress(f"verifying {path.name}")
    try:
        done = await import_bundle(hub, path, progress=progress)
    except BundleRefused as exc:
        _error(f"refused: {exc.reason}; nothing was imported")
        return EXIT_FAILED
    except HubError as exc:
        _error(f"refused: {exc.public_message}; nothing was imported")
        return EXIT_FAILED
    finally:
        progress.close()
        await hub.close()
    what = "created" if done.created_case else "received into the existing case"
    print(
        f"bundle {done.bundle_id} from {done.from_area} ({done.sender}) to {done.to_area}: "
        f"case {done.case.reference} {what}, {done.packets} packet(s), verified and imported"
    )
    return EXIT_OK
