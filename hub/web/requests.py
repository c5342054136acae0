"""The request-for-information queue: answer, decline with a reason, or follow one's own."""

from __future__ import annotations

from aiohttp import web

from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


def _id(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None


@routes.get("/requests")
async def queue(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    rq = await hub.requests.queue(request[ACTOR])
    notice = {"declined": "The request was declined; the requester can see your reason."}.get(
        request.query.get("done", ""), ""
    )
    return render(request, "requests.html", queue=rq, notice=notice)


@routes.post("/requests/{request_id:\\d{1,12}}/decline")
async def decline(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    reason = form.get("reason")
    await request.app[HUB].requests.decline(
        request[ACTOR], _id(request, "request_id"), reason if isinstance(reason, str) else ""
    )
    raise web.HTTPSeeOther("/requests?done=declined")
