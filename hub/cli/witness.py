"""``mappa-hub witness run|list|export``: peers witnessing each other's logs (hub.services.witness).

``run`` asks every pinned peer to cosign this hub's newest checkpoint now (``serve`` does it after
each checkpoint it signs); exit 1 if a peer refused or could not be reached, or showed that this
hub's log was cut short. ``list`` shows both sides: the peers' checkpoints this hub cosigned and
this hub's checkpoints its peers cosigned. ``export PEER --out FILE`` writes the peer's checkpoint
with this hub's cosignature, for the peer's operator to hold its log to with ``ledger verify
--checkpoint FILE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import Config
from hub.wiring import Hub

if TYPE_CHECKING:
    from hub.services.witness import WitnessService

EXIT_OK, EXIT_FAILED = 0, 1

log = logging.getLogger("hub.witness")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    witness = sub.add_parser("witness", help="peers witnessing each other's logs")
    actions = witness.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "run", parents=[common], help="ask every pinned peer to cosign the newest checkpoint now"
    )
    actions.add_parser("list", parents=[common], help="checkpoints cosigned, both ways")
    e = actions.add_parser(
        "export", parents=[common], help="a peer's checkpoint with this hub's cosignature"
    )
    e.add_argument("peer", help="the peer's name")
    e.add_argument("--out", type=Path, required=True, help="file to write")


async def run(args: argparse.Namespace, config: Config) -> int:
    hub = await Hub.open(config)
    try:
        witness: WitnessService = hub.witness
        if args.action == "run":
            return await _run(witness)
        if args.action == "export":
            held = await witness.export_witnessed(args.peer)
            args.out.write_text(json.dumps(held.to_json(), indent=2) + "\n", encoding="utf-8")
            print(
                f"{args.peer}'s checkpoint at size {held.checkpoint.tree_size}, cosigned by this "
                f"hub, written to {args.out}: give it to {args.peer}'s operator"
            )
            return EXIT_OK
        print("peers' checkpoints this hub cosigned (peer, tree size, root, cosigned at):")
        for w in await witness.witnessed():
            print(
                f"  {w.peer_name}\t{w.checkpoint.tree_size}\t{w.checkpoint.root.hex()}\t"
                f"{w.cosignature.cosigned_at:%Y-%m-%d %H:%M:%S}Z"
            )
        print("this hub's checkpoints its peers cosigned (peer, tree size, root, cosigned at):")
        for r in await witness.received():
            print(
                f"  {r.peer_name}\t{r.checkpoint.tree_size}\t{r.checkpoint.root.hex()}\t"
                f"{r.cosignature.cosigned_at:%Y-%m-%d %H:%M:%S}Z"
            )
        return EXIT_OK
    finally:
        await hub.close()


async def _run(witness: WitnessService) -> int:
    from hub.services.witness import LogTruncated

    try:
        outcomes = await witness.run()
    except LogTruncated as exc:
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_FAILED
    if not outcomes:
        print("nothing to cosign: no pinned peers, or no checkpoint yet")
    for o in outcomes:
        if o.error is None:
            print(f"{o.peer}: cosigned the checkpoint at size {o.tree_size}")
        else:
            print(f"{o.peer}: not cosigned: {o.error}", file=sys.stderr)
    return EXIT_FAILED if any(o.error for o in outcomes) else EXIT_OK


async def witness_round(hub: Hub) -> None:
    """One round for ``serve``'s background loop: ask the peers, log the outcome by peer name and
    size only. Does nothing until a transport to peers is wired."""
    from hub.services.witness import LogTruncated

    if not hub.witness.has_transport:
        return
    try:
        outcomes = await hub.witness.run()
    except LogTruncated:
        log.critical("a peer holds a cosigned checkpoint this hub's log no longer contains")
        raise
    for o in outcomes:
        if o.error is None:
            log.info("%s cosigned checkpoint %s", o.peer, o.tree_size)
