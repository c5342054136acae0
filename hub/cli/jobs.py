"""``mappa-hub jobs``: which gateway process runs each background job, and for how long more.

For the operator of several gateways: each job (checkpoints, reminders, peer delivery) runs in the
one process holding its lease (hub.services.leases); this shows the holder (host:pid:nonce), how
many times the job has changed hands (the epoch), and the seconds its lease has left.
"""

from __future__ import annotations

import argparse
from typing import Any

from hub.config import Config
from hub.wiring import Hub

# The background jobs' names (hub.cli.background runs them), as their leases are held.
CHECKPOINTS, REMINDERS, PEER_DELIVERY = "checkpoints", "reminders", "peer-delivery"

JOBS = {
    CHECKPOINTS: "sign checkpoints of the log, and ask peer hubs to witness them",
    REMINDERS: "raise reminders for overdue items, tell of requests due soon, send digests",
    PEER_DELIVERY: "tell peer hubs of transfer steps",
}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("jobs", parents=[common], help="which server process runs each background job")


async def run(args: argparse.Namespace, config: Config) -> int:
    hub = await Hub.open(config)
    try:
        held = {row.name: (row, left) for row, left in await hub.leases.current()}
    finally:
        await hub.close()
    lease = hub.config.lease_seconds
    print(f"{'job':<14} {'held by':<48} {'epoch':>5}  lease")
    for name, what in JOBS.items():
        if name not in held:
            print(f"{name:<14} {'(no server has run it yet)':<48} {'':>5}  -")
        else:
            row, left = held[name]
            state = (
                f"{left:.0f} s left"
                if left > 0
                else f"free (released, or its holder stopped): a running server takes it within "
                f"{lease / 3:.0f} s"
            )
            print(f"{name:<14} {row.holder:<48} {row.epoch:>5}  {state}")
        print(f"{'':<14} {what}")
    return 0
