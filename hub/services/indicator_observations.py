"""The observations behind the Strategic Management Board's indicators, read from an area's
clear workflow state (``hub.store.indicators``): each deadline, meeting, invitation, request,
transfer and email judged met or not, with the level, the agency responsible and the day.
Never a packet's content.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.policy.transfer import TransferPolicy
from hub.services.case_events import start_of
from hub.services.indicators import Observation
from hub.store import directory as directory_store
from hub.store import indicators as store
from hub.workflows import deadlines
from hub.workflows.deadlines import local_date

# How long a message may wait before it counts as not delivered (a daily digest waits a day).
EMAIL_GRACE = timedelta(hours=48)


class _Levels:
    """Each case's level at a moment, from its grading history."""

    def __init__(self, gradings: Iterable[store.Grading]) -> None:
        by_case: dict[int, list[store.Grading]] = defaultdict(list)
        for g in gradings:
            by_case[g.case_id].append(g)
        self._rows = {k: sorted(v, key=lambda g: g.valid_from) for k, v in by_case.items()}
        self._starts = {k: [g.valid_from for g in v] for k, v in self._rows.items()}

    def at(self, case_id: int | None, moment: datetime) -> int | None:
        if case_id is None or case_id not in self._rows:
            return None
        i = bisect_right(self._starts[case_id], moment) - 1
        # Before its first grading (an event dated before the case was opened): its first level.
        return self._rows[case_id][max(i, 0)].level


async def observe(
    conn: AsyncConnection,
    area_id: int,
    first: date,
    last: date,
    today: date,
    transfer_rules: TransferPolicy | None,
) -> tuple[list[Observation], list[str]]:
    """Every judged observation of the area in [first, last], and notes on what was left out."""
    start, end = start_of(first), start_of(last + timedelta(days=1))
    notes: list[str] = []
    due = await store.due_items(conn, area_id, ("minutes", "review", "referral"), first, last)
    held = await store.area_meetings(conn, area_id, first, last)
    since = first - timedelta(weeks=max(deadlines.REVIEW_WEEKS.values()), days=1)
    # The meetings that set the minutes and reviews due, and those that met the reviews.
    meeting_cases = [d.case_id for d in due if d.kind in ("minutes", "review")]
    case_meetings = await store.meetings_of_cases(conn, area_id, meeting_cases, since)
    requests = await store.requests_due(conn, area_id, first, last)
    moved = await store.transfers_completed(conn, area_id, start, end)
    delivered = await store.emails_delivered(conn, area_id, start, end)
    waiting = await store.emails_waiting(conn, area_id, start, end)
    digests = await store.email_statuses(conn, [e[4] for e in waiting if e[4] is not None])
    attendance = await store.attendance(conn, area_id, first, last)
    case_ids = [d.case_id for d in due] + [r[0] for r in requests] + [e[1] for e in waiting if e[1]]
    case_ids += [int(t["case_id"]) for t in moved if t["case_id"] is not None]
    levels = _Levels(await store.gradings_of_cases(conn, case_ids))

    meetings_by_id = {m.id: m for m in [*held, *case_meetings]}
    out = _deadlines(due, meetings_by_id, case_meetings, levels, today)
    unknown = sum(m.minutes_recorded and m.disclosure_considered is None for m in held)
    if unknown:
        notes.append(f"{unknown} meeting(s) have minutes from before the hub kept what they "
                     "recorded about disclosure and attendance in clear: not counted.")  # fmt: skip
    out += _meetings(held, today)
    out += [Observation("invited_attending", came, level, agency_id, held_on, invited)
            for level, agency_id, held_on, came, invited in attendance]  # fmt: skip
    out += _requests(requests, levels, today)
    out += [_transfer(t, area_id, transfer_rules, levels) for t in moved]
    out += [Observation("emails_delivered", count if status == "sent" else 0, level, agency_id,
                        local_date(hour), count)
            for agency_id, level, status, hour, count in delivered]  # fmt: skip
    out += _emails_waiting(waiting, digests, levels, today)
    return out, notes


