"""``mappa-hub export visor CASE [--out FILE]`` and ``mappa-hub import visor FILE``.

The operator acts for the area's MAPPA coordination: an export passes the policy on the
``visor-export`` channel and is a disclosure on the log; an import is checked field by field and
written all or nothing. Exit 0 done, 1 refused or invalid (each problem on its own line), 2 bad
usage (no such case, a file that cannot be read or written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hub.cli.progress import Progress
from hub.config import Config
from hub.errors import HubError, NotFound, TooLarge
from hub.wiring import Hub

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    export = sub.add_parser("export", help="export a case (ViSOR-style nominal record)")
    e = export.add_subparsers(dest="action", required=True).add_parser(
        "visor", parents=[common], help="export a case's nominal record as JSON (a share)"
    )
    e.add_argument("case", help="case reference, e.g. DBY-2026-0001")
    e.add_argument("--out", type=Path, help="file to write (default: standard output)")
    imp = sub.add_parser("import", help="import a case (ViSOR-style nominal record)")
    i = imp.add_subparsers(dest="action", required=True).add_parser(
        "visor", parents=[common], help="import a nominal record file, all or nothing"
    )
    i.add_argument("file", type=Path, help="the JSON file (schema visor-record v1)")


async def run_export(args: argparse.Namespace, config: Config) -> int:
    from adapters.visor.exchange import export_record

    progress = Progress(f"exporting {args.case}")
    hub = await Hub.open(config)
    try:
        progress(0, 2)
        try:
            exported = await export_record(hub.visor_export, None, args.case)
        except NotFound as exc:
            print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
            return EXIT_USAGE
        progress(1, 2)
    finally:
        await hub.close()
    if args.out is None:
        sys.stdout.buffer.write(exported.data)
        sys.stdout.flush()
    else:
        # Personal data: readable by the operator alone, as the data directory is.
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(exported.data)
    progress(2, 2)
    progress.close()
    where = "standard output" if args.out is None else str(args.out)
    print(
        f"exported {exported.case.reference} to {where}: sha256 {exported.digest} "
        f"(policy {exported.decision.policy_version[:12]}, on the log)",
        file=sys.stderr,
    )
    return EXIT_OK


def _read(path: Path) -> bytes | None:
    """The file's bytes; None (said on stderr) if it is too large to be a record, unread."""
    from adapters.visor.format import MAX_BYTES

    if path.stat().st_size > MAX_BYTES:
        print(f"mappa-hub: {path}: larger than {MAX_BYTES // (1024 * 1024)} MB", file=sys.stderr)
        return None
    return path.read_bytes()


async def run_import(args: argparse.Namespace, config: Config) -> int:
    from adapters.visor.exchange import VisorExchange, VisorInvalid

    path: Path = args.file
    data = _read(path)
    if data is None:
        return EXIT_FAILED
    hub = await Hub.open(config)
    try:
        done = await VisorExchange(hub.visor).import_file(None, data)
    except VisorInvalid as exc:
        for error in exc.errors:
            print(f"{path}: {error['field']}: {error['message']}", file=sys.stderr)
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_FAILED
    except (TooLarge, HubError) as exc:
        for error in getattr(exc, "errors", ()):
            print(f"{path}: {error['field']}: {error['message']}", file=sys.stderr)
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await hub.close()
    what = "opened" if done.created_case else "updated"
    print(f"{done.case.reference}: case {what}, nominal record version {done.version}")
    return EXIT_OK
