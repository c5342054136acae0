"""The notifications page: what wants the signed-in person's attention (``NotificationService``)."""

from __future__ import annotations

from aiohttp import web

from hub.errors import Forbidden
from hub.services.notifications import NOTIFIED_ROLES
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


@routes.get("/notifications")
async def notifications(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    if not actor.has_role(*NOTIFIED_ROLES):
        raise Forbidden("Notifications are for practitioners, coordinators and senior managers.")
    found = await hub.notifications.for_actor(actor)
    openable_cases = await hub.casework.openable_files(actor, [d.row.case_id for d in found.due])
    packets = await hub.packets.listing.openable(actor, [r.row.packet_id for r in found.requests])
    return render(
        request,
        "notifications.html",
        found=found,
        openable_cases=openable_cases,
        openable_packets=packets,
    )
