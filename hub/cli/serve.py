"""Running the web server (used by ``serve`` and ``demo``)."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

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
        except Exception:  # a failed checkpoint must not stop the server; the next one retries
            log.exception("checkpoint failed")
        await asyncio.sleep(interval)


REMINDER_INTERVAL_SECONDS = 15 * 60


async def _raise_reminders(hub: Hub) -> None:
    """Sweep for items gone overdue: each raises one reminder (shown in the inbox; the stamp is
    what an email notifier picks up). Logged by count and kind only: no case details in logs."""
    while True:
        try:
            items = await hub.casework.raise_reminders()
            if items:
                kinds = sorted({i.kind.value for i in items})
                log.info("%d item(s) went overdue: %s", len(items), ", ".join(kinds))
        except Exception:  # a failed sweep must not stop the server; the next one retries
            log.exception("reminder sweep failed")
        await asyncio.sleep(REMINDER_INTERVAL_SECONDS)


async def run_server(hub: Hub, host: str, port: int, banner: str = "") -> None:
    """Serve until SIGINT/SIGTERM, then close cleanly. SIGHUP re-reads the policy files."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = loop.create_task(reload_policy(hub))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    # Handlers first: a SIGHUP arriving once we say we are listening must reload, not kill us.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    checkpoints = loop.create_task(_sign_checkpoints(hub))
    reminders = loop.create_task(_raise_reminders(hub))
    app = build_app(hub)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(banner or f"MAPPA Hub listening on http://{host}:{port}/", flush=True)
    try:
        await stop.wait()
    finally:
        checkpoints.cancel()
        reminders.cancel()
        await runner.cleanup()
        await hub.close()
