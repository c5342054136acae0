"""Referrals before release, risk-change notices to every agency active on a case, and the case file."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.model.packets import Draft, PacketType
from hub.wiring import Hub
from tests.conftest import (
    NECESSITY,
    SHARE_CATEGORIES,
    TickingClock,
    actor_for,
    agency_id,
    case_id,
)
from tests.integration.workflow_support import (
    WHY_WHO_USE,
    active_on,
    case_items,
    ledger_rows,
    new_case,
    on_case,
    snapshot,
    typed_draft,
)
from tests.workflow_forms import (
    disclosure_proposal_form,
    minutes_form,
    referral_form,
    request_form,
    risk_change_form,
)

REFERRAL_CATEGORIES = (
    "identity",
    "offence-history",
    "risk-summary",
    "risk-assessment",
    "risk-management-plan",
)
RISK_CATEGORIES = ("identity", "risk-summary", "risk-management-plan")


def _at(clock: TickingClock, day: date, hour: int = 10) -> None:
    clock.set(datetime.combine(day, time(hour, 0), tzinfo=UTC))


async def _note(
    hub: Hub, case: int, to: str, categories: tuple[str, ...] = SHARE_CATEGORIES
) -> Draft:
    return Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, to),),
        subject="Proposed address",
        body="The proposed address is near a primary school.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=categories,
        necessity=NECESSITY,
    )


async def _csc_note(hub: Hub, case: int, to: str) -> Draft:
    """Children's social care shares under UK GDPR: criminal offence data needs a Schedule 1
    condition, and social workers owe confidence, so the public interest test is stated."""
    return Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, to),),
        subject="Contact with children",
        body="He has been seen collecting a child from the primary school.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=("identity", "children"),
        necessity={
            **NECESSITY,
            "public-interest": "Protecting the children outweighs his confidence as a client.",
        },
        schedule1_condition="sch1-para6",
    )


# -- referral before release ------------------------------------------------------------------


async def test_a_complete_referral_closes_the_referral_due_before_release(
    hub: Hub, logins: object
) -> None:
    probation = await actor_for(hub, "dby.probation")
    case = await new_case(hub, "Okafor")
    due = await hub.casework.expect_release(probation, case, date(2027, 8, 31))
    assert (due.kind.value, due.row.due_on, due.row.status) == (
        "referral",
        date(2027, 2, 28),
        "open",
    )
    assert due.row.owner_agency_id == probation.agency.id  # the lead agency refers
    assert not due.overdue

    draft = await typed_draft(
        hub,
        PacketType.REFERRAL,
        case,
        ("DBY-POLICE", "DBY-HMP-SUDBURY"),
        referral_form(),
        categories=REFERRAL_CATEGORIES,
    )
    sent = await hub.packets.send(probation, draft)
    [item] = [i for i in await case_items(hub, case) if i.kind == "referral"]
    assert (item.id, item.status, item.closed_by_packet_id) == (due.id, "done", sent.id)
    assert item.closed_by_user_id == probation.user.id
    # The agencies the referral invites are active on the case; a recipient it does not invite
    # (the prison) is told, but not made active by being told.
    assert await active_on(hub, case) == {
        await agency_id(hub, code) for code in ("DBY-PROBATION", "DBY-POLICE", "DBY-HOUSING")
    }
    opened = await hub.packets.open(await actor_for(hub, "dby.prison"), sent.id)
    assert opened.form is not None
    assert opened.form["fields"]["likelihood_of_reoffending"] == "high"
    assert "Likelihood of reoffending: high" in opened.body
    assert "  Tool: RM2000" in opened.body


async def test_a_new_release_date_replaces_the_referral_due(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    case = await new_case(hub, "Okafor")
    first = await hub.casework.expect_release(probation, case, date(2027, 8, 31))
    coordinator = await actor_for(hub, "dby.coordinator")
    second = await hub.casework.expect_release(coordinator, case, date(2027, 12, 31))
    assert second.row.due_on == date(2027, 6, 30)
    items = {i.id: i for i in await case_items(hub, case) if i.kind == "referral"}
    assert (items[first.id].status, items[second.id].status) == ("cancelled", "open")

    with pytest.raises(InvalidInput) as err:
        await hub.casework.expect_release(probation, case, date(2026, 11, 23))
    assert err.value.field == "release_date"
    with pytest.raises(Forbidden, match="not active"):  # housing is not active on the case
        await hub.casework.expect_release(
            await actor_for(hub, "dby.housing"), case, date(2027, 8, 31)
        )
    with pytest.raises(Forbidden):
        await hub.casework.expect_release(
            await actor_for(hub, "dby.auditor"), case, date(2027, 8, 31)
        )


async def test_a_referral_without_the_risk_judgements_is_refused(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    case = await new_case(hub, "Okafor")
    await hub.casework.expect_release(probation, case, date(2027, 8, 31))
    form = referral_form()
    for name in ("likelihood_of_reoffending", "risk_of_serious_harm", "risk_management_plan"):
        del form[name]
    draft = await typed_draft(
        hub, PacketType.REFERRAL, case, ("DBY-POLICE",), form, categories=REFERRAL_CATEGORIES
    )
    before = await snapshot(hub)
    with pytest.raises(InvalidInput) as err:
        await hub.packets.send(probation, draft)
    assert {e["field"] for e in err.value.errors} == {
        "likelihood_of_reoffending",
        "risk_of_serious_harm",
        "risk_management_plan",
    }
    assert err.value.field == "likelihood_of_reoffending"
    assert await snapshot(hub) == before
    [item] = [i for i in await case_items(hub, case) if i.kind == "referral"]
    assert item.status == "open"


async def test_a_referral_inviting_an_unknown_agency_is_refused(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    case = await new_case(hub, "Okafor")
    form = referral_form()
    form["agencies_to_invite"][1]["agency"] = "DBY-NOWHERE"
    draft = await typed_draft(
        hub, PacketType.REFERRAL, case, ("DBY-POLICE",), form, categories=REFERRAL_CATEGORIES
    )
    before = await snapshot(hub)
    with pytest.raises(InvalidInput) as err:
        await hub.packets.send(probation, draft)
    assert (err.value.field, err.value.code) == (
        "form.agencies_to_invite.1.agency",
        "unknown_agency",
    )
    assert await snapshot(hub) == before


# -- risk change ------------------------------------------------------------------------------


async def test_a_risk_change_reaches_every_agency_active_on_the_case(
    hub: Hub, logins: object
) -> None:
    case = await new_case(hub, "Okafor")  # lead: probation
    probation = await actor_for(hub, "dby.probation")
    csc = await actor_for(hub, "dby.csc")
    coordinator = await actor_for(hub, "dby.coordinator")
    await hub.packets.send(probation, await _note(hub, case, "DBY-HOUSING"))
    await hub.packets.send(csc, await _csc_note(hub, case, "DBY-POLICE"))
    codes = {
        code: await agency_id(hub, code)
        for code in ("DBY-PROBATION", "DBY-HOUSING", "DBY-CSC", "DBY-POLICE", "DBY-MH", "DBY-VLU")
    }
    # The senders act on the case; being sent a packet makes neither housing nor police active.
    assert await active_on(hub, case) == {codes[c] for c in ("DBY-PROBATION", "DBY-CSC")}
    reference = (await hub.cases.get(coordinator, case)).reference
    await hub.cases.involve(coordinator, reference, "DBY-HOUSING")
    assert await active_on(hub, case) == {
        codes[c] for c in ("DBY-PROBATION", "DBY-CSC", "DBY-HOUSING")
    }

    police = await actor_for(hub, "dby.police")
    draft = await typed_draft(
        hub,
        PacketType.RISK_CHANGE,
        case,
        (),
        risk_change_form(),
        categories=RISK_CATEGORIES,
        purpose="risk-management",
    )
    assert draft.recipient_agency_ids == ()
    sent = await hub.packets.send(police, draft)
    told = {codes[c] for c in ("DBY-PROBATION", "DBY-HOUSING", "DBY-CSC")}
    assert set(sent.recipient_agency_ids) == told
    assert police.agency.id not in sent.recipient_agency_ids

    for username in ("dby.probation", "dby.housing", "dby.csc"):
        reader = await actor_for(hub, username)
        assert sent.id in [p.id for p in await hub.packets.inbox(reader)]
        opened = await hub.packets.open(reader, sent.id)
        assert opened.header.recipients == ("DBY-CSC", "DBY-HOUSING", "DBY-PROBATION")
        assert opened.form is not None and opened.form["fields"]["new_risk"] == "very-high"
    for username in ("dby.mh", "dby.vlo", "dby.police"):
        assert sent.id not in [
            p.id for p in await hub.packets.inbox(await actor_for(hub, username))
        ]
    entries = [r for r in await ledger_rows(hub) if r["packet_id"] == sent.id]
    assert [r["event"] for r in entries] == ["packet-sent"] + ["packet-opened"] * 3
    entry = entries[0]
    assert (entry["action"], entry["actor_agency_id"]) == ("disclosure", police.agency.id)
    assert {int(a) for a in entry["recipients"].split(",")} == told

    # A recipient named as well is told too, but is not made active by being told.
    named = await typed_draft(
        hub,
        PacketType.RISK_CHANGE,
        case,
        ("DBY-MH",),
        risk_change_form(previous_risk="very-high", new_risk="high"),
        categories=RISK_CATEGORIES,
        purpose="risk-management",
    )
    again = await hub.packets.send(probation, named)
    assert set(again.recipient_agency_ids) == {
        codes[c] for c in ("DBY-HOUSING", "DBY-CSC", "DBY-POLICE", "DBY-MH")
    }
    assert codes["DBY-MH"] not in await active_on(hub, case)
    assert codes["DBY-VLU"] not in await active_on(hub, case)


async def test_a_risk_change_on_a_demo_case_goes_to_its_active_agencies(
    hub: Hub, logins: object
) -> None:
    harlow = await case_id(hub, "Harlow")  # lead: probation; police wrote to housing about it
    police = await actor_for(hub, "dby.police")
    active = await active_on(hub, harlow)
    assert {await agency_id(hub, c) for c in ("DBY-PROBATION", "DBY-HOUSING")} <= active
    draft = await typed_draft(
        hub,
        PacketType.RISK_CHANGE,
        harlow,
        (),
        risk_change_form(),
        categories=RISK_CATEGORIES,
        purpose="risk-management",
    )
    sent = await hub.packets.send(police, draft)
    assert set(sent.recipient_agency_ids) == active - {police.agency.id}


async def test_a_risk_change_with_no_one_to_tell_is_refused(hub: Hub, logins: object) -> None:
    case = await new_case(hub, "Okafor", lead="DBY-POLICE")
    police = await actor_for(hub, "dby.police")
    draft = await typed_draft(
        hub,
        PacketType.RISK_CHANGE,
        case,
        (),
        risk_change_form(),
        categories=RISK_CATEGORIES,
        purpose="risk-management",
    )
    before = await snapshot(hub)
    with pytest.raises(InvalidInput, match="No other agency is active") as err:
        await hub.packets.send(police, draft)
    assert err.value.field == "recipients"
    assert await snapshot(hub) == before
    # Another agency telling of a change reaches the lead agency.
    sent = await hub.packets.send(await actor_for(hub, "dby.probation"), draft)
    assert sent.recipient_agency_ids == (police.agency.id,)


# -- the case file ----------------------------------------------------------------------------


async def test_the_case_file_shows_everything_in_time_order(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    case = await new_case(hub, "Okafor")  # lead: probation
    coordinator = await actor_for(hub, "dby.coordinator")
    probation = await actor_for(hub, "dby.probation")
    housing = await actor_for(hub, "dby.housing")
    note = await hub.packets.send(probation, await _note(hub, case, "DBY-HOUSING"))

    _at(clock, date(2026, 11, 24))
    await hub.casework.record_meeting(coordinator, case, date(2026, 11, 24), 2)
    request = await hub.packets.send(
        probation,
        await typed_draft(
            hub,
            PacketType.REQUEST,
            case,
            ("DBY-HOUSING",),
            request_form(),
            categories=("identity", "risk-summary"),
            necessity=WHY_WHO_USE,
        ),
    )
    _at(clock, date(2026, 11, 25))
    minutes = await hub.packets.send(
        coordinator,
        await typed_draft(
            hub,
            PacketType.MINUTES,
            case,
            ("DBY-PROBATION", "DBY-HOUSING"),
            minutes_form(meeting_date="2026-11-24"),
        ),
    )
    _at(clock, date(2026, 11, 25), 11)
    [asked] = [r for r in (await hub.requests.queue(housing)).incoming if r.row.case_id == case]
    await hub.requests.decline(housing, asked.id, "We hold no tenancy for him.")
    _at(clock, date(2026, 11, 26))
    [action] = on_case(await hub.casework.due(housing), case)
    await hub.casework.complete_action(housing, action.id, "Flat offered in Spondon.")
    _at(clock, date(2026, 11, 27))
    proposal = await hub.packets.send(
        probation,
        await typed_draft(
            hub,
            PacketType.DISCLOSURE_PROPOSAL,
            case,
            ("DBY-POLICE",),
            disclosure_proposal_form(),
            categories=("identity", "offence-history", "risk-summary"),
            purpose="public-protection",
            necessity=WHY_WHO_USE,
        ),
    )
    [disclosure] = await hub.disclosures.register(probation, case_id=case)
    _at(clock, date(2026, 11, 30))
    await hub.disclosures.decide(coordinator, disclosure.id, "approve", "Necessary to protect.")

    file = await hub.casework.case_file(probation, case)
    assert file.case.id == case
    assert file.lead_agency == "Probation Service - Derbyshire"
    assert file.active_agencies == [
        "Derby City Council Housing Options",
        "Derbyshire Constabulary",
        "Probation Service - Derbyshire",
    ]
    timeline = file.timeline
    assert [e.when for e in timeline] == sorted(e.when for e in timeline)
    assert [(e.kind, e.when.date()) for e in timeline] == [
        ("note", date(2026, 11, 23)),
        ("meeting", date(2026, 11, 24)),
        ("request-for-information", date(2026, 11, 24)),
        ("minutes", date(2026, 11, 25)),
        ("request", date(2026, 11, 25)),
        ("action", date(2026, 11, 26)),
        ("disclosure-proposal", date(2026, 11, 27)),
        ("disclosure", date(2026, 11, 30)),  # shown when decided
    ]
    entries = {e.kind: e for e in timeline}
    assert entries["note"].link == f"/packets/{note.id}"
    assert entries["request-for-information"].link == f"/packets/{request.id}"
    assert entries["minutes"].title == "Minutes from Derbyshire Constabulary"
    assert (entries["meeting"].status, entries["meeting"].link) == (
        "minutes circulated",
        f"/packets/{minutes.id}",
    )
    assert (entries["request"].status, entries["request"].detail) == (
        "declined",
        "We hold no tenancy for him.",
    )
    assert entries["request"].title == "Request to Derby City Council Housing Options declined"
    assert (entries["action"].detail, entries["action"].late) == ("Flat offered in Spondon.", False)
    assert entries["disclosure-proposal"].link == f"/packets/{proposal.id}"
    assert (entries["disclosure"].status, entries["disclosure"].link) == (
        "approved",
        f"/disclosures/{disclosure.id}",
    )
    assert entries["disclosure"].detail == "Proposed by Probation Service - Derbyshire"
    # Still open, soonest first: probation's action and the review (housing's action is done,
    # the minutes circulated, the request declined).
    assert [(i.kind.value, i.owner_agency, i.row.due_on) for i in file.open_items] == [
        ("action", "Probation Service - Derbyshire", date(2026, 12, 7)),
        ("review", "Derbyshire Constabulary", date(2027, 2, 22)),
    ]

    # Housing sees the same case, but not the content of packets it did not hold.
    theirs = {e.kind: e for e in (await hub.casework.case_file(housing, case)).timeline}
    assert theirs["note"].link == f"/packets/{note.id}"
    assert theirs["disclosure-proposal"].link is None
    assert theirs["disclosure-proposal"].detail == (
        "Sent between other agencies: not readable by yours."
    )


async def test_the_case_file_is_closed_to_agencies_not_active_on_the_case(
    hub: Hub, logins: object
) -> None:
    case = await new_case(hub, "Okafor")
    probation = await actor_for(hub, "dby.probation")
    housing = await actor_for(hub, "dby.housing")
    await hub.packets.send(probation, await _note(hub, case, "DBY-HOUSING"))
    assert (await hub.casework.case_file(probation, case)).case.id == case
    # Housing was sent a packet about the case, which does not open the case file to it ...
    with pytest.raises(Forbidden, match="not active"):
        await hub.casework.case_file(housing, case)
    # ... until the lead agency involves it (an alteration on the log, naming housing).
    reference = (await hub.cases.get(probation, case)).reference
    await hub.cases.involve(probation, reference, "DBY-HOUSING")
    assert (await hub.casework.case_file(housing, case)).timeline
    involved = [
        r
        for r in await ledger_rows(hub)
        if r["event"] == "case-agency-involved" and r["case_id"] == case
    ]
    assert [(r["action"], r["recipients"]) for r in involved] == [
        ("alteration", str(housing.agency.id))
    ]
    with pytest.raises(Conflict, match="already active"):
        await hub.cases.involve(probation, reference, "DBY-HOUSING")
    # Only the coordinator or the lead agency involves agencies.
    with pytest.raises(Forbidden, match="lead agency"):
        await hub.cases.involve(housing, reference, "DBY-MH")
    for username in ("dby.vlo", "dby.mh", "dby.police", "dby.senior"):
        with pytest.raises(Forbidden, match="not active"):
            await hub.casework.case_file(await actor_for(hub, username), case)
    # Another area's agency is told nothing of the case: as for a case that does not exist.
    with pytest.raises(NotFound, match="No such case"):
        await hub.casework.case_file(await actor_for(hub, "nts.probation"), case)
    # The area's coordinator brokers every case there, active or not; another area's does not.
    assert (await hub.casework.case_file(await actor_for(hub, "dby.coordinator"), case)).timeline
    with pytest.raises(NotFound, match="No such case"):
        await hub.casework.case_file(await actor_for(hub, "nts.coordinator"), case)
    with pytest.raises(NotFound):
        await hub.casework.case_file(probation, 999_999)
