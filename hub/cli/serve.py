"""Running the web server (used by ``serve`` and ``demo``)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from aiohttp import web

from adapters.email.sender import run_sender
from adapters.transfer.peer_messages import run_delivery
from hub.cli.witness import witness_round
from hub.errors import ConfigError
from hub.policy.loader import PolicyError
from hub.web.app import build_app
from hub.wiring import Hub

log = logging.getLogger("hub.serve")


async def reload_policy(hub: Hub) -> None:
    """SIGHUP: re-read the policy files; a bad file leaves the version in force untouched."""
    try:
        new = await hub.policy.reload()
    except PolicyError as exc:
        log.error("policy reload refused, keeping %s: %s", hub.policy.current.short_version, exc)
        return
    log.warning("policy in force: %s", new.short_version)


async def _sign_checkpoints(hub: Hub) -> None:
    """Sign a checkpoint at each interval if the log has grown (and once at start)."""
    interval = hub.config.checkpoint_interval.total_seconds()
    while True:
        try:
            cp = await hub.ledger.checkpoint_if_grown()
            if cp is not None:
                log.info("checkpoint signed at tree size %s", cp.tree_size)
            # Each round, not only when grown: a peer that missed the last one is asked again.
            await witness_round(hub)
        except Exception:  # a failed checkpoint must not stop the server; the next one retries
            log.exception("checkpoint failed")
        await asyncio.sleep(interval)


REMINDER_INTERVAL_SECONDS = 15 * 60
WORKER_READY = "worker ready"


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


async def _raise_reminders(hub: Hub) -> None:
    while True:
        try:
            await sweep(hub)
        except Exception:  # a failed sweep must not stop the server; the next one retries
            log.exception("reminder sweep failed")
        await asyncio.sleep(REMINDER_INTERVAL_SECONDS)


async def run_server(
    hub: Hub,
    host: str,
    port: int,
    banner: str = "",
    *,
    reuse_port: bool = False,
    background: bool = True,
    helpers: Sequence[subprocess.Popen[bytes]] = (),
) -> None:
    """Serve until SIGINT/SIGTERM, then close cleanly. SIGHUP re-reads the policy files.

    With ``--workers N`` this runs in each of N processes sharing the port (``reuse_port``): the
    first one also signs checkpoints, sweeps reminders and tells peer hubs of transfer steps
    (``background``), and passes SIGHUP and the stop on to the others (``helpers``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        for helper in helpers:
            helper.send_signal(signal.SIGHUP)
        task = loop.create_task(reload_policy(hub))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    # Handlers first: a SIGHUP arriving once we say we are listening must reload, not kill us.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    tasks = []
    if background:
        tasks = [
            loop.create_task(_sign_checkpoints(hub)),
            loop.create_task(_raise_reminders(hub)),
            # What peer hubs are owed about transfers between hubs: one sender per hub.
            loop.create_task(run_delivery(hub)),
        ]
    # Every worker drains the email outbox: each claims its own rows (adapters/email/sender.py).
    tasks.append(loop.create_task(run_sender(hub, stop)))
    app = build_app(hub)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # The helpers listen first: once this port answers, every worker is up (a SIGHUP sent to a
    # worker still starting would kill it).
    for helper in helpers:
        if helper.stdout is None or not await asyncio.to_thread(helper.stdout.readline):
            for other in helpers:
                other.terminate()
            raise ConfigError("a server worker failed to start; see its messages above")
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    if background:
        print(banner or f"MAPPA Hub listening on http://{host}:{port}/", flush=True)
    else:
        print(WORKER_READY, flush=True)
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for helper in helpers:
            helper.terminate()
        await runner.cleanup()
        await hub.close()
        for helper in helpers:
            await asyncio.to_thread(helper.wait)


def start_helpers(argv: Sequence[str], count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` more server processes with the same command line, as helper workers."""
    command = [sys.executable, "-m", "hub", *argv, "--worker-of", str(os.getpid())]
    # The operator's own command line, re-run: nothing untrusted reaches it. Each helper says
    # WORKER_READY on its stdout once it listens.
    return [
        subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603
        for _ in range(count)
    ]
