"""Cases and deadlines: the case page, meetings, release dates, actions and what is due."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from hub.errors import InvalidInput
from hub.model.directory import AgencyKind, Role
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
_NOTICES = {
    "meeting": "The meeting is recorded: its minutes and the next review are now due.",
    "release": "The release date is recorded: the referral is due six months before it.",
    "action": "The action is completed with its outcome.",
    "involved": "The agency is now active on this case: its case page opens to it.",
}


def _date(value: object, field: str) -> date:
    try:
        return date.fromisoformat(value if isinstance(value, str) else "")
    except ValueError:
        raise InvalidInput("Give the date as day, month and year.", field=field) from None


def _int(value: object, field: str) -> int:
    try:
        return int(value if isinstance(value, str) else "")
    except ValueError:
        raise InvalidInput(f"Choose the {field}.", field=field) from None


@routes.get("/cases")
async def cases(request: web.Request) -> web.StreamResponse:
    visible = await request.app[HUB].cases.visible_to(request[ACTOR])
    return render(request, "cases.html", cases=[c for c in visible if c.merged_into_id is None])


@routes.get("/cases/{case_id:\\d{1,12}}")
async def case_page(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    case_id = int(request.match_info["case_id"])
    case_file = await hub.casework.case_file(actor, case_id)
    register = await hub.disclosures.register(actor, case_id=case_id)
    case = case_file.case
    may_involve = actor.has_role(Role.COORDINATOR) or (
        actor.has_role(Role.PRACTITIONER) and actor.agency.id == case.lead_agency_id
    )
    candidates = []
    if may_involve:
        areas = {a.id: a.name for a in await hub.directory.areas()}
        candidates = [
            (a.code, f"{a.name} ({areas.get(a.area_id, '')})")
            for a in await hub.directory.agencies()
            if a.kind is not AgencyKind.THIRD_PARTY and a.name not in case_file.active_agencies
        ]
    return render(
        request,
        "case.html",
        file=case_file,
        views=register,
        candidates=candidates,
        notice=_NOTICES.get(request.query.get("done", ""), ""),
    )


@routes.post("/cases/{case_id:\\d{1,12}}/meetings")
async def record_meeting(request: web.Request) -> web.StreamResponse:
    case_id = int(request.match_info["case_id"])
    form = await request.post()
    await request.app[HUB].casework.record_meeting(
        request[ACTOR],
        case_id,
        _date(form.get("held_on"), "held_on"),
        _int(form.get("level"), "level"),
    )
    raise web.HTTPSeeOther(f"/cases/{case_id}?done=meeting")


@routes.post("/cases/{case_id:\\d{1,12}}/agencies")
async def involve_agency(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    case_id = int(request.match_info["case_id"])
    form = await request.post()
    agency = form.get("agency")
    case = await hub.cases.get(request[ACTOR], case_id)
    await hub.cases.involve(
        request[ACTOR], case.reference, agency if isinstance(agency, str) else ""
    )
    raise web.HTTPSeeOther(f"/cases/{case_id}?done=involved")


@routes.post("/cases/{case_id:\\d{1,12}}/release")
async def expect_release(request: web.Request) -> web.StreamResponse:
    case_id = int(request.match_info["case_id"])
    form = await request.post()
    await request.app[HUB].casework.expect_release(
        request[ACTOR], case_id, _date(form.get("release_date"), "release_date")
    )
    raise web.HTTPSeeOther(f"/cases/{case_id}?done=release")


@routes.get("/deadlines")
async def deadlines(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    area = request.query.get("scope") == "area"
    items = await hub.casework.due(actor, area=area)
    return render(
        request,
        "deadlines.html",
        items=items,
        area=area,
        notice=_NOTICES.get(request.query.get("done", ""), ""),
    )


@routes.post("/deadlines/{item_id:\\d{1,12}}/complete")
async def complete_action(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    outcome = form.get("outcome")
    await request.app[HUB].casework.complete_action(
        request[ACTOR],
        int(request.match_info["item_id"]),
        outcome if isinstance(outcome, str) else "",
    )
    raise web.HTTPSeeOther("/deadlines?done=action")