def _deadlines(
    due: Sequence[store.DueRow],
    meetings_by_id: dict[int, store.MeetingRow],
    case_meetings: Sequence[store.MeetingRow],
    levels: _Levels,
    today: date,
) -> list[Observation]:
    """Minutes, reviews and referrals: met by their due date, or judged once it has passed."""
    on_case: dict[int, list[date]] = defaultdict(list)
    for m in case_meetings:
        on_case[m.case_id].append(m.held_on)
    out = []
    for d in due:
        closed_on = local_date(d.closed_at) if d.closed_at and d.status == "done" else None
        on_time = closed_on is not None and closed_on <= d.due_on
        setting = meetings_by_id.get(d.meeting_id or 0)
        level = setting.level if setting else levels.at(d.case_id, d.created_at)
        if d.kind == "minutes":
            if closed_on is not None or d.due_on < today:
                out.append(Observation("minutes_on_time", on_time, level, d.agency_id, d.due_on))
        elif d.kind == "review":
            # Met by the case's next meeting, held by the date (recorded whenever it was).
            after = setting.held_on if setting else local_date(d.created_at)
            met = any(after < h <= d.due_on for h in on_case.get(d.case_id, ()))
            if met or d.due_on < today:
                out.append(Observation("reviews_on_time", met, level, d.agency_id, d.due_on))
        elif closed_on is not None or d.due_on < today:
            # A referral before release: closed by the referral itself, not by anything else.
            met = on_time and d.closed_by_packet_id is not None
            out.append(Observation("referrals_on_time", met, level, d.agency_id, d.due_on))
    return out


def _meetings(held: Sequence[store.MeetingRow], today: date) -> list[Observation]:
    """Disclosure considered at each meeting held (no minutes, once overdue, records nothing)."""
    out = []
    for m in held:
        if m.minutes_recorded and m.disclosure_considered is None:
            continue  # minutes from before the hub kept the answer in clear
        if m.minutes_recorded or (m.minutes_due_on is not None and m.minutes_due_on < today):
            out.append(Observation("disclosure_considered", int(bool(m.disclosure_considered)),
                                   m.level, m.chair_agency_id, m.held_on))  # fmt: skip
    return out


def _requests(
    requests: Sequence[tuple[int, int, date, str, datetime | None, datetime]],
    levels: _Levels,
    today: date,
) -> list[Observation]:
    out = []
    for case_id, agency_id, due_on, status, closed_at, asked_at in requests:
        replied_on = (
            local_date(closed_at)
            if status in ("answered", "declined") and closed_at is not None
            else None
        )
        if replied_on is not None or due_on < today:
            met = replied_on is not None and replied_on <= due_on
            level = levels.at(case_id, asked_at)
            out.append(Observation("requests_on_time", met, level, agency_id, due_on))
    return out


def _emails_waiting(
    emails: Sequence[tuple[int, int | None, str, datetime, int | None]],
    digests: dict[int, str],
    levels: _Levels,
    today: date,
) -> list[Observation]:
    """Messages folded into a digest (delivered if the digest was), and those still waiting
    after the grace period (not delivered)."""
    now = start_of(today)
    out = []
    for agency_id, case_id, status, queued_at, digest_id in emails:
        if status == "folded" and digest_id is not None:
            status = digests.get(digest_id, "pending")  # it went out in the digest, or not
        if status in ("sent", "dead") or queued_at + EMAIL_GRACE < now:
            level = levels.at(case_id, queued_at)
            out.append(Observation("emails_delivered", status == "sent", level, agency_id,
                                   local_date(queued_at)))  # fmt: skip
    return out


def _transfer(
    t: dict[str, Any], area_id: int, rules: TransferPolicy | None, levels: _Levels
) -> Observation:
    decision, send, receive = (
        (rules.decision_days, rules.send_days, rules.receive_days) if rules else (10, 5, 5)
    )
    # On a hub receiving from a peer, the file was sent elsewhere: its arrival ends that step.
    sent = t["sent_at"] or t["received_at"]
    steps = ((t["created_at"], t["decided_at"], decision), (t["decided_at"], sent, send),
             (sent, t["completed_at"], receive))  # fmt: skip
    met = all(
        a is not None
        and b is not None
        and local_date(b) <= deadlines.add_working_days(local_date(a), days)
        for a, b, days in steps
    )
    ours = t["sending_area_id"] == area_id
    agency = t["proposer_agency_id"] if ours else t["new_lead_agency_id"]
    level = levels.at(t["case_id"], t["created_at"])
    return Observation("transfers_on_time", met, level, agency, local_date(t["completed_at"]))


async def agency_names(conn: AsyncConnection) -> dict[int, str]:
    return {a.id: a.name for a in await directory_store.list_agencies(conn)}
