"""Charts for the statistics page, drawn on the server as SVG by pygal; no script in the page.

Each chart is embedded as an image (a ``data:`` URL), so its own stylesheet applies inside the
image and never to the page: the page's CSP stays ``style-src 'self'`` and only widens
``img-src`` to ``data:`` on this page (``CHART_CSP``). A browser runs no script in an SVG shown as
an image, and pygal's tooltip script is removed besides. Every chart stands beside a table of
the same figures, which is what a screen reader reads; the image's text alternative says so.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Sequence
from typing import Any

import pygal
from pygal.etree import etree
from pygal.style import Style

from hub.services.indicators import BoardReport, Tally
from hub.services.stats import AnnualReport
from hub.web.security import CSP

# pygal adds a legacy import hook for its map plugins (unused here) to the end of sys.meta_path;
# Python 3.11 warns each time an import falls through to it, which hides the real ImportError.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

CHART_CSP = CSP.replace("img-src 'self'", "img-src 'self' data:")
SHORT = {
    "minutes_on_time": "Minutes on time",
    "reviews_on_time": "Reviews on time",
    "disclosure_considered": "Disclosure considered",
    "referrals_on_time": "Referrals on time",
    "requests_on_time": "Requests answered",
    "transfers_on_time": "Transfers on time",
    "invited_attending": "Invited attending",
    "emails_delivered": "Email delivered",
}
# GOV.UK Design System colours, in an order that keeps neighbours distinct.
COLOURS = ("#1d70b8", "#d4351c", "#00703c", "#f47738", "#4c2c92", "#28a197", "#912b88", "#505a5f")
STYLE = Style(
    font_family="arial, sans-serif",
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#0b0c0c",
    foreground_strong="#0b0c0c",
    foreground_subtle="#505a5f",
    colors=COLOURS,
    title_font_size=20,
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=14,
    value_font_size=14,
)
_SVG = "{http://www.w3.org/2000/svg}"


def _common(title: str, height: int = 460, columns: int = 4) -> dict[str, object]:
    return {
        "title": title,
        "style": STYLE,
        "width": 800,
        "height": height,
        "margin_right": 48,
        "js": [],
        "legend_at_bottom": True,
        "legend_at_bottom_columns": columns,
        "truncate_legend": -1,
        "truncate_label": -1,
        "print_values": False,
        "disable_xml_declaration": True,
    }


def _data_url(chart: Any) -> str:
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag in (f"{_SVG}script", "script"):
                parent.remove(child)
    svg = etree.tostring(tree)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _percent(pairs: Sequence[tuple[str, Tally]], key: str) -> int | None:
    found = dict(pairs).get(key)
    return found.percent if found else None


def quarter_trend(report: BoardReport) -> str:
    chart = pygal.Line(
        **_common("Indicators by quarter (% met)"), range=(0, 100), include_x_axis=True,
        x_title="Quarter", y_title="% met", dots_size=4, allow_interruptions=True,
    )  # fmt: skip
    chart.x_labels = list(report.quarters)
    for i in report.indicators:
        chart.add(SHORT[i.key], [t.percent for _, t in i.by_quarter])
    return _data_url(chart)


def by_level(report: BoardReport, levels: Sequence[str]) -> str:
    chart = pygal.Bar(**_common("Indicators by level (% met)"), range=(0, 100), y_title="% met")
    chart.x_labels = [SHORT[i.key] for i in report.indicators]
    chart.x_label_rotation = 30
    for level in levels:
        chart.add(level, [_percent(i.by_level, level) for i in report.indicators])
    return _data_url(chart)


def by_agency(report: BoardReport, agencies: Sequence[str]) -> str:
    chart = pygal.HorizontalBar(
        **_common("Indicators by agency (% met)", agency_chart_height(len(agencies)), 2),
        range=(0, 100),
    )
    chart.x_labels = list(agencies)
    for i in report.indicators:
        if any(a in dict(i.by_agency) for a in agencies):
            chart.add(SHORT[i.key], [_percent(i.by_agency, a) for a in agencies])
    return _data_url(chart)


def agency_chart_height(agencies: int) -> int:
    return max(520, 80 * agencies + 240)


def managed_by_level(report: AnnualReport) -> str:
    chart = pygal.StackedBar(
        **_common("Offenders managed at level 3 and level 2, by category", 420, 3),
        y_title="Offenders",
    )
    chart.x_labels = ["Level 3", "Level 2"]
    shown = {f.key: (None if f.suppressed else f.value) for f in report.figures}
    for category, name in ((1, "Category 1"), (2, "Category 2"), (3, "Category 3")):
        chart.add(name, [shown.get(f"level{level}.category{category}") for level in (3, 2)])
    return _data_url(chart)
