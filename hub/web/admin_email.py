"""The agency's email queue, for its administrator: messages waiting to go and dead letters.

Shows the event in words, the address, attempts, the next attempt and the last error; never what
a message says (a letter's text is sealed; a notification carries none). A dead letter can be
put back in the queue (``NoticeService.retry_dead``).
"""

from __future__ import annotations

from aiohttp import web

from hub.errors import InvalidInput, NotFound
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
PATH = "/admin/email"


async def _page(
    request: web.Request, *, status: int = 200, errors: list[dict[str, str]] | None = None
) -> web.Response:
    queued, dead = await request.app[HUB].notices.agency_outbox(request[ACTOR])
    return render(
        request,
        "admin_email.html",
        status=status,
        queued=queued,
        dead=dead,
        errors=errors or [],
        retried=request.query.get("retried") == "1",
        error_title_prefix=bool(errors),
    )


@routes.get(PATH)
async def queue(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post(PATH + "/{row_id:\\d{1,12}}/retry")
async def retry(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[HUB].notices.retry_dead(request[ACTOR], int(request.match_info["row_id"]))
    except (InvalidInput, NotFound) as exc:
        return await _page(request, status=exc.status, errors=[{"text": exc.public_message}])
    raise web.HTTPSeeOther(f"{PATH}?retried=1")
