"""Cases and deadlines: the case page, meetings, release dates, actions and what is due."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from hub.errors import Forbidden, InvalidInput
from hub.model.cases import MappaCategory, MappaLevel
from hub.model.directory import AgencyKind, Role
from hub.services.actor import Actor
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
_NOTICES = {
    "meeting": "The meeting is recorded: its minutes and the next review are now due.",
    "release": "The release date is recorded: the referral is due six months before it.",
    "action": "The action is completed with its outcome.",
    "involved": "The agency is now active on this case: its case page opens to it.",
    "visor-imported": "The ViSOR record is imported: the case and its record are updated.",
    "event": "The event is recorded on the case, and counts in the area's statistics.",
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


# The MAPPA category and level in words (MAPPA Guidance, chapters 6 and 7).
CATEGORIES = {
    MappaCategory.REGISTERED_SEX_OFFENDER: "Category 1: registered sexual offender",
    MappaCategory.VIOLENT_OR_OTHER_SEXUAL: "Category 2: violent or other sexual offender",
    MappaCategory.OTHER_DANGEROUS: "Category 3: other dangerous offender",
}
LEVELS = {
    MappaLevel.ORDINARY: "Level 1: ordinary agency management",
    MappaLevel.MULTI_AGENCY: "Level 2: active multi-agency management",
    MappaLevel.CRITICAL_FEW: "Level 3: active multi-agency management (the critical few)",
}
# Case files are for the roles whose work is cases; an agency administrator manages tokens and
# keys, and sees no case content (CaseworkService.case_file refuses it too).
_CASE_ROLES = (Role.PRACTITIONER, Role.COORDINATOR, Role.SENIOR_MANAGER, Role.AUDITOR)
_SENDERS = (Role.PRACTITIONER, Role.COORDINATOR)


def _require_case_reader(actor: Actor) -> None:
    if not actor.has_role(*_CASE_ROLES):
        raise Forbidden(
            "Agency administrators manage API tokens and keys; they do not read case files."
        )


@routes.get("/cases")
async def cases(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    _require_case_reader(actor)
    visible = [c for c in await hub.cases.visible_to(actor) if c.merged_into_id is None]
    words = request.query.get("q", "")[:100].strip()
    level = request.query.get("level", "")
    shown = [
        c
        for c in visible
        if (not words or words.casefold() in f"{c.reference} {c.display_name}".casefold())
        and (level not in ("1", "2", "3") or int(c.level) == int(level))
    ]
    agencies = {a.id: a.name for a in await hub.directory.agencies()}
    areas = {a.id: a.name for a in await hub.directory.areas()}
    return render(
        request,
        "cases.html",
        cases=shown,
        total=len(visible),
        words=words,
        level=level if level in ("1", "2", "3") else "",
        openable=await hub.casework.openable_files(actor, [c.id for c in shown]),
        agencies=agencies,
        areas=areas,
        categories=CATEGORIES,
        levels=LEVELS,
    )


@routes.get("/cases/{case_id:\\d{1,12}}")
async def case_page(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    _require_case_reader(actor)
    case_id = int(request.match_info["case_id"])
    case_file = await hub.casework.case_file(actor, case_id)
    register = await hub.disclosures.register(actor, case_id=case_id)
    case = case_file.case
    in_area = case.area_id == actor.agency.area_id
    # The forms each role may use (the services decide again): involving an agency is for the
    # area's coordinator or the lead agency (CaseService.involve); a meeting is recorded by the
    # area's coordinator, a release date by a sender of the area (CaseworkService).
    may_involve = in_area and (
        actor.has_role(Role.COORDINATOR)
        or (actor.has_role(Role.PRACTITIONER) and actor.agency.id == case.lead_agency_id)
    )
    candidates = []
    if may_involve and case.merged_into_id is None:
        areas = {a.id: a.name for a in await hub.directory.areas()}
        candidates = [
            (a.code, f"{a.name} ({areas.get(a.area_id, '')})")
            for a in await hub.directory.agencies()
            if a.kind is not AgencyKind.THIRD_PARTY and a.name not in case_file.active_agencies
        ]
    packet_links = [
        e.link.removeprefix("/packets/")
        for e in case_file.timeline
        if e.link and e.link.startswith("/packets/")
    ] + [i.row.source_packet_id for i in case_file.open_items if i.row.source_packet_id]
    areas_by_id = {a.id: a.name for a in await hub.directory.areas()}
    # The nominal record, for those the service lets read it (the reading is on the log).
    may_read_visor = await hub.visor.may_read(actor, case_id)
    visor = await hub.visor.view(actor, case_id) if may_read_visor else None
    return render(
        request,
        "case.html",
        visor=visor,
        may_read_visor=may_read_visor,
        may_import_visor=in_area and actor.has_role(Role.COORDINATOR),
        file=case_file,
        views=register,
        candidates=candidates,
        area_name=areas_by_id.get(case.area_id, ""),
        categories=CATEGORIES,
        levels=LEVELS,
        may_meet=in_area and actor.has_role(Role.COORDINATOR),
        may_release=in_area and actor.has_role(*_SENDERS),
        events=await hub.case_events.for_case(actor, case_id) if in_area else [],
        may_record_event=in_area
        and case.merged_into_id is None
        and await hub.case_events.may_record(actor, case_id),
        may_send=actor.has_role(*_SENDERS) and case.merged_into_id is None,
        openable_packets=await hub.packets.listing.openable(actor, packet_links),
        openable_cases={case.id},
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
    if actor.has_role(Role.AGENCY_ADMIN):
        raise Forbidden(
            "Agency administrators manage API tokens and keys; they do not read case deadlines."
        )
    return render(
        request,
        "deadlines.html",
        items=items,
        openable_packets=await hub.packets.listing.openable(
            actor, [i.row.source_packet_id for i in items if i.row.source_packet_id]
        ),
        openable_cases=await hub.casework.openable_files(actor, [i.row.case_id for i in items]),
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
