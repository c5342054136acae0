"""Typed case events and the case's area, category and level over time (``case_gradings``).

``sync_grading`` is called by every store function that changes a case's area, category or level
(in the same transaction): the open row is closed and a new one opened when they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.case_events import CaseEvent, CaseEventKind, OrderStage, OrderType
from hub.store.schema import case_events, case_gradings, cases


async def sync_grading(conn: AsyncConnection, case_id: int, when: datetime) -> None:
    """Bring the case's open grading row in line with the case row."""
    stmt = select(cases.c.area_id, cases.c.category, cases.c.level).where(cases.c.id == case_id)
    case = (await conn.execute(stmt)).mappings().first()
    if case is None:
        return
    current = await _open_row(conn, case_id)
    values = {"area_id": case["area_id"], "category": case["category"], "level": case["level"]}
    if current is not None and all(current[k] == v for k, v in values.items()):
        return
    await close_grading(conn, case_id, when)
    await conn.execute(insert(case_gradings).values(case_id=case_id, valid_from=when, **values))


async def close_grading(conn: AsyncConnection, case_id: int, when: datetime) -> None:
    """The case is no longer managed here from ``when`` (it left the hub, or MAPPA ended)."""
    await conn.execute(
        update(case_gradings)
        .where(case_gradings.c.case_id == case_id, case_gradings.c.valid_to.is_(None))
        .values(valid_to=when)
    )


async def _open_row(conn: AsyncConnection, case_id: int) -> RowMapping | None:
    stmt = select(case_gradings).where(
        case_gradings.c.case_id == case_id, case_gradings.c.valid_to.is_(None)
    )
    return (
        (await conn.execute(stmt.order_by(case_gradings.c.id.desc()).limit(1))).mappings().first()
    )


async def grading_at(conn: AsyncConnection, case_id: int, when: datetime) -> RowMapping | None:
    """The case's area, category and level at ``when`` (None: not managed on this hub then)."""
    stmt = (
        select(case_gradings)
        .where(
            case_gradings.c.case_id == case_id,
            case_gradings.c.valid_from <= when,
            or_(case_gradings.c.valid_to.is_(None), case_gradings.c.valid_to > when),
        )
        .order_by(case_gradings.c.valid_from.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).mappings().first()


async def insert_event(conn: AsyncConnection, **values: Any) -> CaseEvent:
    result = await conn.execute(insert(case_events).values(**values).returning(case_events))
    return _event(result.mappings().one())


async def events_for_case(conn: AsyncConnection, case_id: int) -> list[CaseEvent]:
    stmt = (
        select(case_events)
        .where(case_events.c.case_id == case_id)
        .order_by(case_events.c.occurred_on, case_events.c.id)
    )
    return [_event(r) for r in (await conn.execute(stmt)).mappings()]


def _event(r: RowMapping) -> CaseEvent:
    return CaseEvent(
        id=r["id"],
        case_id=r["case_id"],
        kind=CaseEventKind(r["kind"]),
        occurred_on=r["occurred_on"],
        order_type=OrderType(r["order_type"]) if r["order_type"] else None,
        order_stage=OrderStage(r["order_stage"]) if r["order_stage"] else None,
        area_id=r["area_id"],
        level=r["level"],
        recorded_by_user_id=r["recorded_by_user_id"],
        recorded_by_agency_id=r["recorded_by_agency_id"],
        recorded_at=r["recorded_at"],
    )


# -- for the statistics: counts, never case content -------------------------------------------


async def gradings_on(
    conn: AsyncConnection, area_id: int, when: datetime
) -> list[tuple[int, int, int]]:
    """(case id, category, level) of every case the area manages at ``when`` (not duplicates
    combined into another record)."""
    stmt = (
        select(case_gradings.c.case_id, case_gradings.c.category, case_gradings.c.level)
        .join(cases, cases.c.id == case_gradings.c.case_id)
        .where(
            case_gradings.c.area_id == area_id,
            case_gradings.c.valid_from <= when,
            or_(case_gradings.c.valid_to.is_(None), case_gradings.c.valid_to > when),
            cases.c.merged_into_id.is_(None),
        )
    )
    return [(r[0], r[1], r[2]) for r in (await conn.execute(stmt)).all()]


async def highest_levels_between(
    conn: AsyncConnection, area_id: int, start: datetime, end: datetime
) -> list[tuple[int, int, int]]:
    """(case id, category, highest level) of every case the area managed at some time in
    [start, end): the category is the one it had at that highest level, latest first."""
    stmt = (
        select(
            case_gradings.c.case_id,
            case_gradings.c.category,
            case_gradings.c.level,
            case_gradings.c.valid_from,
        )
        .join(cases, cases.c.id == case_gradings.c.case_id)
        .where(
            case_gradings.c.area_id == area_id,
            case_gradings.c.valid_from < end,
            or_(case_gradings.c.valid_to.is_(None), case_gradings.c.valid_to > start),
            cases.c.merged_into_id.is_(None),
        )
    )
    best: dict[int, tuple[int, int, datetime]] = {}
    for case_id, category, level, since in (await conn.execute(stmt)).all():
        held = best.get(case_id)
        if held is None or (level, since) > (held[1], held[2]):
            best[case_id] = (category, level, since)
    return [(case_id, c, lv) for case_id, (c, lv, _) in best.items()]


async def events_between(
    conn: AsyncConnection, area_id: int, first: date, last: date
) -> Sequence[tuple[int, str, str | None, str | None, int]]:
    """(case id, kind, order type, order stage, level) of the area's events in [first, last],
    events on combined duplicate records left out. An area records hundreds a year."""
    stmt = (
        select(
            case_events.c.case_id,
            case_events.c.kind,
            case_events.c.order_type,
            case_events.c.order_stage,
            case_events.c.level,
        )
        .join(cases, cases.c.id == case_events.c.case_id)
        .where(
            and_(
                case_events.c.area_id == area_id,
                case_events.c.occurred_on >= first,
                case_events.c.occurred_on <= last,
                cases.c.merged_into_id.is_(None),
            )
        )
    )
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in (await conn.execute(stmt)).all()]
