"""The MAPPA annual report tables for an area and a period, computed from the records, and the
Strategic Management Board's indicators (``board_indicators``; ``hub.services.indicators``).

Only the clear workflow state is read - the cases' area, category and level over time
(``case_gradings``) and the typed case events (``case_events``) - never a packet: statistics
need no content, and nothing is decrypted. Producing a report is itself on the log (a
consultation, naming who asked, the area and the period).

The tables follow the annual report's (seed 004, Derbyshire 2005/6): registered sexual
offenders (RSOs) on the period's last day and per 100,000 people; RSOs cautioned or convicted
for breach of notification requirements; civil orders applied for and granted, interim and
full; category 2 and 3 offenders on the last day; offenders managed at level 3 and level 2 by
category (the highest level each reached in the period); returned to custody for breach of
licence or of an order, and charged with a serious sexual or violent offence, by the level the
case was managed at when it happened. Marked for publication, counts above zero and below the
policy's threshold are suppressed, and say so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto.secrets import sha256_hex
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.case_events import CaseEventKind, OrderStage, OrderType
from hub.model.directory import Area, Role
from hub.policy.statistics import Population
from hub.services import indicator_observations, indicators, ledger
from hub.services.actor import Actor
from hub.services.case_events import start_of
from hub.services.indicators import BoardReport
from hub.services.policy import PolicyService
from hub.store import case_events as store
from hub.store import directory as directory_store
from hub.store.database import Database
from hub.workflows.deadlines import local_date

# Roles that read statistics: they are about the arrangements, not about anyone's case.
READERS = (Role.COORDINATOR, Role.SENIOR_MANAGER, Role.AUDITOR)
MAX_DAYS = 366 * 5
K = CaseEventKind

CATEGORY_NAMES = {
    1: "Category 1: registered sexual offenders",
    2: "Category 2: violent and other sexual offenders",
    3: "Category 3: other dangerous offenders",
}
ORDERS = (
    (OrderType.SHPO, True),
    (OrderType.SOPO, True),
    (OrderType.NOTIFICATION, True),
    (OrderType.FOREIGN_TRAVEL, False),  # granted in full only
)


@dataclass(frozen=True)
class Figure:
    key: str
    section: str
    label: str
    value: int | None
    # Set when the figure is not a count of people or events (the rate), or has no value.
    note: str = ""
    suppressed: bool = False

    def shown(self) -> str:
        if self.suppressed:
            return "[c]"
        return "-" if self.value is None else f"{self.value:,}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "section": self.section, "label": self.label,
            "value": None if self.suppressed else self.value,
            "suppressed": self.suppressed, "note": self.note,
        }  # fmt: skip


@dataclass(frozen=True)
class AnnualReport:
    area_code: str
    area_name: str
    first: date
    last: date
    figures: tuple[Figure, ...]
    population: Population | None
    published: bool
    suppress_below: int
    suppression_label: str
    policy_version: str
    notes: tuple[str, ...] = field(default=())

    def value(self, key: str) -> int | None:
        return next(f.value for f in self.figures if f.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "mappa-annual-report", "area": self.area_code, "area_name": self.area_name,
            "from": self.first.isoformat(), "to": self.last.isoformat(),
            "published": self.published,
            "suppression": {"below": self.suppress_below, "label": self.suppression_label}
            if self.published else None,
            "population": {"people": self.population.people, "year": self.population.year,
                           "source": self.population.source} if self.population else None,
            "policy_version": self.policy_version, "notes": list(self.notes),
            "figures": [f.to_json() for f in self.figures],
        }  # fmt: skip


class StatisticsService:
    def __init__(self, db: Database, clock: Clock, policy: PolicyService) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy

    async def annual_report(
        self,
        actor: Actor | None,
        area_code: str,
        first: date,
        last: date,
        *,
        publish: bool = False,
    ) -> AnnualReport:
        """The annual report tables for ``area_code`` from ``first`` to ``last`` (inclusive).
        ``actor`` None: the operator at the console. ``publish``: suppress small counts."""
        _check(actor, first, last)
        rules = self._policy.current.statistics
        async with self._db.write() as conn:
            area = await self._produce(conn, actor, area_code, first, last, publish, "annual")
            end = start_of(last + timedelta(days=1))
            on_last_day = await store.gradings_on(conn, area.id, end - timedelta(microseconds=1))
            managed = await store.highest_levels_between(conn, area.id, start_of(first), end)
            events = await store.events_between(conn, area.id, first, last)
        population = rules.populations.get(area.code) if rules else None
        figures = _figures(on_last_day, managed, events, population, last)
        below = rules.suppress_below if rules else 5
        if publish:
            figures = _suppress(figures, below)
        notes = []
        if population is None:
            notes.append(f"No population for {area.code} in policies/statistics.toml: no rate.")
        return AnnualReport(
            area.code, area.name, first, last, tuple(figures), population, publish, below,
            rules.suppression_label if rules else "", self._policy.current.short_version,
            tuple(notes),
        )  # fmt: skip

    async def board_indicators(
        self,
        actor: Actor | None,
        area_code: str,
        first: date,
        last: date,
        *,
        publish: bool = False,
    ) -> BoardReport:
        """The Strategic Management Board's indicators for ``area_code`` in [first, last]."""
        _check(actor, first, last)
        rules = self._policy.current.statistics
        today = local_date(self._clock.now())
        async with self._db.write() as conn:
            area = await self._produce(conn, actor, area_code, first, last, publish, "board")
        # Counting reads a year of workflow rows: outside the write transaction, which other
        # writers wait for.
        async with self._db.read() as conn:
            observations, notes = await indicator_observations.observe(
                conn, area.id, first, last, today, self._policy.current.transfer
            )
            names = await indicator_observations.agency_names(conn)
        found = indicators.tally(observations, first, last, names)
        below = rules.suppress_below if rules else 5
        if publish:
            found = indicators.suppress(found, below)
        if last >= today:
            notes.append("Deadlines still running on the last day are not judged yet.")
        quarters = tuple(indicators.quarter_label(q)
                         for q in indicators.quarters_between(first, last))  # fmt: skip
        return BoardReport(
            area.code, area.name, first, last, tuple(found), quarters, publish, below,
            rules.suppression_label if rules else "", self._policy.current.short_version,
            tuple(notes),
        )  # fmt: skip

    async def _produce(
        self,
        conn: AsyncConnection,
        actor: Actor | None,
        area_code: str,
        first: date,
        last: date,
        publish: bool,
        report: str,
    ) -> Area:
        """The area asked for, if the actor may read it; the report's production on the log."""
        area = await directory_store.area_by_code(conn, area_code.strip().upper())
        if area is None or (actor is not None and actor.agency.area_id != area.id):
            raise NotFound("No such area.")
        purpose = "mappa-annual-report" if report == "annual" else "smb-indicators"
        await ledger.append(conn, Record(
            action=Action.CONSULTATION, event=Event.STATS_PRODUCED, recorded_at=self._clock.now(),
            actor_user_id=actor.user.id if actor else None,
            actor_token_id=actor.token_id if actor else None,
            actor_agency_id=actor.agency.id if actor else None, case_id=None, recipients=(),
            purpose=purpose, lawful_basis="cja2003-s326",
            content_digest=sha256_hex(f"{report}:{area.code}:{first}:{last}:{int(publish)}".encode()),
        ))  # fmt: skip
        return area


