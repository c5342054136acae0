"""Access reports for auditors and coordinators: the log, never the content.

The overview lists the area's cases and people (narrowed by a search); a report lists what the
log holds about one case or by one person, narrowed by dates and by what happened (a GET form, so
that a report can be bookmarked and shared with whoever may read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from hub.ledger.entries import Event
from hub.services.access import AccessRow, ReportFilter
from hub.web.keys import ACTOR, HUB
from hub.web.labels import EVENTS
from hub.web.render import render
from hub.workflows.deadlines import LOCAL_TIME

routes = web.RouteTableDef()
LIMIT = 200
_PARTS = ("day", "month", "year")
# What a report may be narrowed to: every event but those only the hub itself or its operator at
# the command line records (a peer hub trusted or no longer trusted, a peer's checkpoint
# countersigned, an area or agency added, its keys made or registered, an account created), which name
# no case and no acting person, so a report narrowed to one of them would always be empty.
_NEVER_REPORTED = frozenset({
    Event.PEER_PINNED, Event.PEER_REMOVED, Event.CHECKPOINT_COSIGNED, Event.AREA_ADDED,
    Event.AGENCY_ADDED, Event.KEYS_ISSUED, Event.KEYS_IMPORTED, Event.ACCOUNT_CREATED,
})  # fmt: skip
REPORTED_EVENTS = {e.value: EVENTS[e.value] for e in Event if e not in _NEVER_REPORTED}


@dataclass
class DateField:
    """A GOV.UK date input as typed: its three parts, and what is wrong with it."""

    name: str
    parts: dict[str, str] = field(default_factory=dict)
    error: str = ""
    value: date | None = None


@dataclass
class Filters:
    since: DateField
    until: DateField
    event: str = ""
    event_error: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)  # (href, message), form order

    @property
    def active(self) -> bool:
        return bool(self.since.value or self.until.value or self.event)


def _date_field(query: MultiMapping[str], name: str, words: str) -> DateField:
    parts = {p: query.get(f"{name}-{p}", "").strip()[:4] for p in _PARTS}
    found = DateField(name, parts)
    if not any(parts.values()):
        return found
    missing = [p for p in _PARTS if not parts[p]]
    if missing:
        found.error = f"{words} must include a {' and '.join(missing)}"
        return found
    try:
        found.value = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        found.error = f"{words} must be a real date"
        return found
    if found.value.year < 2000:
        found.value, found.error = None, f"{words} must be a real date"
    return found


def _filters(query: MultiMapping[str]) -> Filters:
    since = _date_field(query, "from", "The date from")
    until = _date_field(query, "to", "The date to")
    event = query.get("event", "")
    found = Filters(since, until)
    for f in (since, until):
        if f.error:
            found.errors.append((f"#{f.name}-{_first_wrong(f)}", f.error))
    if since.value and until.value and until.value < since.value:
        until.error = "The date to must be the same as or after the date from"
        found.errors.append(("#to-day", until.error))
    if event in REPORTED_EVENTS:
        found.event = event
    elif event:  # never offered (a link edited by hand, or an event this hub no longer knows)
        found.event_error = "Choose what happened from the list"
        found.errors.append(("#event", found.event_error))
    return found


def _first_wrong(f: DateField) -> str:
    return next((p for p in _PARTS if not f.parts.get(p)), "day")


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TIME)


def _narrow(filters: Filters) -> ReportFilter:
    since, until = filters.since.value, filters.until.value
    return ReportFilter(
        since=_local_midnight(since) if since else None,
        before=_local_midnight(until + timedelta(days=1)) if until else None,
        event=filters.event or None,
    )


def _matches(text: str, *values: str) -> bool:
    wanted = text.casefold()
    return any(wanted in v.casefold() for v in values)


@routes.get("/audit")
async def overview(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    cases, users = await hub.access.overview(actor)
    q = request.query.get("q", "").strip()[:100]
    if q:
        cases = [c for c in cases if _matches(q, c.reference, c.display_name)]
        users = [u for u in users if _matches(q, u.display_name, u.username)]
    area = next((a.name for a in await hub.directory.areas() if a.id == actor.agency.area_id), "")
    return render(request, "audit.html", cases=cases, users=users, q=q, area_name=area)


async def _report(
    request: web.Request, *, kind: str, subject: Any, rows: list[AccessRow], filters: Filters
) -> web.Response:
    area_cases = {c.id for c in (await request.app[HUB].access.overview(request[ACTOR]))[0]}
    return render(
        request,
        "audit_report.html",
        status=400 if filters.errors else 200,
        kind=kind,
        subject=subject,
        rows=rows,
        filters=filters,
        events=REPORTED_EVENTS.items(),
        area_cases=area_cases,
        limit=LIMIT,
        error_title_prefix=bool(filters.errors),
    )


@routes.get("/audit/cases/{case_id:\\d{1,12}}")
async def case_report(request: web.Request) -> web.StreamResponse:
    filters = _filters(request.query)
    narrow = ReportFilter() if filters.errors else _narrow(filters)
    case, rows = await request.app[HUB].access.case_report(
        request[ACTOR], int(request.match_info["case_id"]), LIMIT, narrow
    )
    return await _report(request, kind="case", subject=case, rows=rows, filters=filters)


@routes.get("/audit/users/{user_id:\\d{1,12}}")
async def user_report(request: web.Request) -> web.StreamResponse:
    filters = _filters(request.query)
    narrow = ReportFilter() if filters.errors else _narrow(filters)
    user, rows = await request.app[HUB].access.user_report(
        request[ACTOR], int(request.match_info["user_id"]), LIMIT, narrow
    )
    return await _report(request, kind="user", subject=user, rows=rows, filters=filters)
