"""Shares the policy sends for approval (REVIEW): sealed and held, decided by the approvers it names
(never the proposer, each with reasons), released to the recipients only by the last approval,
closed for good by a refusal, and every step on the log. On real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from hub.errors import Conflict, Forbidden, NotFound
from hub.ledger.entries import Action, Event
from hub.model.directory import Role
from hub.model.packets import Draft, PacketType
from hub.policy.model import Outcome
from hub.services import ledger
from hub.services.actor import Actor
from hub.services.share_approvals import HeldSummary
from hub.store import workflows as workflow_store
from hub.wiring import Hub
from tests.conftest import NECESSITY, actor_for, agency_id, case_id
from tests.integration.workflow_support import ledger_rows, new_case, typed_draft
from tests.workflow_forms import request_form, response_form

REASON = "Housing must not offer him any property near the victim's home: he knows the street."
APPROVE = "The victim's safety outweighs the intrusion; housing needs the street to avoid it."
REFUSE = "A radius around the victim's home is enough; housing does not need the address."


async def _restricted(hub: Hub, **changes: Any) -> Draft:
    """Police to housing on Harlow with the victim's address: restricted, sent with a reason."""
    draft = Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject="Victim's address: exclusion for housing",
        body="The victim lives at 14 Linden Grove, Derby. No offer within a mile of it.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=("address", "risk-summary", "victim-address"),
        necessity=NECESSITY,
        restricted_reason=REASON,
    )
    return replace(draft, **changes)


async def _hold(hub: Hub, sender: Actor, draft: Draft) -> HeldSummary:
    assert (await hub.packets.preview(sender, draft)).outcome is Outcome.REVIEW
    held = await hub.packets.send(sender, draft)
    assert isinstance(held, HeldSummary)
    return held


def _entries(rows: list[Mapping[str, Any]], packet_id: str) -> list[tuple[str, str, str]]:
    return [(r["action"], r["event"], r["recipients"]) for r in rows if r["packet_id"] == packet_id]


