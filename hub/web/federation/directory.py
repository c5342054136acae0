"""GET /federation/v1/directory: this hub's receiving agencies' public keys, signed by its key."""

from __future__ import annotations

from aiohttp import web

from hub.web.federation.signed import FederationRoutes
from hub.web.keys import HUB

routes = FederationRoutes()


@routes.get("/directory")
async def directory(request: web.Request) -> web.StreamResponse:
    document = await request.app[HUB].peers.publish_directory()
    return web.Response(body=document, content_type="application/json")