def _check(actor: Actor | None, first: date, last: date) -> None:
    if actor is not None and not actor.has_role(*READERS):
        raise Forbidden("Statistics are for MAPPA coordinators, senior managers and auditors.")
    if last < first:
        raise InvalidInput("The period ends before it starts.", field="to")
    if (last - first).days > MAX_DAYS:
        raise InvalidInput("A report covers at most five years.", field="to")


def _figures(
    on_last_day: list[tuple[int, int, int]],
    managed: list[tuple[int, int, int]],
    events: Any,
    population: Population | None,
    last: date,
) -> list[Figure]:
    by_category = Counter(category for _, category, _ in on_last_day)
    levels = Counter((category, level) for _, category, level in managed)
    # Offenders (distinct cases) by (kind, level); orders counted as events.
    cases_by: dict[tuple[str, int], set[int]] = {}
    orders: Counter[tuple[str, str | None, str | None]] = Counter()
    breached: set[int] = set()
    for case_id, kind, order_type, stage, level in events:
        cases_by.setdefault((kind, level), set()).add(case_id)
        orders[(kind, order_type, stage)] += 1
        if kind in (K.BREACH_CAUTIONED, K.BREACH_CONVICTED):
            breached.add(case_id)
    people = Counter({key: len(ids) for key, ids in cases_by.items()})
    day = f"{last.day} {last:%B %Y}"
    c1, out = CATEGORY_NAMES[1], []
    rso = by_category[1]
    out.append(Figure("rso_on_last_day", c1, f"RSOs living in the area on {day}", rso))
    rate = round(rso * 100_000 / population.people) if population else None
    note = (
        f"population {population.people:,}: {population.source}, {population.year}"
        if population
        else "no population figure for this area"
    )
    out.append(Figure("rso_per_100k", c1, "RSOs per 100,000 people", rate, note=note))
    out.append(Figure("rso_breach", c1, "RSOs cautioned or convicted for breach of notification "
                      "requirements", len(breached)))  # fmt: skip
    for order, interim in ORDERS:
        name = order.label
        applied = orders[(K.ORDER_APPLIED, order.value, None)]
        out.append(Figure(f"{order.value}.applied", c1, f"{name}s applied for", applied))
        if interim:
            got = orders[(K.ORDER_GRANTED, order.value, OrderStage.INTERIM.value)]
            out.append(
                Figure(f"{order.value}.interim", c1, f"Interim {name.lower()}s granted", got)
            )
        full = orders[(K.ORDER_GRANTED, order.value, OrderStage.FULL.value)]
        label = f"Full {name.lower()}s granted" if interim else f"{name}s granted"
        out.append(Figure(f"{order.value}.full", c1, label, full))
    out.append(Figure("category2_on_last_day", CATEGORY_NAMES[2],
                      f"Violent and other sexual offenders living in the area on {day}",
                      by_category[2]))  # fmt: skip
    out.append(Figure("category3_on_last_day", CATEGORY_NAMES[3],
                      f"Other dangerous offenders living in the area on {day}",
                      by_category[3]))  # fmt: skip
    section = "Offenders managed at level 3 and level 2"
    for level in (3, 2):
        for category in (1, 2, 3):
            out.append(Figure(f"level{level}.category{category}", section,
                              f"Level {level}: {CATEGORY_NAMES[category].split(': ')[1]}",
                              levels[(category, level)]))  # fmt: skip
        total = sum(levels[(c, level)] for c in (1, 2, 3))
        out.append(Figure(f"level{level}.total", section, f"Level {level}: total", total))
        for kind, words in (
            (K.RECALLED_LICENCE, "returned to custody for breach of licence"),
            (K.RECALLED_ORDER, "returned to custody for breach of a restraining order, SHPO "
             "or SOPO"),
            (K.CHARGED_SERIOUS, "charged with a serious sexual or violent offence"),
        ):  # fmt: skip
            out.append(Figure(f"level{level}.{kind.value}", section,
                              f"Level {level}: {words}", people[(kind.value, level)]))  # fmt: skip
    return out


def _suppress(figures: list[Figure], below: int) -> list[Figure]:
    """Counts from 1 to ``below - 1`` are suppressed; a level's total with them when it would
    give one away; a rate goes with the count it comes from."""
    out = [replace(f, suppressed=f.value is not None and 0 < f.value < below) for f in figures]
    # Secondary suppression: a total shown beside exactly one suppressed part gives it away.
    for level in (3, 2):
        parts = [f for f in out if f.key in {f"level{level}.category{c}" for c in (1, 2, 3)}]
        if sum(f.suppressed for f in parts) == 1:
            out = [replace(f, suppressed=True) if f.key == f"level{level}.total" else f
                   for f in out]  # fmt: skip
    counts = {f.key: f for f in out}
    if counts["rso_on_last_day"].suppressed:
        out = [replace(f, suppressed=True) if f.key == "rso_per_100k" else f for f in out]
    else:
        out = [replace(f, suppressed=False) if f.key == "rso_per_100k" else f for f in out]
    return out
