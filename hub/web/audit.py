"""Access reports for auditors and coordinators: the log, never the content."""

from __future__ import annotations

from aiohttp import web

from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


@routes.get("/audit")
async def overview(request: web.Request) -> web.StreamResponse:
    cases, users = await request.app[HUB].access.overview(request[ACTOR])
    return render(request, "audit.html", cases=cases, users=users)


@routes.get("/audit/cases/{case_id:\\d{1,12}}")
async def case_report(request: web.Request) -> web.StreamResponse:
    case, rows = await request.app[HUB].access.case_report(
        request[ACTOR], int(request.match_info["case_id"])
    )
    return render(request, "audit_report.html", title=f"Case {case.reference}", rows=rows)


@routes.get("/audit/users/{user_id:\\d{1,12}}")
async def user_report(request: web.Request) -> web.StreamResponse:
    user, rows = await request.app[HUB].access.user_report(
        request[ACTOR], int(request.match_info["user_id"])
    )
    title = f"User {user.display_name} ({user.username})"
    return render(request, "audit_report.html", title=title, rows=rows)
