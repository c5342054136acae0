"""The request-for-information queue: answer, decline with a reason, or follow one's own.

A refused decline (no reason, too long) comes back on the queue with the reason as typed and an
error summary linking its field; links to packets are offered only where the reader may open them.
"""

from __future__ import annotations

from aiohttp import web

from hub.errors import InvalidInput
from hub.services.requests import MAX_REASON_CHARS
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
_NOTICES = {"declined": "The request was declined; the requester can see your reason."}


def _id(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    error: str = "",
    failed_id: int | None = None,
    typed: str = "",
) -> web.Response:
    hub, actor = request.app[HUB], request[ACTOR]
    rq = await hub.requests.queue(actor)
    views = rq.incoming + rq.outgoing
    packet_ids = [r.row.packet_id for r in views]
    packet_ids += [r.row.response_packet_id for r in views if r.row.response_packet_id]
    return render(
        request,
        "requests.html",
        status=status,
        queue=rq,
        notice=_NOTICES.get(request.query.get("done", ""), ""),
        openable=await hub.packets.listing.openable(actor, packet_ids),
        error=error,
        failed_id=failed_id,
        typed=typed,
        max_reason=MAX_REASON_CHARS,
        error_title_prefix=bool(error),
    )


@routes.get("/requests")
async def queue(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/requests/{request_id:\\d{1,12}}/decline")
async def decline(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    reason = form.get("reason")
    typed = reason if isinstance(reason, str) else ""
    request_id = _id(request, "request_id")
    try:
        await request.app[HUB].requests.decline(request[ACTOR], request_id, typed)
    except InvalidInput as exc:
        return await _page(
            request, status=400, error=exc.public_message, failed_id=request_id, typed=typed
        )
    raise web.HTTPSeeOther("/requests?done=declined")
