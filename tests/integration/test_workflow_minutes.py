"""Meetings, minutes and actions end to end: the deadlines they set, close, shorten and remind of.

Each test opens its own case (``new_case``) so that the demo world's seeded meetings and actions
do not mix with the deadlines under test; area-wide lists are filtered to that case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.model.packets import PacketSummary, PacketType
from hub.services.actor import Actor
from hub.wiring import Hub
from tests.conftest import TickingClock, actor_for, agency_id
from tests.integration.workflow_support import (
    active_on,
    case_items,
    case_meetings,
    new_case,
    on_case,
    snapshot,
    typed_draft,
)
from tests.workflow_forms import minutes_form

MONDAY = date(2026, 11, 23)  # the test clock's first day


async def _send_minutes(
    hub: Hub, sender: Actor, case: int, form: dict[str, Any] | None = None, **changes: Any
) -> PacketSummary:
    """Send minutes to probation and housing: ``form`` as given, or the example with changes."""
    draft = await typed_draft(
        hub,
        PacketType.MINUTES,
        case,
        ("DBY-PROBATION", "DBY-HOUSING"),
        form if form is not None else minutes_form(**changes),
    )
    return await hub.packets.send(sender, draft)


def _on(clock: TickingClock, day: date) -> None:
    clock.set(datetime.combine(day, time(9, 0), tzinfo=UTC))


async def test_a_level_2_meeting_sets_minutes_and_review_deadlines(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    meeting = await hub.casework.record_meeting(coordinator, case, MONDAY, 2)

    items = {i.kind.value: i for i in (await hub.casework.case_file(coordinator, case)).open_items}
    assert set(items) == {"minutes", "review"}
    assert items["minutes"].row.due_on == date(2026, 12, 7)  # 10 working days
    assert items["review"].row.due_on == date(2027, 3, 15)  # 16 weeks
    for item in items.values():
        assert item.row.meeting_id == meeting
        assert item.row.owner_agency_id == coordinator.agency.id
        assert item.row.owner_user_id == coordinator.user.id
        assert item.owner_agency == "Derbyshire Constabulary"
        assert not item.overdue
    assert items["minutes"].days_late == -10

    # The area view (two weeks ahead) shows the minutes now ...
    area = on_case(await hub.casework.due(coordinator, area=True), case)
    assert [(d.kind.value, d.row.due_on) for d in area] == [("minutes", date(2026, 12, 7))]
    assert area[0].id == items["minutes"].id
    senior = on_case(await hub.casework.due(await actor_for(hub, "dby.senior"), area=True), case)
    assert [d.id for d in senior] == [d.id for d in area]
    # ... and the review once it comes within two weeks.
    _on(clock, date(2027, 3, 1))
    area = on_case(await hub.casework.due(coordinator, area=True), case)
    assert [(d.kind.value, d.row.due_on, d.overdue) for d in area] == [
        ("minutes", date(2026, 12, 7), True),
        ("review", date(2027, 3, 15), False),
    ]
    # The items are the coordinator's agency's: its own view lists them, other agencies' do not.
    assert [d.id for d in on_case(await hub.casework.due(coordinator), case)] == [
        d.id for d in area
    ]
    assert on_case(await hub.casework.due(await actor_for(hub, "dby.housing")), case) == []


async def test_only_coordinators_record_meetings_and_see_the_area(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    police = await actor_for(hub, "dby.police")
    case = await new_case(hub, "Okafor")
    before = await snapshot(hub)
    with pytest.raises(Forbidden):
        await hub.casework.record_meeting(police, case, MONDAY, 2)
    with pytest.raises(Forbidden):
        await hub.casework.due(police, area=True)
    with pytest.raises(InvalidInput) as err:
        await hub.casework.record_meeting(coordinator, case, MONDAY, 1)
    assert err.value.field == "level"
    with pytest.raises(InvalidInput) as err:
        await hub.casework.record_meeting(coordinator, case, MONDAY + timedelta(days=1), 2)
    assert err.value.field == "held_on"
    nts_case = next(c for c in await hub.cases.visible_to(None) if c.family_name == "Booth")
    with pytest.raises(NotFound):  # another area's case
        await hub.casework.record_meeting(coordinator, nts_case.id, MONDAY, 2)
    assert await snapshot(hub) == before

    await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    with pytest.raises(Conflict):
        await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    after = await snapshot(hub)
    assert after.counts["meetings"] == before.counts["meetings"] + 1
    assert after.counts["work_items"] == before.counts["work_items"] + 2
    # Recording a meeting makes the coordinator's agency active on the case.
    assert coordinator.agency.id in await active_on(hub, case)


async def test_minutes_close_the_minutes_item_open_actions_and_set_the_review(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    meeting = await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    _on(clock, date(2026, 11, 25))
    sent = await _send_minutes(hub, coordinator, case)

    items = await case_items(hub, case)
    minutes = next(i for i in items if i.kind == "minutes")
    assert (minutes.status, minutes.closed_by_packet_id) == ("done", sent.id)
    assert minutes.closed_by_user_id == coordinator.user.id
    assert minutes.closed_at is not None and minutes.closed_at.date() == date(2026, 11, 25)
    review = next(i for i in items if i.kind == "review")
    assert (review.status, review.due_on) == ("open", date(2027, 2, 22))  # the minutes' date
    actions = sorted((i for i in items if i.kind == "action"), key=lambda i: i.item_index or 0)
    housing_id = await agency_id(hub, "DBY-HOUSING")
    probation_id = await agency_id(hub, "DBY-PROBATION")
    assert [(a.owner_agency_id, a.due_on, a.item_index, a.status) for a in actions] == [
        (housing_id, date(2026, 12, 4), 0, "open"),
        (probation_id, date(2026, 12, 7), 1, "open"),
    ]
    assert {(a.source_packet_id, a.meeting_id) for a in actions} == {(sent.id, meeting)}
    assert len(items) == 4
    assert (await case_meetings(hub, case))[0].minutes_packet_id == sent.id

    # Each agency sees its own action; the coordinator sees them all and no minutes are due.
    housing = await actor_for(hub, "dby.housing")
    probation = await actor_for(hub, "dby.probation")
    assert [
        (d.kind.value, d.row.due_on) for d in on_case(await hub.casework.due(housing), case)
    ] == [("action", date(2026, 12, 4))]
    assert [
        (d.kind.value, d.row.due_on) for d in on_case(await hub.casework.due(probation), case)
    ] == [("action", date(2026, 12, 7))]
    area = on_case(await hub.casework.due(coordinator, area=True), case)
    assert sorted(d.id for d in area) == sorted(a.id for a in actions)

    # Those who attended and the lead agency are active on the case; an absentee is not.
    active = await active_on(hub, case)
    assert active == {housing_id, probation_id, coordinator.agency.id}
    assert await agency_id(hub, "DBY-CSC") not in active

    # The recipients read the minutes as a form and as text.
    opened = await hub.packets.open(probation, sent.id)
    assert opened.header.form_schema == "mappa-hub/form/minutes/v1"
    assert opened.form is not None
    assert opened.form["fields"]["actions"][0]["owner_agency"] == "DBY-HOUSING"
    assert "  Supervision: Weekly appointments with the offender manager." in opened.body


async def test_a_meeting_has_one_set_of_minutes(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    await _send_minutes(hub, coordinator, case)
    before = await snapshot(hub)
    with pytest.raises(Conflict, match="already been circulated"):
        await _send_minutes(hub, coordinator, case, chair="Someone else", actions=[])
    assert await snapshot(hub) == before


async def test_the_next_review_cannot_be_later_than_the_guidance_allows(
    hub: Hub, logins: object
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    before = await snapshot(hub)
    with pytest.raises(InvalidInput, match="within 16 weeks") as err:
        await _send_minutes(hub, coordinator, case, next_review_date="2027-03-16")
    assert err.value.field == "form.next_review_date"
    assert await snapshot(hub) == before

    # Exactly 16 weeks is allowed, and leaves the review where the guidance put it.
    await _send_minutes(hub, coordinator, case, next_review_date="2027-03-15")
    review = next(i for i in await case_items(hub, case) if i.kind == "review")
    assert (review.status, review.due_on) == ("open", date(2027, 3, 15))


async def test_an_unknown_agency_code_is_refused_at_its_field(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    before = await snapshot(hub)
    for where, field in [
        ("actions", "form.actions.1.owner_agency"),
        ("attendance", "form.attendance.2.agency"),
        ("lead_agency", "form.lead_agency"),
    ]:
        form = minutes_form()
        if where == "actions":
            form["actions"][1]["owner_agency"] = "DBY-NOWHERE"
        elif where == "attendance":
            form["attendance"][2]["agency"] = "DBY-NOWHERE"
        else:
            form["lead_agency"] = "DBY-NOWHERE"
        with pytest.raises(InvalidInput, match="DBY-NOWHERE") as err:
            await _send_minutes(hub, coordinator, case, form)
        assert (err.value.field, err.value.code) == (field, "unknown_agency"), where
        assert await snapshot(hub) == before


async def test_incomplete_minutes_are_refused_and_nothing_is_written(
    hub: Hub, logins: object
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    form = minutes_form(risk_management_plan={"supervision": "Weekly appointments."})
    del form["offenders_views"]
    del form["actions"][0]["deadline"]
    before = await snapshot(hub)
    with pytest.raises(InvalidInput) as err:
        await _send_minutes(hub, coordinator, case, form)
    assert {e["field"] for e in err.value.errors} == {
        "risk_management_plan.monitoring_and_control",
        "risk_management_plan.interventions_and_treatment",
        "risk_management_plan.victim_safety_planning",
        "actions.0.deadline",
        "offenders_views",
    }
    after = await snapshot(hub)
    assert after.ledger_head == before.ledger_head
    assert after.counts["packets"] == before.counts["packets"]
    assert after == before
    assert sorted((i.kind, i.status) for i in await case_items(hub, case)) == [
        ("minutes", "open"),
        ("review", "open"),
    ]
    assert (await case_meetings(hub, case))[0].minutes_packet_id is None
    # A minutes packet without its form is refused as well, even with a body.
    draft = await typed_draft(hub, PacketType.MINUTES, case, ("DBY-PROBATION",), None)
    with pytest.raises(InvalidInput) as err:
        await hub.packets.send(coordinator, draft)
    assert err.value.field == "body"
    with pytest.raises(InvalidInput, match="needs its form") as err:
        await hub.packets.send(coordinator, replace(draft, body="Minutes attached."))
    assert err.value.field == "form"
    assert await snapshot(hub) == before


async def test_minutes_for_a_meeting_not_yet_held_are_refused(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    before = await snapshot(hub)
    with pytest.raises(InvalidInput) as err:
        await _send_minutes(hub, coordinator, case, meeting_date="2026-11-30", actions=[])
    assert err.value.field == "form.meeting_date"
    assert await snapshot(hub) == before
    # The review set by the meeting that was held is still open.
    review = next(i for i in await case_items(hub, case) if i.kind == "review")
    assert (review.status, review.due_on) == ("open", date(2027, 3, 15))


async def test_completing_an_action_needs_its_outcome_and_its_owner(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    await _send_minutes(hub, coordinator, case)
    housing = await actor_for(hub, "dby.housing")
    [action] = on_case(await hub.casework.due(housing), case)
    assert action.kind.value == "action"

    for outcome in ("", "   "):
        with pytest.raises(InvalidInput) as err:
            await hub.casework.complete_action(housing, action.id, outcome)
        assert err.value.field == "outcome"
    with pytest.raises(InvalidInput, match="longer than"):
        await hub.casework.complete_action(housing, action.id, "x" * 5001)
    for other in ("dby.police", "dby.probation", "dby.csc"):
        with pytest.raises(Forbidden, match="another agency"):
            await hub.casework.complete_action(await actor_for(hub, other), action.id, "Done.")
    with pytest.raises(NotFound):  # another area's coordinator does not see it
        await hub.casework.complete_action(
            await actor_for(hub, "nts.coordinator"), action.id, "Done."
        )
    review = next(i for i in await case_items(hub, case) if i.kind == "review")
    with pytest.raises(NotFound):  # only actions are completed this way
        await hub.casework.complete_action(coordinator, review.id, "Held.")
    assert [d.id for d in on_case(await hub.casework.due(housing), case)] == [action.id]

    _on(clock, date(2026, 12, 2))
    done = await hub.casework.complete_action(
        housing, action.id, "  Offered a flat in Spondon, 2 miles from the school.  "
    )
    assert done.row.status == "done"
    assert done.row.outcome == "Offered a flat in Spondon, 2 miles from the school."
    assert done.row.closed_by_user_id == housing.user.id
    assert not done.overdue
    assert done.days_late == -2  # closed two working days early
    assert on_case(await hub.casework.due(housing), case) == []
    with pytest.raises(Conflict, match="already completed"):
        await hub.casework.complete_action(housing, action.id, "Again.")

    # A coordinator may record the outcome of another agency's action.
    [probation_action] = on_case(
        await hub.casework.due(await actor_for(hub, "dby.probation")), case
    )
    closed = await hub.casework.complete_action(coordinator, probation_action.id, "Referred.")
    assert (closed.row.status, closed.row.closed_by_user_id) == ("done", coordinator.user.id)

    # The case file shows both outcomes, in the order they were recorded.
    timeline = (await hub.casework.case_file(housing, case)).timeline
    outcomes = [(e.title, e.detail, e.status) for e in timeline if e.kind == "action"]
    assert outcomes == [
        (
            "Action for Derby City Council Housing Options completed",
            "Offered a flat in Spondon, 2 miles from the school.",
            "done",
        ),
        ("Action for Probation Service - Derbyshire completed", "Referred.", "done"),
    ]


async def test_overdue_items_raise_one_reminder_each(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    housing = await actor_for(hub, "dby.housing")
    # One case: a meeting held today, minutes due Monday 7 December.
    met = await new_case(hub, "Okafor")
    await hub.casework.record_meeting(coordinator, met, MONDAY, 2)
    # Another: minutes of Friday's meeting, with actions due Friday 4 and Monday 7 December.
    minuted = await new_case(hub, "Lindqvist", lead="DBY-POLICE")
    await _send_minutes(
        hub, coordinator, minuted, meeting_date="2026-11-20", lead_agency="DBY-POLICE"
    )
    ours = {met, minuted}
    # Whatever was already overdue in the demo world is reminded of now, and only once.
    assert not [r for r in await hub.casework.raise_reminders() if r.row.case_id in ours]
    assert await hub.casework.raise_reminders() == []

    _on(clock, date(2026, 12, 4))  # the housing action is due today: not yet overdue
    [action] = on_case(await hub.casework.due(housing), minuted)
    assert (action.row.due_on, action.overdue, action.days_late) == (date(2026, 12, 4), False, 0)
    assert not [r for r in await hub.casework.raise_reminders() if r.row.case_id in ours]

    _on(clock, date(2026, 12, 5))
    [action] = on_case(await hub.casework.due(housing), minuted)
    assert action.overdue
    reminded = [r for r in await hub.casework.raise_reminders() if r.row.case_id in ours]
    assert [(r.kind.value, r.row.case_id, r.row.owner_agency_id) for r in reminded] == [
        ("action", minuted, housing.agency.id)
    ]
    assert reminded[0].overdue
    assert await hub.casework.raise_reminders() == []

    _on(clock, date(2026, 12, 8))
    [action] = on_case(await hub.casework.due(housing), minuted)
    assert (action.overdue, action.days_late) == (True, 2)  # Monday and Tuesday
    [minutes] = on_case(await hub.casework.due(coordinator, area=True), met)
    assert (minutes.kind.value, minutes.overdue, minutes.days_late) == ("minutes", True, 1)
    reminded = [r for r in await hub.casework.raise_reminders() if r.row.case_id in ours]
    assert sorted((r.kind.value, r.row.case_id) for r in reminded) == sorted(
        [("action", minuted), ("minutes", met)]  # the probation action due on the 7th
    )
    assert await hub.casework.raise_reminders() == []
    stamped = [i for c in ours for i in await case_items(hub, c) if i.reminded_at is not None]
    assert len(stamped) == 3
    assert all(i.status == "open" and i.due_on < date(2026, 12, 8) for i in stamped)

    # Closing an overdue action records how late it was.
    done = await hub.casework.complete_action(housing, action.id, "Flat offered.")
    assert (done.overdue, done.days_late) == (False, 2)


async def test_a_level_3_meeting_wants_minutes_in_5_working_days(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor", level=3, lead="DBY-POLICE")
    await hub.casework.record_meeting(coordinator, case, MONDAY, 3)
    items = {i.kind: i for i in await case_items(hub, case)}
    assert items["minutes"].due_on == date(2026, 11, 30)
    assert items["review"].due_on == date(2027, 1, 18)  # 8 weeks
    [due] = on_case(await hub.casework.due(coordinator, area=True), case)
    assert (due.kind.value, due.row.due_on, due.days_late) == ("minutes", date(2026, 11, 30), -5)

    form = {"meeting_level": 3, "lead_agency": "DBY-POLICE", "actions": []}
    with pytest.raises(InvalidInput, match="within 8 weeks") as err:
        await _send_minutes(hub, coordinator, case, next_review_date="2027-01-19", **form)
    assert err.value.field == "form.next_review_date"
    sent = await _send_minutes(hub, coordinator, case, next_review_date="2027-01-11", **form)
    items = {i.kind: i for i in await case_items(hub, case)}
    assert (items["minutes"].status, items["minutes"].closed_by_packet_id) == ("done", sent.id)
    assert (items["review"].status, items["review"].due_on) == ("open", date(2027, 1, 11))


async def test_minutes_must_give_the_level_the_meeting_was_held_at(
    hub: Hub, logins: object
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor", level=3, lead="DBY-POLICE")
    await hub.casework.record_meeting(coordinator, case, MONDAY, 3)
    before = await snapshot(hub)
    # At level 2 a review 14 weeks on would be allowed; this meeting was held at level 3.
    with pytest.raises(InvalidInput) as err:
        await _send_minutes(
            hub, coordinator, case, lead_agency="DBY-POLICE", next_review_date="2027-03-01"
        )
    assert err.value.field == "form.meeting_level"
    assert await snapshot(hub) == before
    review = next(i for i in await case_items(hub, case) if i.kind == "review")
    assert (review.status, review.due_on) == ("open", date(2027, 1, 18))


async def test_minutes_without_a_recorded_meeting_record_it(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor", lead="DBY-POLICE")
    assert await case_meetings(hub, case) == []
    sent = await _send_minutes(
        hub, coordinator, case, meeting_date="2026-11-20", lead_agency="DBY-POLICE"
    )
    [meeting] = await case_meetings(hub, case)
    assert (meeting.held_on, meeting.level, meeting.minutes_packet_id) == (
        date(2026, 11, 20),
        2,
        sent.id,
    )
    assert meeting.chair_user_id == coordinator.user.id
    items = await case_items(hub, case)
    # The minutes were due as the guidance says and came with the meeting; the review is the
    # minutes' date; the actions are open.
    assert sorted((i.kind, i.due_on, i.status) for i in items) == [
        ("action", date(2026, 12, 4), "open"),
        ("action", date(2026, 12, 7), "open"),
        ("minutes", date(2026, 12, 4), "done"),
        ("review", date(2027, 2, 22), "open"),
    ]
    assert {i.meeting_id for i in items} == {meeting.id}
    [minutes] = [i for i in items if i.kind == "minutes"]
    assert minutes.closed_by_packet_id == sent.id
    area = on_case(await hub.casework.due(coordinator, area=True), case)
    assert sorted((d.kind.value, d.row.due_on) for d in area) == [
        ("action", date(2026, 12, 4)),
        ("action", date(2026, 12, 7)),
    ]
    with pytest.raises(Conflict):
        await hub.casework.record_meeting(coordinator, case, date(2026, 11, 20), 2)
    with pytest.raises(Conflict):
        await _send_minutes(
            hub, coordinator, case, meeting_date="2026-11-20", lead_agency="DBY-POLICE"
        )
    file = await hub.casework.case_file(coordinator, case)
    [entry] = [e for e in file.timeline if e.kind == "meeting"]
    assert (entry.title, entry.status, entry.link, entry.late) == (
        "Level 2 MAPPA meeting",
        "minutes circulated",
        f"/packets/{sent.id}",
        False,
    )


async def test_minutes_circulated_late_show_as_late(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor", lead="DBY-POLICE")
    # Held Monday 2 November: minutes due Monday 16 November, circulated on the 23rd.
    sent = await _send_minutes(
        hub,
        coordinator,
        case,
        meeting_date="2026-11-02",
        lead_agency="DBY-POLICE",
        actions=[],
        next_review_date="2027-02-22",
    )
    [minutes] = [i for i in await case_items(hub, case) if i.kind == "minutes"]
    assert (minutes.due_on, minutes.status, minutes.closed_by_packet_id) == (
        date(2026, 11, 16),
        "done",
        sent.id,
    )
    file = await hub.casework.case_file(coordinator, case)
    [entry] = [e for e in file.timeline if e.kind == "meeting"]
    assert (entry.status, entry.late, entry.detail) == (
        "minutes circulated (late)",
        True,
        "Minutes due 16 Nov 2026",
    )


async def test_a_new_meeting_meets_the_review_that_was_due(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Okafor")
    first = await hub.casework.record_meeting(coordinator, case, MONDAY, 2)
    await _send_minutes(hub, coordinator, case)
    _on(clock, date(2027, 2, 22))
    second = await hub.casework.record_meeting(coordinator, case, date(2027, 2, 22), 2)
    reviews = sorted(
        (i for i in await case_items(hub, case) if i.kind == "review"), key=lambda i: i.id
    )
    assert [(r.meeting_id, r.status, r.due_on) for r in reviews] == [
        (first, "done", date(2027, 2, 22)),
        (second, "open", date(2027, 6, 14)),
    ]
