"""Third-party disclosure: proposed inside MAPPA, decided by the approvers the policy names (never
the proposer), delivered only once approved, and every step on the log."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.model.packets import PacketSummary, PacketType
from hub.policy.errors import PolicyRefused
from hub.policy.model import Outcome
from hub.services.actor import Actor
from hub.services.disclosures import DisclosureView
from hub.wiring import Hub
from tests.conftest import actor_for, case_id
from tests.integration.workflow_support import (
    WHY_WHO_USE,
    assert_only_refusals_logged,
    ledger_rows,
    snapshot,
    typed_draft,
)
from tests.workflow_forms import disclosure_proposal_form

# What the letter channel may carry to a third party (policies/channels.toml, proportionality.toml).
LETTER_CATEGORIES = ("identity", "offence-history", "risk-summary")
REASONS = "Necessary and proportionate to protect children at the schools; the last resort."


async def _propose(
    hub: Hub,
    proposer: Actor,
    family_name: str = "Harlow",
    to: str = "DBY-PROBATION",
    *,
    categories: tuple[str, ...] = LETTER_CATEGORIES,
    necessity: dict[str, str] = WHY_WHO_USE,
    **form: Any,
) -> PacketSummary:
    """Send a disclosure proposal within MAPPA (CJA 2003 s325) for a letter to an employer."""
    draft = await typed_draft(
        hub,
        PacketType.DISCLOSURE_PROPOSAL,
        await case_id(hub, family_name),
        (to,),
        disclosure_proposal_form(**form),
        categories=categories,
        purpose="public-protection",
        necessity=necessity,
    )
    assert draft.lawful_basis == "cja2003-s325"
    return await hub.packets.send(proposer, draft)


async def _disclosure(hub: Hub, reader: Actor, sent: PacketSummary) -> DisclosureView:
    """The register entry a proposal opened (the demo world has proposals of its own)."""
    [view] = [
        v
        for v in await hub.disclosures.register(reader, case_id=sent.case_id)
        if v.row.proposal_packet_id == sent.id
    ]
    return view


async def test_a_disclosure_is_proposed_approved_and_delivered(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    sent = await _propose(hub, police)

    [view] = [
        v
        for v in await hub.disclosures.register(coordinator)
        if v.row.proposal_packet_id == sent.id
    ]
    row = view.row
    assert row.status == "proposed"
    assert view.outstanding == {"coordinator": 1}
    assert (row.recipient_kind, row.method, row.offender_to_be_told) == ("employer", "letter", True)
    # The disclosure's own basis is the common law; the proposal travelled under s325.
    assert (row.lawful_basis, row.purpose) == ("common-law", "public-protection")
    assert row.categories == "identity,offence-history,risk-summary"
    assert [(a["role"], a["count"]) for a in row.approvals_needed] == [("coordinator", 1)]
    assert (view.proposer, view.proposer_agency) == ("DS Mark Ellis", "Derbyshire Constabulary")
    assert (row.proposer_user_id, row.case_id) == (police.user.id, sent.case_id)
    assert view.decisions == [] and row.decided_at is None and row.delivered_at is None
    [sent_entry] = [r for r in await ledger_rows(hub) if r["packet_id"] == sent.id]
    assert (sent_entry["event"], sent_entry["lawful_basis"]) == ("packet-sent", "cja2003-s325")

    # Nobody but the named approver decides; nothing is delivered before approval.
    before = await snapshot(hub)
    for username in ("dby.police", "dby.probation"):
        with pytest.raises(Forbidden):
            await hub.disclosures.decide(await actor_for(hub, username), row.id, "approve", REASONS)
    with pytest.raises(Forbidden, match="does not ask"):  # a senior manager at level 2
        await hub.disclosures.decide(await actor_for(hub, "dby.senior"), row.id, "approve", REASONS)
    with pytest.raises(NotFound):  # another area's coordinator
        await hub.disclosures.decide(
            await actor_for(hub, "nts.coordinator"), row.id, "approve", REASONS
        )
    with pytest.raises(Conflict, match="approved"):  # the state refuses it, not the role
        await hub.disclosures.deliver(police, row.id)
    with pytest.raises(InvalidInput) as err:
        await hub.disclosures.decide(coordinator, row.id, "approve", "   ")
    assert err.value.field == "reasons"
    with pytest.raises(InvalidInput) as err:
        await hub.disclosures.decide(coordinator, row.id, "maybe", REASONS)
    assert err.value.field == "decision"
    assert await snapshot(hub) == before

    approved = await hub.disclosures.decide(
        coordinator, row.id, "approve", REASONS, "Letter to the managing director only."
    )
    assert approved.row.status == "approved"
    assert approved.outstanding == {}
    assert approved.row.decided_at is not None
    [decision] = approved.decisions
    assert (decision.role, decision.decision, decision.reasons, decision.conditions) == (
        "coordinator",
        "approve",
        REASONS,
        "Letter to the managing director only.",
    )
    assert (decision.approver_user_id, decision.approver_agency_id) == (
        coordinator.user.id,
        coordinator.agency.id,
    )
    assert approved.decided_by == {coordinator.user.id: "Priya Shah (MAPPA Coordinator)"}
    with pytest.raises(Conflict):
        await hub.disclosures.decide(coordinator, row.id, "approve", REASONS)
    with pytest.raises(Forbidden, match="proposer or a MAPPA coordinator"):
        await hub.disclosures.deliver(await actor_for(hub, "dby.probation"), row.id)

    delivered = await hub.disclosures.deliver(police, row.id)
    assert delivered.row.status == "delivered"
    assert delivered.row.delivered_by_user_id == police.user.id
    assert delivered.row.delivered_at is not None
    with pytest.raises(Conflict):
        await hub.disclosures.deliver(police, row.id)
    assert (await hub.disclosures.get(coordinator, row.id)).row.status == "delivered"

    entries = [r for r in await ledger_rows(hub) if r["packet_id"] == sent.id]
    assert [(r["action"], r["event"]) for r in entries] == [
        ("disclosure", "packet-sent"),
        ("alteration", "disclosure-decided"),
        ("disclosure", "third-party-disclosed"),
    ]
    decided, disclosed = entries[1], entries[2]
    assert (decided["actor_user_id"], decided["decision"]) == (coordinator.user.id, "approve")
    assert decided["case_id"] == sent.case_id
    assert (disclosed["actor_user_id"], disclosed["actor_agency_id"]) == (
        police.user.id,
        police.agency.id,
    )
    assert (disclosed["lawful_basis"], disclosed["purpose"], disclosed["decision"]) == (
        "common-law",
        "public-protection",
        "PERMIT",
    )
    # The disclosure entry names the proposal it carried out (the digest of its signed header).
    assert disclosed["content_digest"] == sent_entry["content_digest"]
    assert disclosed["policy_version"] == row.policy_version
    assert (await hub.ledger.verify()).entries == len(await ledger_rows(hub))


async def test_a_refused_disclosure_cannot_be_delivered(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    sent = await _propose(hub, police)
    row = (await _disclosure(hub, police, sent)).row
    refused = await hub.disclosures.decide(
        coordinator,
        row.id,
        "refuse",
        "Not the last resort: the employer can be managed by licence.",
    )
    assert refused.row.status == "refused"
    assert refused.outstanding == {}
    assert [(d.decision, d.role) for d in refused.decisions] == [("refuse", "coordinator")]
    with pytest.raises(Conflict, match="refused"):
        await hub.disclosures.deliver(police, row.id)
    with pytest.raises(Conflict, match="refused"):
        await hub.disclosures.deliver(coordinator, row.id)
    with pytest.raises(Conflict, match="refused"):
        await hub.disclosures.decide(coordinator, row.id, "approve", REASONS)
    events = [
        (r["event"], r["decision"]) for r in await ledger_rows(hub) if r["packet_id"] == sent.id
    ]
    assert events == [("packet-sent", "PERMIT"), ("disclosure-decided", "refuse")]


async def test_the_proposer_never_decides_their_own_disclosure(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    sent = await _propose(hub, coordinator)
    view = await _disclosure(hub, coordinator, sent)
    assert view.outstanding == {"coordinator": 1}
    before = await snapshot(hub)
    for decision in ("approve", "refuse"):
        with pytest.raises(Forbidden, match="someone else must decide"):
            await hub.disclosures.decide(coordinator, view.id, decision, REASONS)
    assert await snapshot(hub) == before
    after = await hub.disclosures.get(coordinator, view.id)
    assert (after.row.status, after.outstanding, after.decisions) == (
        "proposed",
        {"coordinator": 1},
        [],
    )


async def test_level_3_needs_a_coordinator_and_a_senior_manager(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    senior = await actor_for(hub, "dby.senior")
    sent = await _propose(hub, police, "Pritchard")
    view = await _disclosure(hub, coordinator, sent)
    assert sorted(a["role"] for a in view.row.approvals_needed) == ["coordinator", "senior-manager"]
    assert view.outstanding == {"coordinator": 1, "senior-manager": 1}

    half = await hub.disclosures.decide(coordinator, view.id, "approve", REASONS)
    assert half.row.status == "proposed"
    assert half.outstanding == {"senior-manager": 1}
    assert half.row.decided_at is None
    with pytest.raises(Conflict, match="already decided"):
        await hub.disclosures.decide(coordinator, view.id, "approve", REASONS)
    with pytest.raises(Conflict, match="proposed"):
        await hub.disclosures.deliver(police, view.id)

    full = await hub.disclosures.decide(senior, view.id, "approve", "A senior officer agrees.")
    assert full.row.status == "approved"
    assert full.outstanding == {}
    assert [(d.role, d.approver_user_id) for d in full.decisions] == [
        ("coordinator", coordinator.user.id),
        ("senior-manager", senior.user.id),
    ]
    delivered = await hub.disclosures.deliver(coordinator, view.id)  # a coordinator may record it
    assert (delivered.row.status, delivered.row.delivered_by_user_id) == (
        "delivered",
        coordinator.user.id,
    )
    decided = [
        r["actor_user_id"]
        for r in await ledger_rows(hub)
        if r["packet_id"] == sent.id and r["event"] == "disclosure-decided"
    ]
    assert decided == [coordinator.user.id, senior.user.id]


async def test_at_level_3_a_senior_manager_may_refuse_after_the_coordinator_approved(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    sent = await _propose(hub, police, "Pritchard")
    view = await _disclosure(hub, police, sent)
    await hub.disclosures.decide(
        await actor_for(hub, "dby.coordinator"), view.id, "approve", REASONS
    )
    refused = await hub.disclosures.decide(
        await actor_for(hub, "dby.senior"),
        view.id,
        "refuse",
        "The victim's family must agree first.",
    )
    assert (refused.row.status, refused.outstanding) == ("refused", {})
    with pytest.raises(Conflict, match="refused"):
        await hub.disclosures.deliver(police, view.id)


async def test_only_approvers_the_proposal_reached_decide(hub: Hub, logins: object) -> None:
    # Probation proposes to the mental health trust: no coordinator's agency has the proposal.
    probation = await actor_for(hub, "dby.probation")
    sent = await _propose(hub, probation, to="DBY-MH")
    view = await _disclosure(hub, probation, sent)
    with pytest.raises(Forbidden, match="must reach you"):
        await hub.disclosures.decide(
            await actor_for(hub, "dby.coordinator"), view.id, "approve", REASONS
        )
    assert (await hub.disclosures.get(probation, view.id)).row.status == "proposed"


async def test_a_disclosure_the_policy_denies_is_refused_at_proposal(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    before = await snapshot(hub)
    cases: list[tuple[tuple[str, ...], dict[str, str], set[str]]] = [
        # A letter to a third party may not carry health or employment details (the proposal
        # itself may carry employment within MAPPA: it is the disclosure that is refused).
        # Health data: Part 3 sensitive processing without a Schedule 8 condition fails lawful too.
        (("identity", "health"), {}, {"lawful", "proportionate", "secure"}),
        (("identity", "employment"), {}, {"proportionate", "secure"}),
        # CJA 2003 s325 covers sharing within MAPPA, not disclosure outside it.
        (LETTER_CATEGORIES, {"lawful_basis": "cja2003-s325"}, {"lawful"}),
    ]
    for refusals, (categories, form, failed) in enumerate(cases, start=1):
        with pytest.raises(PolicyRefused) as err:
            await _propose(hub, police, categories=categories, **form)
        assert err.value.decision.outcome is Outcome.DENY
        assert {t.test.value for t in err.value.decision.failed} == failed, categories
        await assert_only_refusals_logged(hub, before, refusals)


async def test_a_proposal_without_who_and_use_is_refused(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    before = await snapshot(hub)
    with pytest.raises(PolicyRefused) as err:
        await _propose(hub, police, necessity={"why": WHY_WHO_USE["why"]})
    assert {t.test.value for t in err.value.decision.failed} == {"necessary"}
    with pytest.raises(InvalidInput) as form_err:
        await _propose(hub, police, offender_to_be_told=False)
    assert {e["field"] for e in form_err.value.errors} == {"reason_offender_not_told"}
    await assert_only_refusals_logged(
        hub, before, 1
    )  # the refusal; the invalid form writes nothing


async def test_who_may_read_the_register(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    sent = await _propose(hub, police)
    harlow = sent.case_id
    view = await _disclosure(hub, police, sent)

    # The area's register is for coordinators, senior managers and auditors.
    for username in ("dby.coordinator", "dby.senior", "dby.auditor"):
        area = await hub.disclosures.register(await actor_for(hub, username))
        assert view.id in [v.id for v in area]
    proposed = await hub.disclosures.register(
        await actor_for(hub, "dby.coordinator"), status="proposed"
    )
    assert view.id in [v.id for v in proposed]
    approved = await hub.disclosures.register(
        await actor_for(hub, "dby.coordinator"), status="approved"
    )
    assert view.id not in [v.id for v in approved]
    nts = await hub.disclosures.register(await actor_for(hub, "nts.coordinator"))
    assert view.id not in [v.id for v in nts]
    for username in ("dby.police", "dby.probation", "dby.housing"):
        with pytest.raises(Forbidden, match="coordinators"):
            await hub.disclosures.register(await actor_for(hub, username))

    # A case's register is for the agencies active on the case.
    probation = await actor_for(hub, "dby.probation")  # lead agency and the proposal's recipient
    assert view.id in [v.id for v in await hub.disclosures.register(probation, case_id=harlow)]
    assert (await hub.disclosures.get(probation, view.id)).id == view.id
    for username in ("dby.vlo", "dby.mh", "nts.coordinator"):
        reader = await actor_for(hub, username)
        with pytest.raises(Forbidden, match="not active"):
            await hub.disclosures.register(reader, case_id=harlow)
        # Another area's disclosure answers as one that does not exist (no probing across areas).
        with pytest.raises(NotFound if username.startswith("nts.") else Forbidden):
            await hub.disclosures.get(reader, view.id)
    with pytest.raises(NotFound):
        await hub.disclosures.register(probation, case_id=999_999)
    with pytest.raises(NotFound):
        await hub.disclosures.get(probation, 999_999)
