"""The statistics page: the MAPPA annual report tables for the user's area and a period, as
``mappa-hub stats`` prints them, with the published view (small counts suppressed, and said so)
and the CSV and JSON for machines. The service decides who may read (``hub.services.stats``).
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import groupby

from aiohttp import web

from hub.cli.stats import as_csv, as_json
from hub.errors import InvalidInput
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


def _period(query: object, today: date) -> tuple[date, date, dict[str, str]]:
    """The period asked for; by default the twelve months to today (the annual report's year
    runs from 1 April to 31 March: choose it)."""
    first, last = today - timedelta(days=364), today
    typed = {"from": first.isoformat(), "to": last.isoformat()}
    get = getattr(query, "get", lambda key, default="": default)
    for key in ("from", "to"):
        value = str(get(key, "") or "").strip()
        if value:
            typed[key] = value
    try:
        first, last = date.fromisoformat(typed["from"]), date.fromisoformat(typed["to"])
    except ValueError:
        raise InvalidInput("Enter both dates as dates, like 2026-03-31.", field="from") from None
    return first, last, typed


@routes.get("/statistics")
async def statistics(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    today = hub.clock.now().date()
    publish = request.query.get("view") == "published"
    area = next(a for a in await hub.directory.areas() if a.id == actor.agency.area_id)
    try:
        first, last, typed = _period(request.query, today)
        report = await hub.stats.annual_report(actor, area.code, first, last, publish=publish)
    except InvalidInput as exc:
        return render(request, "statistics.html", status=400, report=None, sections=[],
                      typed=_typed(request), publish=publish, error=exc.public_message,
                      error_title_prefix=True)  # fmt: skip
    fmt = request.query.get("format")
    if fmt == "csv":
        name = f"mappa-{report.area_code}-{report.first}-{report.last}.csv"
        return web.Response(text=as_csv(report), content_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
    if fmt == "json":
        return web.Response(text=as_json(report), content_type="application/json")
    sections = [(name, list(rows)) for name, rows in groupby(report.figures, lambda f: f.section)]
    return render(request, "statistics.html", report=report, sections=sections, typed=typed,
                  publish=publish, error="", error_title_prefix=False)  # fmt: skip


def _typed(request: web.Request) -> dict[str, str]:
    return {k: request.query.get(k, "")[:10] for k in ("from", "to")}
