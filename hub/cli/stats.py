"""``mappa-hub stats --area A --from D --to D [--indicators] [--format table|json|csv] [--publish]``:
the MAPPA annual report tables for an area and a period, or with ``--indicators`` the Strategic
Management Board's indicators, from the records (``hub.services.stats``).

Exit 0 with the report on stdout; 2 for a bad area, date or period. ``--publish`` suppresses
counts below the threshold in policies/statistics.toml and says so in every format. Producing a
report is on the log.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from hub.config import Config
from hub.errors import HubError, InvalidInput, NotFound
from hub.wiring import Hub

if TYPE_CHECKING:
    from hub.services.indicators import BoardReport
    from hub.services.stats import AnnualReport

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser(
        "stats", parents=[common], help="the MAPPA annual report tables for an area and period"
    )
    s.add_argument("--area", required=True, help="area code, e.g. DBY")
    s.add_argument("--from", dest="first", type=_day, required=True, help="first day, YYYY-MM-DD")
    s.add_argument("--to", dest="last", type=_day, required=True, help="last day, YYYY-MM-DD")
    s.add_argument("--format", choices=["table", "json", "csv"], default="table")
    s.add_argument("--publish", action="store_true", help="suppress small counts, for publication")
    s.add_argument(
        "--indicators",
        action="store_true",
        help="the Strategic Management Board's indicators instead of the annual tables",
    )


async def run(args: argparse.Namespace, config: Config) -> int:
    from hub.services.indicators import BoardReport

    hub = await Hub.open(config)
    report: AnnualReport | BoardReport
    try:
        make = hub.stats.board_indicators if args.indicators else hub.stats.annual_report
        report = await make(None, args.area, args.first, args.last, publish=args.publish)
    except (InvalidInput, NotFound) as exc:
        print(f"mappa-hub: {exc.public_message}", file=sys.stderr)
        return EXIT_USAGE
    except HubError as exc:
        print(f"mappa-hub: refused: {exc.public_message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await hub.close()
    if isinstance(report, BoardReport):
        out = {"table": board_table, "json": as_json, "csv": board_csv}[args.format](report)
    else:
        out = {"table": as_table, "json": as_json, "csv": as_csv}[args.format](report)
    sys.stdout.write(out)
    return EXIT_OK


def as_json(report: AnnualReport | BoardReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def as_csv(report: AnnualReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["area", "from", "to", "section", "key", "label", "value", "suppressed"])
    for f in report.figures:
        writer.writerow([
            report.area_code, report.first.isoformat(), report.last.isoformat(), f.section,
            f.key, f.label, "" if f.suppressed or f.value is None else f.value,
            "yes" if f.suppressed else "no",
        ])  # fmt: skip
    return buffer.getvalue()


def as_table(report: AnnualReport) -> str:
    lines = [
        f"MAPPA statistical information: {report.area_name} ({report.area_code})",
        f"{report.first:%d %B %Y} to {report.last:%d %B %Y}",
    ]
    width = max(len(f.label) for f in report.figures) + 2
    section = None
    for f in report.figures:
        if f.section != section:
            section = f.section
            lines += ["", section]
        note = f"  ({f.note})" if f.note else ""
        lines.append(f"  {f.label:<{width}}{f.shown():>8}{note}")
    if report.published:
        lines += ["", f"[c]: {report.suppression_label}."]
    lines += [""] + [f"Note: {n}" for n in report.notes]
    lines.append(f"Policy version {report.policy_version}; produced on the log.")
    return "\n".join(lines) + "\n"


def board_csv(report: BoardReport) -> str:
    """One row per indicator and breakdown: the area's total, each level, agency and quarter."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["area", "from", "to", "indicator", "label", "by", "group", "met", "of",
                     "percent", "suppressed"])  # fmt: skip
    for i in report.indicators:
        groups = [("area", report.area_code, i.total)]
        groups += [("level", k, t) for k, t in i.by_level]
        groups += [("agency", k, t) for k, t in i.by_agency]
        groups += [("quarter", k, t) for k, t in i.by_quarter]
        for by, group, t in groups:
            hidden = t.suppressed
            writer.writerow([
                report.area_code, report.first.isoformat(), report.last.isoformat(), i.key,
                i.label, by, group, "" if hidden else t.met, "" if hidden else t.of,
                "" if t.percent is None else t.percent, "yes" if hidden else "no",
            ])  # fmt: skip
    return buffer.getvalue()


def board_table(report: BoardReport) -> str:
    lines = [
        f"Strategic Management Board indicators: {report.area_name} ({report.area_code})",
        f"{report.first:%d %B %Y} to {report.last:%d %B %Y}",
    ]
    for i in report.indicators:
        lines += ["", f"{i.label}: {i.total.shown()}", f"  Standard: {i.standard}"]
        for name, pairs in (("level", i.by_level), ("agency", i.by_agency)):
            for group, t in pairs:
                lines.append(f"  By {name}: {group}: {t.shown()}")
        trend = "; ".join(f"{q} {t.shown()}" for q, t in i.by_quarter)
        lines.append(f"  By quarter: {trend}")
    if report.published:
        lines += ["", f"[c]: {report.suppression_label}."]
    lines += [""] + [f"Note: {n}" for n in report.notes]
    lines.append(f"Policy version {report.policy_version}; produced on the log.")
    return "\n".join(lines) + "\n"
