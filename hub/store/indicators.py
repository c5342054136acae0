"""The rows behind the Strategic Management Board's indicators (``hub.services.indicators``):
deadlines, meetings, requests, transfers and email deliveries of one area, in clear workflow
state only. Nothing here reads a packet's content; each query is bounded by the area and a
period and served by an index on (area, date).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import (
    agencies,
    case_gradings,
    email_outbox,
    info_requests,
    meeting_attendance,
    meetings,
    transfers,
    work_items,
)


@dataclass(frozen=True)
class DueRow:
    """A deadline: minutes, a review, a referral before release."""

    kind: str
    case_id: int
    agency_id: int
    due_on: date
    status: str
    closed_at: datetime | None
    closed_by_packet_id: str | None
    meeting_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class MeetingRow:
    id: int
    case_id: int
    held_on: date
    level: int
    chair_agency_id: int
    minutes_recorded: bool
    minutes_due_on: date | None
    disclosure_considered: bool | None


@dataclass(frozen=True)
class Grading:
    case_id: int
    level: int
    valid_from: datetime
    valid_to: datetime | None


async def due_items(
    conn: AsyncConnection, area_id: int, kinds: Sequence[str], first: date, last: date
) -> list[DueRow]:
    """The area's deadlines of ``kinds`` falling due in [first, last], cancelled ones left out."""
    stmt = select(
        work_items.c.kind,
        work_items.c.case_id,
        work_items.c.owner_agency_id,
        work_items.c.due_on,
        work_items.c.status,
        work_items.c.closed_at,
        work_items.c.closed_by_packet_id,
        work_items.c.meeting_id,
        work_items.c.created_at,
    ).where(
        work_items.c.area_id == area_id,
        work_items.c.kind.in_(list(kinds)),
        work_items.c.due_on >= first,
        work_items.c.due_on <= last,
        work_items.c.status != "cancelled",
    )
    return [DueRow(*r) for r in (await conn.execute(stmt)).all()]


async def area_meetings(
    conn: AsyncConnection, area_id: int, first: date, last: date
) -> list[MeetingRow]:
    """Meetings held in [first, last] by the area (the area its minutes deadline was set in)."""
    return await _meetings(conn, area_id, meetings.c.held_on.between(first, last))


async def meetings_of_cases(
    conn: AsyncConnection, area_id: int, case_ids: Sequence[int], since: date
) -> list[MeetingRow]:
    """The area's meetings on ``case_ids`` held on or after ``since``: what met each review."""
    if not case_ids:
        return []
    return await _meetings(
        conn,
        area_id,
        and_(meetings.c.case_id.in_(sorted(set(case_ids))), meetings.c.held_on >= since),
    )


async def _meetings(conn: AsyncConnection, area_id: int, where: object) -> list[MeetingRow]:
    stmt = (
        select(
            meetings.c.id,
            meetings.c.case_id,
            meetings.c.held_on,
            meetings.c.level,
            work_items.c.owner_agency_id,
            meetings.c.minutes_packet_id.is_not(None),
            work_items.c.due_on,
            meetings.c.disclosure_considered,
        )
        .join(
            work_items,
            and_(work_items.c.meeting_id == meetings.c.id, work_items.c.kind == "minutes"),
        )
        .where(work_items.c.area_id == area_id, where)  # type: ignore[arg-type]
    )
    return [MeetingRow(*r) for r in (await conn.execute(stmt)).all()]


async def attendance(
    conn: AsyncConnection, area_id: int, first: date, last: date
) -> list[tuple[int, int, date, int, int]]:
    """(level, agency id, held on, attended, invited) for the invited agencies of the area's
    meetings held in [first, last], counted by the database."""
    attended = func.sum(case((meeting_attendance.c.attended, 1), else_=0))
    stmt = (
        select(meetings.c.level, meeting_attendance.c.agency_id, meetings.c.held_on, attended,
               func.count())
        .select_from(meeting_attendance)
        .join(meetings, meetings.c.id == meeting_attendance.c.meeting_id)
        .join(work_items, and_(work_items.c.meeting_id == meetings.c.id,
                               work_items.c.kind == "minutes"))
        .where(work_items.c.area_id == area_id, meetings.c.held_on.between(first, last),
               meeting_attendance.c.invited.is_(True))
        .group_by(meetings.c.level, meeting_attendance.c.agency_id, meetings.c.held_on)
    )  # fmt: skip
    return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in (await conn.execute(stmt)).all()]


