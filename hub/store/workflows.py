"""Workflow rows: agencies active on a case, meetings, work items, requests and disclosures."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import (
    case_agencies,
    disclosure_decisions,
    disclosures,
    info_requests,
    meetings,
    work_items,
)

OPEN = "open"
DONE = "done"
CANCELLED = "cancelled"


# -- agencies active on a case ----------------------------------------------------------------


# Built once: every share records its agencies as active on the case.
_ACTIVE_ON = select(case_agencies.c.case_id, case_agencies.c.agency_id).where(
    case_agencies.c.case_id.in_(bindparam("cases", expanding=True))
)
_JOIN_CASE = insert(case_agencies)


async def join_case(
    conn: AsyncConnection, case_id: int, agency_ids: Iterable[int], when: datetime
) -> None:
    """Record agencies as active on a case; those already active keep their first date."""
    await join_cases(conn, [(case_id, frozenset(agency_ids))], when)


async def join_cases(
    conn: AsyncConnection, joins: Iterable[tuple[int, frozenset[int]]], when: datetime
) -> None:
    """``join_case`` for several cases at once: one query, and one insert of what is new."""
    wanted = {(case, agency) for case, agencies in joins for agency in agencies}
    if not wanted:
        return
    cases = sorted({case for case, _ in wanted})
    have = {(c, a) for c, a in (await conn.execute(_ACTIVE_ON, {"cases": cases})).all()}
    new = sorted(wanted - have)
    if new:
        await conn.execute(
            _JOIN_CASE, [{"case_id": c, "agency_id": a, "joined_at": when} for c, a in new]
        )


async def case_agency_ids(conn: AsyncConnection, case_id: int) -> set[int]:
    stmt = select(case_agencies.c.agency_id).where(case_agencies.c.case_id == case_id)
    return set((await conn.execute(stmt)).scalars())


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


# -- third-party disclosures ------------------------------------------------------------------


@dataclass(frozen=True)
class DisclosureRow:
    id: int
    case_id: int
    area_id: int
    proposal_packet_id: str
    proposer_user_id: int
    # The person behind the proposing account; None only for some rows older than migration 0009.
    proposer_person_id: int | None
    proposer_agency_id: int
    recipient_kind: str
    method: str
    offender_to_be_told: bool
    purpose: str
    lawful_basis: str
    categories: str
    status: str
    approvals_needed: list[dict[str, Any]]
    policy_version: str
    created_at: datetime
    decided_at: datetime | None
    delivered_at: datetime | None
    delivered_by_user_id: int | None
    delivered_by_person_id: int | None


@dataclass(frozen=True)
class DecisionRow:
    id: int
    disclosure_id: int
    approver_user_id: int
    approver_person_id: int | None
    approver_agency_id: int
    role: str
    decision: str
    reasons: str
    conditions: str
    decided_at: datetime


def _disclosure(r: RowMapping) -> DisclosureRow:
    values = {name: r[name] for name in DisclosureRow.__dataclass_fields__}
    values["approvals_needed"] = json.loads(r["approvals_needed"])
    values["offender_to_be_told"] = bool(r["offender_to_be_told"])
    return DisclosureRow(**values)


def _decision(r: RowMapping) -> DecisionRow:
    return DecisionRow(**{name: r[name] for name in DecisionRow.__dataclass_fields__})


async def insert_disclosure(
    conn: AsyncConnection, approvals_needed: Sequence[dict[str, Any]], **values: Any
) -> int:
    result = await conn.execute(
        insert(disclosures)
        .values(approvals_needed=json.dumps(list(approvals_needed)), **values)
        .returning(disclosures.c.id)
    )
    return int(result.scalar_one())


async def disclosure_by_id(conn: AsyncConnection, disclosure_id: int) -> DisclosureRow | None:
    stmt = select(disclosures).where(disclosures.c.id == disclosure_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _disclosure(row) if row else None


async def disclosures_for_packet(conn: AsyncConnection, packet_id: str) -> list[DisclosureRow]:
    stmt = select(disclosures).where(disclosures.c.proposal_packet_id == packet_id)
    return [_disclosure(r) for r in (await conn.execute(stmt)).mappings()]


async def update_disclosure(
    conn: AsyncConnection, disclosure_id: int, expect_status: str, **values: Any
) -> bool:
    """Move a disclosure on from ``expect_status``; False if someone else moved it first."""
    result = await conn.execute(
        update(disclosures)
        .where(disclosures.c.id == disclosure_id, disclosures.c.status == expect_status)
        .values(**values)
    )
    return bool(result.rowcount)


async def insert_decision(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(disclosure_decisions).values(**values))


async def decisions_for(conn: AsyncConnection, disclosure_ids: Sequence[int]) -> list[DecisionRow]:
    if not disclosure_ids:
        return []
    stmt = (
        select(disclosure_decisions)
        .where(disclosure_decisions.c.disclosure_id.in_(list(disclosure_ids)))
        .order_by(disclosure_decisions.c.decided_at, disclosure_decisions.c.id)
    )
    return [_decision(r) for r in (await conn.execute(stmt)).mappings()]


async def disclosure_register(
    conn: AsyncConnection,
    *,
    area_id: int | None = None,
    case_id: int | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[DisclosureRow]:
    stmt = select(disclosures).order_by(disclosures.c.created_at.desc(), disclosures.c.id.desc())
    if area_id is not None:
        stmt = stmt.where(disclosures.c.area_id == area_id)
    if case_id is not None:
        stmt = stmt.where(disclosures.c.case_id == case_id)
    if status is not None:
        stmt = stmt.where(disclosures.c.status == status)
    return [_disclosure(r) for r in (await conn.execute(stmt.limit(limit))).mappings()]