async def test_a_restricted_share_is_held_unseen_until_its_approver_releases_it(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    coordinator = await actor_for(hub, "dby.coordinator")
    held = await _hold(hub, police, await _restricted(hub))
    assert held.awaiting == ("a coordinator of Derbyshire",)

    # Recipients cannot list, summarise, open, fetch or download it; nor is it in the outbox.
    assert held.id not in {p.id for p in await hub.packets.inbox(housing)}
    assert held.id not in {p.id for p in await hub.packets.outbox(police)}
    for reader in (housing, police):
        with pytest.raises(NotFound):
            await hub.packets.open(reader, held.id)
        with pytest.raises(NotFound):
            await hub.packets.summary(reader, held.id)
        with pytest.raises(NotFound):
            await hub.packets.attachment(reader, held.id, 0)
        with pytest.raises(NotFound):
            await hub.packets.sealed_envelope(reader, held.id)
    with pytest.raises(NotFound):
        await hub.ledger.receipt(police, held.id)
    with pytest.raises(NotFound):
        await hub.held_shares.get(housing, held.share_id)
    case_file = await hub.casework.case_file(coordinator, held.case_id)
    assert held.id not in repr(case_file)

    # The sender sees it awaiting approval, with the reason it gave; the coordinator has it queued.
    [ours] = [v for v in await hub.held_shares.proposed(police) if v.id == held.share_id]
    assert (ours.row.status, ours.awaiting, ours.row.restricted_reason) == (
        "awaiting",
        ["a coordinator of Derbyshire"],
        REASON,
    )
    [queued] = [v for v in await hub.held_shares.queue(coordinator) if v.id == held.share_id]
    assert queued.may_decide
    view = await hub.held_shares.get(coordinator, held.share_id)
    assert view.header["policy"]["outcome"] == "REVIEW"
    assert "restricted.victim-address" in view.header["policy"]["rules"]
    assert view.header["data_categories"] == ["address", "risk-summary", "victim-address"]
    assert [n.rules for n in view.row.approvals_needed] == [("restricted-category-with-reason",)]

    # The approver reads what it approves (a consultation by the approver's agency).
    _, content = await hub.held_shares.open(coordinator, held.share_id)
    assert "14 Linden Grove" in content.body
    assert content.necessity == NECESSITY

    released = await hub.share_approvals.decide(coordinator, held.share_id, "approve", APPROVE)
    assert (released.row.status, released.awaiting) == ("released", [])
    [first] = await hub.packets.inbox(housing, limit=1)
    assert first.id == held.id  # at the top of the inbox: it arrived when released
    opened = await hub.packets.open(housing, held.id)
    assert "14 Linden Grove" in opened.body
    assert opened.header.policy["outcome"] == "REVIEW"
    assert held.id in {p.id for p in await hub.packets.outbox(police)}
    assert (await hub.ledger.receipt(police, held.id)).seq > 0

    rows = await ledger_rows(hub)
    housing_id, police_id = str(housing.agency.id), str(police.agency.id)
    assert _entries(rows, held.id) == [
        (Action.COLLECTION, Event.SHARE_PROPOSED, ""),
        (Action.CONSULTATION, Event.HELD_SHARE_OPENED, police_id),
        (Action.ALTERATION, Event.SHARE_DECIDED, ""),
        (Action.DISCLOSURE, Event.SHARE_RELEASED, housing_id),
        (Action.CONSULTATION, Event.PACKET_OPENED, housing_id),
    ]
    decided = next(r for r in rows if r["event"] == Event.SHARE_DECIDED)
    assert (decided["decision"], decided["actor_user_id"]) == ("approve", coordinator.user.id)
    assert (await hub.ledger.verify()).entries == len(rows)


async def test_a_refusal_closes_the_share_and_the_proposer_sees_why(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    coordinator = await actor_for(hub, "dby.coordinator")
    held = await _hold(hub, police, await _restricted(hub))

    refused = await hub.share_approvals.decide(coordinator, held.share_id, "refuse", REFUSE)
    assert refused.row.status == "refused" and refused.row.closed_at is not None
    [ours] = [v for v in await hub.held_shares.proposed(police) if v.id == held.share_id]
    assert [(d.decision, d.reasons) for d in ours.decisions] == [("refuse", REFUSE)]
    assert ours.decided_by[ours.decisions[0].id] == coordinator.user.display_name
    with pytest.raises(NotFound):
        await hub.packets.open(housing, held.id)
    with pytest.raises(Conflict, match="already been refused"):
        await hub.share_approvals.decide(coordinator, held.share_id, "approve", APPROVE)
    # Nobody else sees it; the sender's agency still holds its own content.
    with pytest.raises(NotFound):
        await hub.held_shares.open(await actor_for(hub, "dby.csc"), held.share_id)
    assert (await hub.held_shares.open(police, held.share_id))[1].subject.startswith("Victim")
    events = [e for _, e, _ in _entries(await ledger_rows(hub), held.id)]
    assert Event.SHARE_RELEASED not in events and Event.SHARE_DECIDED in events
    await hub.ledger.verify()


async def test_only_the_named_approvers_decide_and_never_the_proposer(
    hub: Hub, logins: object
) -> None:
    # A coordinator proposes: another coordinator of the area must decide.
    await hub.directory.add_user(
        "dby.coordinator2",
        "Sam Lee (MAPPA Coordinator)",
        "DBY-PROBATION",
        Role.COORDINATOR,
        "a long enough password",
    )
    proposer = await actor_for(hub, "dby.coordinator")
    held = await _hold(hub, proposer, await _restricted(hub))
    before = len(await ledger_rows(hub))

    with pytest.raises(Forbidden, match="You proposed this share"):
        await hub.share_approvals.decide(proposer, held.share_id, "approve", APPROVE)
    # Of the sender's agency but not an approving role: refused, saying who approves.
    with pytest.raises(Forbidden, match="approved by a coordinator"):
        await hub.share_approvals.decide(
            await actor_for(hub, "dby.police"), held.share_id, "approve", APPROVE
        )
    # A coordinator of another area, the recipient, and a senior manager elsewhere: not theirs.
    for username in ("nts.coordinator", "dby.housing", "nts.police"):
        with pytest.raises(NotFound):
            await hub.share_approvals.decide(
                await actor_for(hub, username), held.share_id, "approve", APPROVE
            )
        with pytest.raises(NotFound):
            await hub.held_shares.open(await actor_for(hub, username), held.share_id)
    with pytest.raises(Exception, match="reasons"):
        await hub.share_approvals.decide(
            await actor_for(hub, "dby.coordinator2"), held.share_id, "approve", "  "
        )
    assert len(await ledger_rows(hub)) == before  # refusals write nothing

    other = await actor_for(hub, "dby.coordinator2")
    assert (
        await hub.share_approvals.decide(other, held.share_id, "approve", APPROVE)
    ).row.status == ("released")


async def test_a_cross_area_share_needs_a_coordinator_of_each_area(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    dby = await actor_for(hub, "dby.coordinator")
    nts = await actor_for(hub, "nts.coordinator")
    nts_housing = await actor_for(hub, "nts.housing")
    harlow = await case_id(hub, "Harlow")
    draft = Draft(
        case_id=harlow,
        recipient_agency_ids=(nts_housing.agency.id,),
        subject="He may move to Nottingham",
        body="He has asked about a tenancy in Bulwell; please tell us if he applies.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=("address", "risk-summary"),
        necessity=NECESSITY,
    )
    decision = await hub.packets.preview(police, draft)
    assert "boundaries.other-area" in decision.rules
    held = await _hold(hub, police, draft)
    assert held.awaiting == ("a coordinator of Derbyshire", "a coordinator of Nottinghamshire")
    assert held.id not in {p.id for p in await hub.packets.inbox(nts_housing)}
    # Each area's coordinator has it queued; a practitioner of the other area does not see it.
    for coordinator in (dby, nts):
        assert held.share_id in {v.id for v in await hub.held_shares.queue(coordinator)}
    with pytest.raises(NotFound):
        await hub.held_shares.get(await actor_for(hub, "nts.police"), held.share_id)

    # The recipient area's coordinator reads it before deciding (logged for its agency).
    _, content = await hub.held_shares.open(nts, held.share_id)
    assert "Bulwell" in content.body
    first = await hub.share_approvals.decide(dby, held.share_id, "approve", APPROVE)
    assert (first.row.status, first.awaiting) == ("awaiting", ["a coordinator of Nottinghamshire"])
    assert not first.may_decide
    with pytest.raises(Conflict, match="already decided"):
        await hub.share_approvals.decide(dby, held.share_id, "approve", APPROVE)
    with pytest.raises(NotFound):
        await hub.packets.open(nts_housing, held.id)

    done = await hub.share_approvals.decide(nts, held.share_id, "approve", APPROVE)
    assert done.row.status == "released"
    assert [(d.role, d.area_id) for d in done.decisions] == [
        ("coordinator", dby.agency.area_id),
        ("coordinator", nts.agency.area_id),
    ]
    assert "Bulwell" in (await hub.packets.open(nts_housing, held.id)).body
    # Released, it is read as a packet: an approver of another agency reads it no more.
    with pytest.raises(Forbidden):
        await hub.held_shares.open(nts, held.share_id)
    # Released as a send records it: the sender acts on the case; receiving makes no one active.
    active = await _active(hub, harlow)
    assert police.agency.id in active and nts_housing.agency.id not in active
    released = [r for r in await ledger_rows(hub) if r["event"] == Event.SHARE_RELEASED]
    assert [(r["packet_id"], r["actor_user_id"], r["recipients"]) for r in released] == [
        (held.id, nts.user.id, str(nts_housing.agency.id))
    ]
    await hub.ledger.verify()


async def _active(hub: Hub, case: int) -> set[int]:
    async with hub.db.read() as conn:
        return await workflow_store.case_agency_ids(conn, case)


async def test_a_held_response_answers_its_request_only_when_released(
    hub: Hub, logins: object
) -> None:
    """The workflow rows a send writes are written at release, as the proposer."""
    case = await new_case(hub, "Heldwood")
    probation = await actor_for(hub, "dby.probation")
    housing = await actor_for(hub, "dby.housing")
    asked = await hub.packets.send(
        probation,
        await typed_draft(
            hub,
            PacketType.REQUEST,
            case,
            ("DBY-HOUSING",),
            request_form(),
            categories=("identity", "risk-summary"),
            purpose="risk-management",
            necessity={
                "why": "The panel must know where he will live before the risk plan is agreed.",
                "who": "The offender manager and the MAPPA coordinator only.",
                "use": "To set licence conditions and an exclusion zone at the next review.",
            },
        ),
    )
    answer = replace(
        await typed_draft(
            hub,
            PacketType.RESPONSE,
            case,
            ("DBY-PROBATION",),
            response_form(),
            categories=("address", "victim-address"),
            purpose="risk-management",
        ),
        reply_to=asked.id,
        restricted_reason=REASON,
        schedule1_condition="sch1-para10",  # housing shares under UK GDPR: Art 10 data
    )
    held = await _hold(hub, housing, answer)
    [request] = [
        r for r in (await hub.requests.queue(housing)).incoming if r.row.packet_id == asked.id
    ]
    assert request.row.status == "open"  # not answered while the answer is held

    await hub.share_approvals.decide(
        await actor_for(hub, "dby.coordinator"), held.share_id, "approve", APPROVE
    )
    [request] = [
        r for r in (await hub.requests.queue(housing)).incoming if r.row.packet_id == asked.id
    ]
    assert (request.row.status, request.row.response_packet_id) == ("answered", held.id)
    assert request.row.closed_by_user_id == housing.user.id  # the proposer answered it
    await hub.ledger.verify()


async def test_concurrent_approvals_of_both_areas_release_the_share_once(
    hub: Hub, logins: object
) -> None:
    import asyncio

    police = await actor_for(hub, "dby.police")
    draft = Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "NTS-PROBATION"),),
        subject="Transfer of supervision may follow",
        body="He intends to live in Nottinghamshire after release.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=("address", "risk-summary"),
        necessity=NECESSITY,
    )
    held = await _hold(hub, police, draft)
    dby, nts = await actor_for(hub, "dby.coordinator"), await actor_for(hub, "nts.coordinator")
    await asyncio.gather(
        hub.share_approvals.decide(dby, held.share_id, "approve", APPROVE),
        hub.share_approvals.decide(nts, held.share_id, "approve", APPROVE),
    )
    view = await hub.held_shares.get(police, held.share_id)
    assert view.row.status == "released"
    released = [r for r in await ledger_rows(hub) if r["event"] == Event.SHARE_RELEASED]
    assert [r["packet_id"] for r in released] == [held.id]
    assert await ledger.verify(hub.db) == len(await ledger_rows(hub))
