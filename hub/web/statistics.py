"""The statistics page: the MAPPA annual report tables and the Strategic Management Board's
indicators for the user's area and a period, as ``mappa-hub stats`` prints them, with charts
drawn on the server (``hub.web.charts``), a table beside each, the published view (small counts
suppressed, and said so) and CSV and JSON for machines. The service decides who may read
(``hub.services.stats``).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from aiohttp import web

from hub.cli.stats import as_csv, as_json, board_csv
from hub.errors import InvalidInput
from hub.services.indicators import NO_CASE, BoardReport
from hub.services.stats import AnnualReport
from hub.web import charts
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.workflows.deadlines import local_date

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


def _download(text: str, kind: str, name: str) -> web.Response:
    if kind == "json":
        return web.Response(text=text, content_type="application/json")
    return web.Response(text=text, content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})  # fmt: skip


@routes.get("/statistics")
async def statistics(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    today = local_date(hub.clock.now())  # the UK's day, as the service judges deadlines
    publish = request.query.get("view") == "published"
    fmt = request.query.get("format")
    area = next(a for a in await hub.directory.areas() if a.id == actor.agency.area_id)
    try:
        first, last, typed = _period(request.query, today)
        if fmt in ("csv", "json") and request.query.get("report") == "indicators":
            board = await hub.stats.board_indicators(actor, area.code, first, last, publish=publish)
            text = as_json(board) if fmt == "json" else board_csv(board)
            return _download(text, fmt, f"mappa-indicators-{board.area_code}-{first}-{last}")
        report = await hub.stats.annual_report(actor, area.code, first, last, publish=publish)
        if fmt in ("csv", "json"):
            text = as_json(report) if fmt == "json" else as_csv(report)
            return _download(text, fmt, f"mappa-{report.area_code}-{first}-{last}")
        board = await hub.stats.board_indicators(actor, area.code, first, last, publish=publish)
    except InvalidInput as exc:
        return render(request, "statistics.html", status=400, report=None, board=None,
                      sections=[], typed=_typed(request), publish=publish,
                      error=exc.public_message, error_title_prefix=True)  # fmt: skip
    sections = [(name, list(rows)) for name, rows in groupby(report.figures, lambda f: f.section)]
    view = await asyncio.to_thread(_board_view, report, board)
    response = render(request, "statistics.html", report=report, board=board, sections=sections,
                      typed=typed, publish=publish, error="", error_title_prefix=False,
                      **view)  # fmt: skip
    response.headers["Content-Security-Policy"] = charts.CHART_CSP
    return response


def _board_view(report: AnnualReport, board: BoardReport) -> dict[str, Any]:
    """The groups each breakdown shows, and the charts (drawn off the event loop)."""
    present = {k for i in board.indicators for k, _ in i.by_level}
    levels = [lv for lv in ("Level 1", "Level 2", "Level 3", NO_CASE) if lv in present]
    agencies = sorted({k for i in board.indicators for k, _ in i.by_agency})
    return {
        "levels": levels,
        "agencies": agencies,
        "short": charts.SHORT,
        "agency_chart_height": charts.agency_chart_height(len(agencies)),
        "chart": {
            "trend": charts.quarter_trend(board),
            "level": charts.by_level(board, levels),
            "agency": charts.by_agency(board, agencies) if agencies else "",
            "managed": charts.managed_by_level(report),
        },
    }


def _typed(request: web.Request) -> dict[str, str]:
    return {k: request.query.get(k, "")[:10] for k in ("from", "to")}
