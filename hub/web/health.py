"""``GET /healthz``, for the proxy and the service manager: is this gateway able to serve?

Public (no session), and it says nothing but yes or no: 200 when the process can reach its
database within a second, else 503 with Retry-After, so a load balancer can take a gateway that
lost its database out of rotation.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from hub.store.outage import database_unavailable
from hub.web.keys import HUB

routes = web.RouteTableDef()

PING_SECONDS = 1.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        async with asyncio.timeout(PING_SECONDS):
            await request.app[HUB].db.ping()
    except Exception as exc:
        if not isinstance(exc, TimeoutError) and not database_unavailable(exc):
            raise
        response = web.json_response({"status": "unavailable"}, status=503)
        response.headers["Retry-After"] = "2"
        return response
    return web.json_response({"status": "ok"})
