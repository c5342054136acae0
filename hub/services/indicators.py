"""The Strategic Management Board's indicators: is each area doing what MAPPA guidance asks, on
time? Computed from the clear workflow state (deadlines, meetings, requests, transfers, the email
outbox) and never from packet content.

Each indicator is a share of things that met their standard, out of those that can be judged:
a deadline that has passed or been met, never one still running. Every observation carries the
level the case was managed at, the agency responsible and the day it is judged on, so that the
same observations give the area's figure, the figures by level, by agency and by quarter of the
MAPPA year (April to March). Marked for publication, a cell counting fewer things than the
policy's threshold is suppressed, and says so. ``hub.services.indicator_observations`` reads
the observations; this module defines the indicators and counts them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

ANOTHER_HUB = "Another hub"
# Messages about no case, or about a case this hub no longer manages.
NO_CASE = "No level"


@dataclass(frozen=True)
class Tally:
    met: int = 0
    of: int = 0
    suppressed: bool = False

    @property
    def percent(self) -> int | None:
        return None if self.suppressed or not self.of else round(100 * self.met / self.of)

    def shown(self) -> str:
        if self.suppressed:
            return "[c]"
        if not self.of:
            return "none due"
        return f"{self.percent}% ({self.met:,} of {self.of:,})"

    def to_json(self) -> dict[str, Any]:
        if self.suppressed:
            return {"met": None, "of": None, "percent": None, "suppressed": True}
        return {"met": self.met, "of": self.of, "percent": self.percent, "suppressed": False}


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    standard: str
    total: Tally
    by_level: tuple[tuple[str, Tally], ...]
    by_agency: tuple[tuple[str, Tally], ...]
    by_quarter: tuple[tuple[str, Tally], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "label": self.label, "standard": self.standard,
            "total": self.total.to_json(),
            "by_level": {k: t.to_json() for k, t in self.by_level},
            "by_agency": {k: t.to_json() for k, t in self.by_agency},
            "by_quarter": {k: t.to_json() for k, t in self.by_quarter},
        }  # fmt: skip


@dataclass(frozen=True)
class Observation:
    """``of`` things judged on ``day`` (one, or a group the database counted), ``met`` of them
    meeting the standard."""

    key: str
    met: int
    level: int | None
    agency_id: int | None
    day: date
    of: int = 1


@dataclass(frozen=True)
class Definition:
    key: str
    label: str
    standard: str


DEFINITIONS = (
    Definition(
        "minutes_on_time",
        "Minutes distributed on time",
        "Minutes circulated within 10 working days of a level 2 meeting, 5 of a level 3 meeting",
    ),
    Definition(
        "reviews_on_time",
        "Reviews held on time",
        "The next meeting held by the review date: at most 16 weeks after a level 2 meeting, 8 "
        "after a level 3 one, sooner where the minutes set an earlier date",
    ),
    Definition(
        "disclosure_considered",
        "Disclosure considered and recorded at meetings",
        "The meeting's minutes record that disclosure to third parties was considered",
    ),
    Definition(
        "referrals_on_time",
        "Referrals complete and made at least six months before release",
        "A MAPPA referral (every section of the form completed, as the hub requires) sent at "
        "least six months before the prisoner's release date",
    ),
    Definition(
        "requests_on_time",
        "Requests for information answered by their due date",
        "Answered, or declined with reasons, by the due date the requesting agency set",
    ),
    Definition(
        "transfers_on_time",
        "Case transfers completed within their timescales",
        "Each step within its working days in policies/transfer.toml: the decision, the sending "
        "of the case file, and its receipt",
    ),
    Definition(
        "invited_attending",
        "Invited agencies attending meetings",
        "An agency the minutes list as required at the meeting attended it",
    ),
    Definition(
        "emails_delivered",
        "Email notifications delivered",
        "A notification or letter queued for a person was delivered to the mail relay (within "
        "48 hours, or in that day's digest); one that failed for good or still waits is not",
    ),
)


@dataclass(frozen=True)
class BoardReport:
    area_code: str
    area_name: str
    first: date
    last: date
    indicators: tuple[Indicator, ...]
    quarters: tuple[str, ...]
    published: bool
    suppress_below: int
    suppression_label: str
    policy_version: str
    notes: tuple[str, ...] = field(default=())

    def indicator(self, key: str) -> Indicator:
        return next(i for i in self.indicators if i.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "smb-indicators", "area": self.area_code, "area_name": self.area_name,
            "from": self.first.isoformat(), "to": self.last.isoformat(),
            "published": self.published,
            "suppression": {"below": self.suppress_below, "label": self.suppression_label}
            if self.published else None,
            "policy_version": self.policy_version, "notes": list(self.notes),
            "quarters": list(self.quarters),
            "indicators": [i.to_json() for i in self.indicators],
        }  # fmt: skip


# -- from observations to indicators ----------------------------------------------------------


def quarter_of(day: date) -> date:
    """The first day of the MAPPA year's quarter (April-June, July-September...) holding ``day``."""
    return date(day.year, ((day.month - 1) // 3) * 3 + 1, 1)


def quarter_label(start: date) -> str:
    end_month = start.month + 2
    return f"{start:%b}-{date(start.year, end_month, 1):%b %Y}"


def quarters_between(first: date, last: date) -> list[date]:
    out, q = [], quarter_of(first)
    while q <= last:
        out.append(q)
        q = date(q.year + (q.month == 10), (q.month + 2) % 12 + 1, 1)
    return out


def tally(
    observations: Sequence[Observation],
    first: date,
    last: date,
    agency_names: dict[int, str],
) -> list[Indicator]:
    quarters = quarters_between(first, last)
    # [met, of] per (indicator, breakdown, group): counted once per observation, in one pass.
    counts: dict[tuple[str, str, Any], list[int]] = defaultdict(lambda: [0, 0])
    for o in observations:
        for key in ((o.key, "total", None), (o.key, "level", o.level),
                    (o.key, "agency", o.agency_id), (o.key, "quarter", quarter_of(o.day))):  # fmt: skip
            cell = counts[key]
            cell[0] += o.met
            cell[1] += o.of

    def pairs(key: str, by: str) -> dict[Any, Tally]:
        return {g: Tally(c[0], c[1]) for (k, b, g), c in counts.items() if k == key and b == by}

    out = []
    for d in DEFINITIONS:
        total = counts.get((d.key, "total", None), [0, 0])
        levels = {f"Level {lv}" if lv else NO_CASE: t for lv, t in pairs(d.key, "level").items()}
        agencies: dict[str, Tally] = {}
        for agency_id, t in pairs(d.key, "agency").items():
            name = agency_names.get(agency_id, ANOTHER_HUB) if agency_id else ANOTHER_HUB
            held = agencies.get(name, Tally())
            agencies[name] = Tally(held.met + t.met, held.of + t.of)
        by_quarter = {q: Tally() for q in quarters} | pairs(d.key, "quarter")
        out.append(Indicator(
            d.key, d.label, d.standard, Tally(total[0], total[1]),
            tuple(sorted(levels.items(), key=lambda kv: (kv[0] == NO_CASE, kv[0]))),
            tuple(sorted(agencies.items())),
            tuple((quarter_label(q), by_quarter[q]) for q in sorted(by_quarter)),
        ))  # fmt: skip
    return out


def suppress(indicators: Sequence[Indicator], below: int) -> list[Indicator]:
    """Marked for publication: any cell judging from 1 to ``below - 1`` things is suppressed."""

    def hide(t: Tally) -> Tally:
        return replace(t, suppressed=0 < t.of < below)

    def each(pairs: tuple[tuple[str, Tally], ...]) -> tuple[tuple[str, Tally], ...]:
        return tuple((k, hide(t)) for k, t in pairs)

    return [
        replace(i, total=hide(i.total), by_level=each(i.by_level), by_agency=each(i.by_agency),
                by_quarter=each(i.by_quarter))
        for i in indicators
    ]  # fmt: skip
