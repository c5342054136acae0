"""``mappa-hub transfer export CASE --out FILE [--to-area CODE]``, ``transfer import FILE`` and
``transfer send TRANSFER_ID --as USER`` (an accepted transfer to an area of this hub, sent as its
signed bundle, verified and imported here; ``adapters.transfer.send``; to a peer hub, uploaded
and closed by its signed acknowledgement: ``adapters.transfer.peer_send``).

Dispatched from ``hub.cli.transfer``. Export writes the signed bundle (a tar, 0600) and says what
the bundle lacks; import checks everything and imports all or nothing. Exit 0 done, 1 refused
(with the reason), 2 bad usage (no such case or area, a file that cannot be read or written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.cli.progress import Progress
from hub.config import Config
from hub.errors import HubError, InvalidInput, NotFound
from hub.wiring import Hub

if TYPE_CHECKING:
    from adapters.transfer.peer_messages import Delivery
    from hub.model.transfers import Transfer

# Each command imports the parts of the adapter it runs (hub.cli's note: start-up).

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
    s = actions.add_parser(
        "send",
        parents=[common],
        help="send an accepted transfer (to an area of this hub, or to a peer hub)",
    )
    s.add_argument("transfer_id", type=int)
    s.add_argument("--as", dest="as_user", required=True, help="the coordinator's username")
    d = actions.add_parser(
        "deliver",
        parents=[common],
        help="tell peer hubs now what they are owed about transfers (proposals, decisions)",
    )
    d.add_argument("transfer_id", type=int, nargs="?", help="only this transfer's message")


def _error(message: str) -> None:
    print(f"mappa-hub: {message}", file=sys.stderr)


async def run(args: argparse.Namespace, config: Config) -> int:
    if args.action == "export":
        return await _export(args, config)
    if args.action == "import":
        return await _import(args, config)
    if args.action == "send":
        return await _send(args, config)
    if args.action == "deliver":
        return await _deliver(args, config)
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
    from adapters.transfer.bag import build_bundle

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
    from adapters.transfer.importer import import_bundle
    from hub.services.transfer_bundle import BundleRefused

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


async def _send(args: argparse.Namespace, config: Config) -> int:
    from adapters.transfer.peer_send import send_to_peer
    from adapters.transfer.send import send_within_hub
    from hub.cli.transfer import acting_as
    from hub.services.transfer_bundle import BundleRefused

    hub = await Hub.open(config)
    try:
        actor = await acting_as(hub, args.as_user)
        if (await hub.transfers.transfer_by_id(args.transfer_id)).peer_name:
            return _sent_to_peer(await send_to_peer(hub, args.transfer_id, actor))
        sent = await send_within_hub(hub, actor, args.transfer_id)
    except (NotFound, InvalidInput) as exc:
        _error(exc.public_message)
        return EXIT_USAGE
    except BundleRefused as exc:
        _error(f"refused: {exc.reason}; the transfer is not sent")
        return EXIT_FAILED
    except HubError as exc:
        _error(f"refused: {exc.public_message}")
        return EXIT_FAILED
    finally:
        await hub.close()
    t = sent.transfer
    print(
        f"transfer {t.id}: {t.case_reference} sent to {t.receiving_area_code} as bundle "
        f"{sent.imported.bundle_id}, sha256 {sent.digest}: {sent.imported.packets} packet(s) "
        "verified, keys added for the receiving agencies; the receiving coordinator confirms"
    )
    for item in sent.completeness.missing:
        print(f"lacks: {item.label}: {item.detail}", file=sys.stderr)
    return EXIT_OK


def _sent_to_peer(t: Transfer) -> int:
    print(
        f"transfer {t.id}: {t.case_reference} sent to {t.receiving_area_code} on peer hub "
        f"{t.peer_name}, acknowledged (sha256 {t.ack_digest}): {t.state.value}"
    )
    return EXIT_OK


def _delivery_line(d: Delivery) -> str:
    if d.delivered:
        return f"transfer {d.transfer_id}: {d.message.value} delivered to peer hub {d.peer_name}"
    return (
        f"transfer {d.transfer_id}: {d.message.value} not delivered to peer hub {d.peer_name}: "
        f"{d.error}; tried again later"
    )


async def deliver_lines(hub: Hub, transfer_id: int) -> list[str]:
    """After a CLI step of a transfer between hubs: its message, tried now."""
    from adapters.transfer.peer_messages import deliver_owed

    return [_delivery_line(d) for d in await deliver_owed(hub, transfer_id)]


async def _deliver(args: argparse.Namespace, config: Config) -> int:
    from adapters.transfer.peer_messages import deliver_owed

    hub = await Hub.open(config)
    try:
        done = await deliver_owed(hub, args.transfer_id)
    finally:
        await hub.close()
    for d in done:
        print(_delivery_line(d), file=sys.stdout if d.delivered else sys.stderr)
    if not done:
        print("nothing is owed to a peer hub now")
    return EXIT_OK if all(d.delivered for d in done) else EXIT_FAILED
