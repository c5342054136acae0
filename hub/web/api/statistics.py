"""``/api/v1/statistics``: the MAPPA annual report tables and the Strategic Management Board's
indicators for the token's area, for a coordinator's system (a board's dashboard, say), as the
statistics page and ``mappa-hub stats`` give them. Producing either is on the log, as there.

A token limited to some cases reads no area-wide figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from hub.errors import Forbidden, InvalidInput
from hub.services.actor import Actor
from hub.services.indicators import BoardReport, Tally
from hub.services.stats import AnnualReport
from hub.services.tokens import Scope
from hub.web.api.handlers import api_caller, json_response
from hub.web.api.models import ApiModel
from hub.web.api.spec import Param, endpoint
from hub.web.keys import HUB
from hub.workflows.deadlines import local_date

__all__ = ["routes"]

routes = web.RouteTableDef()
_DAY = {"type": "string", "format": "date"}
_PARAMS = (
    Param("from", "query", "The period's first day (default: a year before the last).", _DAY),
    Param("to", "query", "The period's last day (default: today).", _DAY),
    Param(
        "published",
        "query",
        "true: small counts suppressed, as for publication.",
        {"type": "string", "enum": ["true", "false"]},
    ),
)


class SuppressionOut(ApiModel):
    below: int
    label: str


class PopulationOut(ApiModel):
    people: int
    year: int
    source: str


class FigureOut(ApiModel):
    key: str
    section: str
    label: str
    value: int | None
    suppressed: bool
    note: str


class _ReportOut(ApiModel):
    """What both reports say about themselves: the area, the period and the view."""

    area: str
    area_name: str
    first_day: date
    last_day: date
    published: bool
    suppression: SuppressionOut | None
    policy_version: str
    notes: list[str]


class AnnualReportOut(_ReportOut):
    population: PopulationOut | None
    figures: list[FigureOut]


class TallyOut(ApiModel):
    met: int | None
    of: int | None
    percent: int | None
    suppressed: bool


class IndicatorOut(ApiModel):
    key: str
    label: str
    standard: str
    total: TallyOut
    by_level: dict[str, TallyOut]
    by_agency: dict[str, TallyOut]
    by_quarter: dict[str, TallyOut]


class IndicatorsOut(_ReportOut):
    quarters: list[str]
    indicators: list[IndicatorOut]


def _period(request: web.Request, today: date) -> tuple[date, date, bool]:
    days = {}
    for name in ("from", "to"):
        text = request.query.get(name)
        if text is None:
            continue
        try:
            days[name] = date.fromisoformat(text) if len(text) == 10 else None
        except ValueError:
            days[name] = None
        if days[name] is None:
            raise InvalidInput(f"{name} is a date, like 2026-03-31.", field=name)
    last = days.get("to") or today
    first = days.get("from") or last - timedelta(days=364)
    published = request.query.get("published", "false")
    if published not in ("true", "false"):
        raise InvalidInput("published is true or false.", field="published")
    return first, last, published == "true"


def _about(report: AnnualReport | BoardReport) -> dict[str, Any]:
    suppression = (
        SuppressionOut(below=report.suppress_below, label=report.suppression_label)
        if report.published
        else None
    )
    return {
        "area": report.area_code, "area_name": report.area_name, "first_day": report.first,
        "last_day": report.last, "published": report.published, "suppression": suppression,
        "policy_version": report.policy_version, "notes": list(report.notes),
    }  # fmt: skip


def _tally(t: Tally) -> TallyOut:
    return TallyOut(**t.to_json())


@dataclass(frozen=True)
class _Asked:
    actor: Actor
    area: str
    first: date
    last: date
    published: bool


async def _asked(request: web.Request) -> _Asked:
    """Who asks (a token of the area as a whole) and for what period and view."""
    caller = api_caller(request, Scope.STATISTICS_READ)
    if caller.token.case_ids is not None:
        raise Forbidden("A token limited to some cases reads no area-wide statistics.")
    hub = request.app[HUB]
    area = next(a for a in await hub.directory.areas() if a.id == caller.actor.agency.area_id)
    first, last, published = _period(request, local_date(hub.clock.now()))
    return _Asked(caller.actor, area.code, first, last, published)


@endpoint(
    "GET", "/api/v1/statistics/annual-report",
    "The MAPPA annual report tables for the token's area and a period (seed 004's tables): "
    "registered sexual offenders and the rate per 100,000 people, breaches, civil orders, "
    "categories 2 and 3, offenders managed at levels 2 and 3, recalls and charges.",
    scope=Scope.STATISTICS_READ, response=AnnualReportOut, errors=(400,), params=_PARAMS,
    table=routes,
)  # fmt: skip
async def annual_report(request: web.Request) -> web.StreamResponse:
    a = await _asked(request)
    r = await request.app[HUB].stats.annual_report(
        a.actor, a.area, a.first, a.last, publish=a.published
    )
    population = r.population
    return json_response(AnnualReportOut(
        **_about(r),
        population=PopulationOut(people=population.people, year=population.year,
                                 source=population.source) if population else None,
        figures=[FigureOut(**f.to_json()) for f in r.figures],
    ))  # fmt: skip


@endpoint(
    "GET", "/api/v1/statistics/indicators",
    "The Strategic Management Board's indicators for the token's area and a period: minutes, "
    "reviews, disclosure considered, referrals, requests, transfers, attendance and email, "
    "each by level, agency and quarter.",
    scope=Scope.STATISTICS_READ, response=IndicatorsOut, errors=(400,), params=_PARAMS,
    table=routes,
)  # fmt: skip
async def indicators(request: web.Request) -> web.StreamResponse:
    a = await _asked(request)
    r = await request.app[HUB].stats.board_indicators(
        a.actor, a.area, a.first, a.last, publish=a.published
    )
    return json_response(IndicatorsOut(
        **_about(r), quarters=list(r.quarters),
        indicators=[IndicatorOut(
            key=i.key, label=i.label, standard=i.standard, total=_tally(i.total),
            by_level={k: _tally(t) for k, t in i.by_level},
            by_agency={k: _tally(t) for k, t in i.by_agency},
            by_quarter={k: _tally(t) for k, t in i.by_quarter},
        ) for i in r.indicators],
    ))  # fmt: skip
