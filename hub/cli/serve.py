"""Running the web server (used by ``serve`` and ``demo``)."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from aiohttp import web

from hub.cli import heap
from hub.cli.background import start_jobs
from hub.errors import ConfigError
from hub.policy.loader import PolicyError
from hub.web.app import build_app
from hub.wiring import Hub

log = logging.getLogger("hub.serve")

WORKER_READY = "worker ready"
# A helper that died is started again after this long, doubled each time it dies young.
RESTART_DELAY_SECONDS, RESTART_DELAY_MAX_SECONDS, YOUNG_SECONDS = 1.0, 30.0, 60.0


async def reload_policy(hub: Hub) -> None:
    """SIGHUP: re-read the policy files; a bad file leaves the version in force untouched."""
    try:
        new = await hub.policy.reload()
    except PolicyError as exc:
        log.error("policy reload refused, keeping %s: %s", hub.policy.current.short_version, exc)
        return
    log.warning("policy in force: %s", new.short_version)


class Helpers:
    """The ``--workers`` helper processes of this server: started with this command line,
    told of SIGHUP and the stop, and started again if one dies (a crash, the OOM killer, kill -9)
    while the server runs."""

    def __init__(self, argv: Sequence[str], count: int, cpus: Sequence[int] | None = None) -> None:
        self._argv = list(argv)
        # Each helper's CPU, if the workers are kept on one each (hub.cli.affinity).
        self._cpus = list(cpus) if cpus else None
        self.processes = [self._start(i) for i in range(count)]
        self._started = [time.monotonic()] * count
        self._delay = [RESTART_DELAY_SECONDS] * count
        self.restarts = 0

    def _start(self, index: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "hub", *self._argv, "--worker-of", str(os.getpid())]
        if self._cpus is not None:
            command += ["--worker-cpu", str(self._cpus[index])]
        # The operator's own command line, re-run: nothing untrusted reaches it. Each helper
        # says WORKER_READY on its stdout once it listens.
        return subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603

    async def wait_ready(self) -> None:
        for helper in self.processes:
            if helper.stdout is None or not await asyncio.to_thread(helper.stdout.readline):
                self.terminate()
                raise ConfigError("a server worker failed to start; see its messages above")

    def send_signal(self, sig: int) -> None:
        for helper in self.processes:
            if helper.poll() is None:
                helper.send_signal(sig)

    async def supervise(self) -> None:
        """Restart helpers that die, until cancelled."""
        while True:
            await asyncio.sleep(0.5)
            for i, helper in enumerate(self.processes):
                code = helper.poll()
                if code is None:
                    continue
                young = time.monotonic() - self._started[i] < YOUNG_SECONDS
                delay = self._delay[i] if young else RESTART_DELAY_SECONDS
                log.error("server worker %d exited (%s); starting another in %.0fs", helper.pid,
                          code, delay)  # fmt: skip
                await asyncio.sleep(delay)
                self.processes[i] = self._start(i)
                self._started[i] = time.monotonic()
                self._delay[i] = min(delay * 2, RESTART_DELAY_MAX_SECONDS)
                self.restarts += 1

    def terminate(self) -> None:
        for helper in self.processes:
            if helper.poll() is None:
                helper.terminate()

    async def wait(self) -> None:
        for helper in self.processes:
            await asyncio.to_thread(helper.wait)


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    """A helper whose server died (kill -9) stops too: its service manager starts a new one."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.error("the server process %d is gone: this worker stops", parent)
            stop.set()
        await asyncio.sleep(1)


async def run_server(
    hub: Hub,
    host: str,
    port: int,
    banner: str = "",
    *,
    reuse_port: bool = False,
    worker_of: int | None = None,
    helpers: Helpers | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then close cleanly. SIGHUP re-reads the policy files.

    With ``--workers N`` this runs in each of N processes sharing the port (``reuse_port``); the
    first passes SIGHUP and the stop on to the others (``helpers``) and restarts any that die.
    Every process bids for the background jobs (hub.cli.background): each runs in one of them."""
    heap.tune()
    # kill -USR1 writes every thread's stack to stderr (the journal): for a process that will not
    # stop or answer, what it is waiting on. Frames only: names and lines, never values.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    side: set[asyncio.Task[None]] = set()

    def keep(task: asyncio.Task[None]) -> None:
        side.add(task)
        task.add_done_callback(side.discard)

    def on_hup() -> None:
        if helpers is not None:
            helpers.send_signal(signal.SIGHUP)
        keep(loop.create_task(reload_policy(hub)))

    # Handlers first: a SIGHUP arriving once we say we are listening must reload, not kill us.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    hub.build_all()  # before the jobs and the first request (hub.wiring)
    tasks = start_jobs(hub, stop)
    if worker_of is not None:
        tasks.append(loop.create_task(_orphaned(worker_of, stop)))
    app = build_app(hub)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # The helpers listen first: once this port answers, every worker is up (a SIGHUP sent to a
    # worker still starting would kill it).
    if helpers is not None:
        await helpers.wait_ready()
        tasks.append(loop.create_task(helpers.supervise()))
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    heap.settle()  # before the first request: its pause is start-up's
    if worker_of is None:
        print(banner or f"MAPPA Hub listening on http://{host}:{port}/", flush=True)
    else:
        print(WORKER_READY, flush=True)
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        # The jobs release their leases as they stop: another gateway takes them at once.
        await asyncio.gather(*tasks, return_exceptions=True)
        if helpers is not None:
            helpers.terminate()
        await runner.cleanup()
        await hub.close()
        if helpers is not None:
            await helpers.wait()
