"""The accessibility statement: reachable signed in or out (hub.web.sessions allows it)."""

from __future__ import annotations

from aiohttp import web

from hub.web.keys import HUB
from hub.web.render import render

routes = web.RouteTableDef()


@routes.get("/accessibility")
async def statement(request: web.Request) -> web.StreamResponse:
    sessions = request.app[HUB].config.sessions
    return render(
        request,
        "accessibility.html",
        idle_minutes=int(sessions.idle_timeout.total_seconds() // 60),
        absolute_hours=int(sessions.absolute_timeout.total_seconds() // 3600),
    )
