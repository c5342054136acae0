"""Running the web server (used by ``serve`` and ``demo``)."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from hub.web.app import build_app
from hub.wiring import Hub


async def run_server(hub: Hub, host: str, port: int, banner: str = "") -> None:
    """Serve until SIGINT/SIGTERM, then close cleanly."""
    app = build_app(hub)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(banner or f"MAPPA Hub listening on http://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await hub.close()