async def requests_due(
    conn: AsyncConnection, area_id: int, first: date, last: date
) -> list[tuple[int, int, date, str, datetime | None, datetime]]:
    """(case id, asked agency id, due on, status, closed at, asked at) of the requests for
    information on the area's cases falling due in [first, last]."""
    stmt = (
        select(
            info_requests.c.case_id,
            info_requests.c.target_agency_id,
            info_requests.c.due_on,
            info_requests.c.status,
            info_requests.c.closed_at,
            work_items.c.created_at,
        )
        .join(work_items, work_items.c.id == info_requests.c.work_item_id)
        .where(
            work_items.c.area_id == area_id,
            info_requests.c.due_on >= first,
            info_requests.c.due_on <= last,
        )
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in (await conn.execute(stmt)).all()]


async def transfers_completed(
    conn: AsyncConnection, area_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Transfers into or out of the area completed in [start, end), with each step's time."""
    stmt = select(
        transfers.c.case_id,
        transfers.c.sending_area_id,
        transfers.c.proposer_agency_id,
        transfers.c.new_lead_agency_id,
        transfers.c.created_at,
        transfers.c.decided_at,
        transfers.c.sent_at,
        transfers.c.received_at,
        transfers.c.completed_at,
    ).where(
        or_(transfers.c.sending_area_id == area_id, transfers.c.receiving_area_id == area_id),
        transfers.c.state == "completed",
        transfers.c.completed_at >= start,
        transfers.c.completed_at < end,
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def emails_delivered(
    conn: AsyncConnection, area_id: int, start: datetime, end: datetime
) -> list[tuple[int, int | None, str, datetime, int]]:
    """(agency id, level, status, hour, messages) of the email and letters queued in
    [start, end) for the area's agencies that were sent or failed for good, counted by the
    database per hour queued (UK days begin on the hour) and the case's level then. A daily
    digest's own row is left out: the rows folded into it are counted (``emails_waiting``)."""
    hour = _hour(conn, email_outbox.c.created_at)
    stmt = (
        select(email_outbox.c.agency_id, case_gradings.c.level, email_outbox.c.status, hour,
               func.count())
        .select_from(email_outbox)
        .join(agencies, agencies.c.id == email_outbox.c.agency_id)
        .outerjoin(case_gradings, and_(
            case_gradings.c.case_id == email_outbox.c.case_id,
            case_gradings.c.valid_from <= email_outbox.c.created_at,
            or_(case_gradings.c.valid_to.is_(None),
                case_gradings.c.valid_to > email_outbox.c.created_at)))
        .where(agencies.c.area_id == area_id, email_outbox.c.kind != "digest",
               email_outbox.c.status.in_(("sent", "dead")),
               email_outbox.c.created_at >= start, email_outbox.c.created_at < end)
        .group_by(email_outbox.c.agency_id, case_gradings.c.level, email_outbox.c.status, hour)
    )  # fmt: skip
    return [(r[0], r[1], r[2], _as_hour(r[3]), int(r[4])) for r in (await conn.execute(stmt)).all()]


async def emails_waiting(
    conn: AsyncConnection, area_id: int, start: datetime, end: datetime
) -> list[tuple[int, int | None, str, datetime, int | None]]:
    """(agency id, case id, status, queued at, digest id) of the rest: messages not yet sent
    (pending, being sent, waiting for a digest) or folded into a digest, one row each."""
    stmt = (
        select(
            email_outbox.c.agency_id,
            email_outbox.c.case_id,
            email_outbox.c.status,
            email_outbox.c.created_at,
            email_outbox.c.digest_id,
        )
        .join(agencies, agencies.c.id == email_outbox.c.agency_id)
        .where(
            agencies.c.area_id == area_id,
            email_outbox.c.kind != "digest",
            email_outbox.c.status.not_in(("sent", "dead")),
            email_outbox.c.created_at >= start,
            email_outbox.c.created_at < end,
        )
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in (await conn.execute(stmt)).all()]


def _hour(conn: AsyncConnection, column: Any) -> Any:
    """The UTC hour a timestamp falls in, as each database writes it."""
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    return func.date_trunc("hour", column)


def _as_hour(value: Any) -> datetime:
    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


async def email_statuses(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(email_outbox.c.id, email_outbox.c.status).where(
        email_outbox.c.id.in_(sorted(set(ids)))
    )
    return {r[0]: r[1] for r in (await conn.execute(stmt)).all()}


async def gradings_of_cases(conn: AsyncConnection, case_ids: Sequence[int]) -> list[Grading]:
    """Each case's levels over time, to say at which level a deadline or message fell."""
    wanted = sorted(set(case_ids))
    out: list[Grading] = []
    for i in range(0, len(wanted), 5000):  # bounded IN lists
        stmt = select(
            case_gradings.c.case_id,
            case_gradings.c.level,
            case_gradings.c.valid_from,
            case_gradings.c.valid_to,
        ).where(case_gradings.c.case_id.in_(wanted[i : i + 5000]))
        out += [Grading(*r) for r in (await conn.execute(stmt)).all()]
    return out
