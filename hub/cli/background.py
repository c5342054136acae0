"""The server's background jobs, each run by one process at a time across every gateway.

Every server process (every ``--workers`` helper, on every machine) starts ``start_jobs``; each
job runs only where its lease is held (hub.services.leases), and moves to another process when
its holder dies. The email outbox is the exception: every process drains it, each claiming its
own rows (adapters/email/sender.py), so that sending scales with the gateways.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.email.sender import run_sender
from adapters.transfer.peer_messages import run_delivery
from hub.cli.jobs import CHECKPOINTS, PEER_DELIVERY, REMINDERS
from hub.cli.witness import witness_round
from hub.services.leases import Lease, run_elected
from hub.wiring import Hub

log = logging.getLogger("hub.serve")

REMINDER_INTERVAL_SECONDS = 15 * 60


async def sign_checkpoints(hub: Hub, lease: Lease) -> None:
    """Sign a checkpoint at each interval if the log has grown (and once on taking the job)."""
    interval = hub.config.checkpoint_interval.total_seconds()

    async def fence(conn: AsyncConnection) -> None:
        await hub.leases.fence(conn, lease)

    while True:
        try:
            cp = await hub.ledger.checkpoint_if_grown(fence)
            if cp is not None:
                log.info("checkpoint signed at tree size %s (epoch %d)", cp.tree_size, lease.epoch)
            # Each round, not only when grown: a peer that missed the last one is asked again.
            await witness_round(hub)
        except Exception:  # a failed checkpoint must not stop the server; the next one retries
            log.exception("checkpoint failed")
        await asyncio.sleep(interval)


async def sweep(hub: Hub) -> None:
    """One pass of the background sweep: items gone overdue each raise one reminder (shown in
    the inbox, and an email notice), requests due soon are told once, and after the configured
    local time the daily digests go. Logged by count and kind only: no case details in logs."""
    items = await hub.casework.raise_reminders()
    if items:
        kinds = sorted({i.kind.value for i in items})
        log.info("%d item(s) went overdue: %s", len(items), ", ".join(kinds))
    # Requests falling due soon: told once each (the outbox's dedupe key).
    soon = await hub.notices.sweep_due_soon()
    if soon:
        log.info("%d due-soon notice(s) queued", soon)
    # Once a day after MAPPA_HUB_DIGEST_TIME (UK time): digest:<user>:<date> keeps it to once.
    if hub.notices.digest_due():
        await hub.notices.run_digests()


async def raise_reminders(hub: Hub, _lease: Lease) -> None:
    # Each sweep is idempotent (dedupe keys), so a new holder sweeping at once repeats nothing.
    while True:
        try:
            await sweep(hub)
        except Exception:  # a failed sweep must not stop the server; the next one retries
            log.exception("reminder sweep failed")
        await asyncio.sleep(REMINDER_INTERVAL_SECONDS)


async def deliver_to_peers(hub: Hub, _lease: Lease) -> None:
    await run_delivery(hub)


def start_jobs(hub: Hub, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """This process's part in the background work: a bid for each job, and its outbox sender."""
    loop = asyncio.get_running_loop()
    elected = {
        CHECKPOINTS: sign_checkpoints,
        REMINDERS: raise_reminders,
        PEER_DELIVERY: deliver_to_peers,
    }
    tasks = [
        loop.create_task(
            run_elected(hub.leases, name, functools.partial(job, hub)),
            name=f"elected:{name}",
        )
        for name, job in elected.items()
    ]
    tasks.append(loop.create_task(run_sender(hub, stop), name="email-sender"))
    return tasks
