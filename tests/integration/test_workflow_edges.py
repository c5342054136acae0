"""Edges of the workflow clocks: local dates, late referrals, and meetings recorded out of order."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from hub.model.packets import PacketType
from hub.wiring import Hub
from hub.workflows import deadlines
from hub.workflows.deadlines import ItemKind
from tests.conftest import TickingClock, actor_for
from tests.integration.workflow_support import case_items, new_case, typed_draft
from tests.workflow_forms import referral_form


async def test_overdue_is_judged_on_the_date_in_england(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Lindqvist")
    clock.set(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    await hub.casework.record_meeting(coordinator, case, date(2026, 6, 1), 3)
    (minutes,) = [i for i in await case_items(hub, case) if i.kind == ItemKind.MINUTES]
    assert minutes.due_on == date(2026, 6, 8)  # five working days

    # 23:30 UTC on the due date is 00:30 the next day in British Summer Time: overdue.
    clock.set(datetime.combine(minutes.due_on, time(23, 30), tzinfo=UTC))
    (item,) = [i for i in await hub.casework.due(coordinator) if i.row.id == minutes.id]
    assert item.overdue
    # 22:30 UTC is still the due date in London: on time.
    clock.set(datetime.combine(minutes.due_on, time(22, 30), tzinfo=UTC))
    (item,) = [i for i in await hub.casework.due(coordinator) if i.row.id == minutes.id]
    assert not item.overdue


async def test_a_referral_less_than_six_months_before_release_is_recorded_late(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    probation = await actor_for(hub, "dby.probation")
    case = await new_case(hub, "Marchetti")
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    release = date(2027, 3, 1)  # due by 1 September 2026: this referral is late
    draft = await typed_draft(
        hub,
        PacketType.REFERRAL,
        case,
        ("DBY-POLICE",),
        referral_form(release_date=release.isoformat()),
    )
    sent = await hub.packets.send(probation, draft)
    (referral,) = [i for i in await case_items(hub, case) if i.kind == ItemKind.REFERRAL]
    assert referral.due_on == deadlines.referral_due(release) == date(2026, 9, 1)
    assert (referral.status, referral.closed_by_packet_id) == ("done", sent.id)
    timeline = (await hub.casework.case_file(probation, case)).timeline
    (late,) = [e for e in timeline if e.kind == "referral-deadline"]
    # 2 Sep - 23 Nov 2026: 21 + 22 + 16 working days (no bank holiday falls between).
    assert late.late and late.detail == "Made 59 working days late"
    assert any(e.kind == "referral" and e.link == f"/packets/{sent.id}" for e in timeline)


async def test_minutes_of_an_older_meeting_leave_a_newer_review_standing(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Oyelaran")
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await hub.casework.record_meeting(coordinator, case, date(2026, 11, 20), 2)
    # A meeting held earlier is recorded afterwards: the newer meeting's review must stay open.
    await hub.casework.record_meeting(coordinator, case, date(2026, 11, 2), 2)
    reviews = [i for i in await case_items(hub, case) if i.kind == ItemKind.REVIEW]
    open_reviews = [r for r in reviews if r.status == "open"]
    assert [r.due_on for r in open_reviews] == [
        deadlines.review_due(date(2026, 11, 2), 2),
        deadlines.review_due(date(2026, 11, 20), 2),
    ]
    # The next meeting meets both.
    clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    await hub.casework.record_meeting(coordinator, case, date(2027, 1, 4), 2)
    reviews = [i for i in await case_items(hub, case) if i.kind == ItemKind.REVIEW]
    assert [r.due_on for r in reviews if r.status == "open"] == [
        deadlines.review_due(date(2027, 1, 4), 2)
    ]
