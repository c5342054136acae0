"""Workflow rows: agencies active on a case, meetings, work items and requests for information.
Third-party disclosures are in ``hub.store.disclosures``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotRead
from hub.store.hot_writes import HotInsert
from hub.store.schema import (
    case_agencies,
    info_requests,
    meeting_attendance,
    meetings,
    work_items,
)

OPEN = "open"
DONE = "done"
CANCELLED = "cancelled"


# -- agencies active on a case ----------------------------------------------------------------


# Every share records its agencies as active on the case (on the driver where it can).
_JOIN_CASE = HotInsert(case_agencies, skip_existing=True)


async def join_case(
    conn: AsyncConnection, case_id: int, agency_ids: Iterable[int], when: datetime
) -> None:
    """Record agencies as active on a case; those already active keep their first date."""
    await join_cases(conn, [(case_id, frozenset(agency_ids))], when)


async def join_cases(
    conn: AsyncConnection, joins: Iterable[tuple[int, frozenset[int]]], when: datetime
) -> None:
    """``join_case`` for several cases at once, in one insert: an agency already active on a case
    keeps its row, and so its first date."""
    wanted = membership_rows(joins, when)
    if wanted:
        await _JOIN_CASE.run(conn, wanted)


def membership_rows(
    joins: Iterable[tuple[int, frozenset[int]]], when: datetime
) -> list[dict[str, Any]]:
    """``case_agencies`` rows for ``joins`` (case id, agencies), each pair once, in key order:
    for ``join_cases``, or for a share batch's own insert
    (``hub.store.packet_writes.insert_packets``)."""
    wanted = sorted({(case, agency) for case, agencies in joins for agency in agencies})
    return [{"case_id": c, "agency_id": a, "joined_at": when} for c, a in wanted]


# Read by every share (on the driver: hub.store.hot).
_CASE_AGENCY_IDS = HotRead(
    select(case_agencies.c.agency_id).where(case_agencies.c.case_id == bindparam("case_id"))
)


async def case_agency_ids(conn: AsyncConnection, case_id: int) -> set[int]:
    return {r[0] for r in await _CASE_AGENCY_IDS.all(conn, {"case_id": case_id})}


async def is_active_on(conn: AsyncConnection, case_id: int, agency_id: int) -> bool:
    stmt = select(case_agencies.c.case_id).where(
        case_agencies.c.case_id == case_id, case_agencies.c.agency_id == agency_id
    )
    return (await conn.execute(stmt)).first() is not None


async def active_among(conn: AsyncConnection, agency_id: int, case_ids: Sequence[int]) -> set[int]:
    """Which of ``case_ids`` the agency is active on (served by ix_case_agencies_agency)."""
    if not case_ids:
        return set()
    stmt = select(case_agencies.c.case_id).where(
        case_agencies.c.agency_id == agency_id, case_agencies.c.case_id.in_(list(set(case_ids)))
    )
    return set((await conn.execute(stmt)).scalars())


# -- meetings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingRow:
    id: int
    case_id: int
    held_on: date
    level: int
    chair_user_id: int
    recorded_at: datetime
    minutes_packet_id: str | None


def _meeting(r: RowMapping) -> MeetingRow:
    return MeetingRow(
        r["id"],
        r["case_id"],
        r["held_on"],
        r["level"],
        r["chair_user_id"],
        r["recorded_at"],
        r["minutes_packet_id"],
    )


async def insert_meeting(
    conn: AsyncConnection, case_id: int, held_on: date, level: int, chair: int, when: datetime
) -> int:
    result = await conn.execute(
        insert(meetings)
        .values(
            case_id=case_id, held_on=held_on, level=level, chair_user_id=chair, recorded_at=when
        )
        .returning(meetings.c.id)
    )
    return int(result.scalar_one())


async def meeting_on(conn: AsyncConnection, case_id: int, held_on: date) -> MeetingRow | None:
    stmt = select(meetings).where(meetings.c.case_id == case_id, meetings.c.held_on == held_on)
    row = (await conn.execute(stmt)).mappings().first()
    return _meeting(row) if row else None


async def meeting_by_id(conn: AsyncConnection, meeting_id: int) -> MeetingRow | None:
    row = (
        (await conn.execute(select(meetings).where(meetings.c.id == meeting_id))).mappings().first()
    )
    return _meeting(row) if row else None


async def set_minutes(conn: AsyncConnection, meeting_id: int, packet_id: str) -> None:
    await conn.execute(
        update(meetings).where(meetings.c.id == meeting_id).values(minutes_packet_id=packet_id)
    )


async def set_meeting_record(
    conn: AsyncConnection,
    meeting_id: int,
    disclosure_considered: bool,
    attendance: dict[int, tuple[bool, bool]],
) -> None:
    """What the minutes say of the meeting itself, in clear for the board's indicators: whether
    disclosure was considered, and per agency (invited, attended). Minutes sent again replace it."""
    await conn.execute(
        update(meetings)
        .where(meetings.c.id == meeting_id)
        .values(disclosure_considered=disclosure_considered)
    )
    await conn.execute(
        delete(meeting_attendance).where(meeting_attendance.c.meeting_id == meeting_id)
    )
    if attendance:
        await conn.execute(
            insert(meeting_attendance),
            [
                {"meeting_id": meeting_id, "agency_id": a, "invited": i, "attended": at}
                for a, (i, at) in sorted(attendance.items())
            ],
        )


async def case_meetings(conn: AsyncConnection, case_id: int) -> list[MeetingRow]:
    stmt = select(meetings).where(meetings.c.case_id == case_id).order_by(meetings.c.held_on)
    return [_meeting(r) for r in (await conn.execute(stmt)).mappings()]


# -- work items -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItemRow:
    id: int
    kind: str
    case_id: int
    area_id: int
    owner_agency_id: int
    owner_user_id: int | None
    due_on: date
    status: str
    source_packet_id: str | None
    meeting_id: int | None
    item_index: int | None
    outcome: str | None
    created_at: datetime
    closed_at: datetime | None
    closed_by_user_id: int | None
    closed_by_packet_id: str | None
    reminded_at: datetime | None


def _item(r: RowMapping) -> WorkItemRow:
    return WorkItemRow(**{name: r[name] for name in WorkItemRow.__dataclass_fields__})


async def insert_item(conn: AsyncConnection, **values: Any) -> int:
    values.setdefault("status", OPEN)
    result = await conn.execute(insert(work_items).values(**values).returning(work_items.c.id))
    return int(result.scalar_one())


async def item_by_id(conn: AsyncConnection, item_id: int) -> WorkItemRow | None:
    stmt = select(work_items).where(work_items.c.id == item_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _item(row) if row else None


async def close_item(
    conn: AsyncConnection,
    item_id: int,
    when: datetime,
    *,
    status: str = DONE,
    user_id: int | None = None,
    packet_id: str | None = None,
    outcome: str | None = None,
) -> bool:
    """Close an open item; False if it was already closed (a second answer changes nothing)."""
    result = await conn.execute(
        update(work_items)
        .where(work_items.c.id == item_id, work_items.c.status == OPEN)
        .values(
            status=status,
            closed_at=when,
            closed_by_user_id=user_id,
            closed_by_packet_id=packet_id,
            outcome=outcome,
        )
    )
    return bool(result.rowcount)


async def hand_over_items(
    conn: AsyncConnection,
    case_id: int,
    kinds: Sequence[str],
    *,
    area_id: int | None,
    owner_agency_id: int | None,
    when: datetime,
) -> None:
    """A transferred case's open deadlines of ``kinds`` become the receiving area's (owned by its
    new lead agency), or, for a case gone to another hub, are cancelled here."""
    where = and_(
        work_items.c.case_id == case_id,
        work_items.c.status == OPEN,
        work_items.c.kind.in_(list(kinds)),
    )
    if area_id is None or owner_agency_id is None:
        stmt = update(work_items).where(where).values(status=CANCELLED, closed_at=when)
    else:
        stmt = (
            update(work_items)
            .where(where)
            .values(area_id=area_id, owner_agency_id=owner_agency_id, owner_user_id=None)
        )
    await conn.execute(stmt)


async def set_due(conn: AsyncConnection, item_id: int, due_on: date) -> None:
    await conn.execute(update(work_items).where(work_items.c.id == item_id).values(due_on=due_on))


async def open_items(
    conn: AsyncConnection,
    *,
    case_id: int | None = None,
    kind: str | None = None,
    owner_agency_id: int | None = None,
    area_id: int | None = None,
    due_by: date | None = None,
    limit: int = 500,
) -> list[WorkItemRow]:
    conditions = [work_items.c.status == OPEN]
    if case_id is not None:
        conditions.append(work_items.c.case_id == case_id)
    if kind is not None:
        conditions.append(work_items.c.kind == kind)
    if owner_agency_id is not None:
        conditions.append(work_items.c.owner_agency_id == owner_agency_id)
    if area_id is not None:
        conditions.append(work_items.c.area_id == area_id)
    if due_by is not None:
        conditions.append(work_items.c.due_on <= due_by)
    stmt = (
        select(work_items)
        .where(and_(*conditions))
        .order_by(work_items.c.due_on, work_items.c.id)
        .limit(limit)
    )
    return [_item(r) for r in (await conn.execute(stmt)).mappings()]


async def case_items(conn: AsyncConnection, case_id: int) -> list[WorkItemRow]:
    stmt = (
        select(work_items)
        .where(work_items.c.case_id == case_id)
        .order_by(work_items.c.due_on, work_items.c.id)
    )
    return [_item(r) for r in (await conn.execute(stmt)).mappings()]


async def mark_reminded(conn: AsyncConnection, before: date, when: datetime) -> list[WorkItemRow]:
    """Items that went overdue and have not been reminded yet: stamp them and return them."""
    stmt = select(work_items).where(
        work_items.c.status == OPEN,
        work_items.c.due_on < before,
        work_items.c.reminded_at.is_(None),
    )
    rows = [_item(r) for r in (await conn.execute(stmt)).mappings()]
    if rows:
        await conn.execute(
            update(work_items)
            .where(work_items.c.id.in_([r.id for r in rows]), work_items.c.reminded_at.is_(None))
            .values(reminded_at=when)
        )
    return rows


# -- requests for information ------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRow:
    id: int
    packet_id: str
    case_id: int
    requester_agency_id: int
    requester_user_id: int
    target_agency_id: int
    due_on: date
    status: str
    work_item_id: int
    response_packet_id: str | None
    decline_reason: str | None
    closed_by_user_id: int | None
    closed_at: datetime | None


def _request(r: RowMapping) -> RequestRow:
    return RequestRow(**{name: r[name] for name in RequestRow.__dataclass_fields__})


async def insert_request(conn: AsyncConnection, **values: Any) -> int:
    values.setdefault("status", OPEN)
    result = await conn.execute(
        insert(info_requests).values(**values).returning(info_requests.c.id)
    )
    return int(result.scalar_one())


async def request_by_id(conn: AsyncConnection, request_id: int) -> RequestRow | None:
    stmt = select(info_requests).where(info_requests.c.id == request_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _request(row) if row else None


async def request_for(
    conn: AsyncConnection, packet_id: str, target_agency_id: int
) -> RequestRow | None:
    stmt = select(info_requests).where(
        info_requests.c.packet_id == packet_id,
        info_requests.c.target_agency_id == target_agency_id,
    )
    row = (await conn.execute(stmt)).mappings().first()
    return _request(row) if row else None


async def requests_by_packet(conn: AsyncConnection, packet_id: str) -> list[RequestRow]:
    stmt = select(info_requests).where(info_requests.c.packet_id == packet_id)
    return [_request(r) for r in (await conn.execute(stmt)).mappings()]


async def close_request(
    conn: AsyncConnection,
    request_id: int,
    status: str,
    user_id: int,
    when: datetime,
    *,
    response_packet_id: str | None = None,
    decline_reason: str | None = None,
) -> bool:
    result = await conn.execute(
        update(info_requests)
        .where(info_requests.c.id == request_id, info_requests.c.status == OPEN)
        .values(
            status=status,
            closed_by_user_id=user_id,
            closed_at=when,
            response_packet_id=response_packet_id,
            decline_reason=decline_reason,
        )
    )
    return bool(result.rowcount)


async def requests_to(conn: AsyncConnection, agency_id: int, limit: int = 200) -> list[RequestRow]:
    stmt = (
        select(info_requests)
        .where(info_requests.c.target_agency_id == agency_id)
        .order_by(info_requests.c.status.desc(), info_requests.c.due_on, info_requests.c.id)
        .limit(limit)
    )
    return [_request(r) for r in (await conn.execute(stmt)).mappings()]


async def requests_from(
    conn: AsyncConnection, agency_id: int, limit: int = 200
) -> list[RequestRow]:
    stmt = (
        select(info_requests)
        .where(info_requests.c.requester_agency_id == agency_id)
        .order_by(info_requests.c.id.desc())
        .limit(limit)
    )
    return [_request(r) for r in (await conn.execute(stmt)).mappings()]


async def case_requests(conn: AsyncConnection, case_id: int) -> list[RequestRow]:
    stmt = select(info_requests).where(info_requests.c.case_id == case_id)
    return [_request(r) for r in (await conn.execute(stmt)).mappings()]
