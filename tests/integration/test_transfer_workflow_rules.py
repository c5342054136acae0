"""The transfer workflow's rules on one backend (SQLite; the whole workflow runs on both in
test_transfer_workflow.py): who may decide, declining with reasons, cancelling, deadlines and
escalation, a bundle from a peer hub, and the cross-border mappings of policies/transfer.toml."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.demo import seed
from hub.errors import Conflict, Forbidden, IntegrityFailure, InvalidInput, NotFound
from hub.model.transfers import TransferState
from hub.services.actor import Actor
from hub.services.transfer_exchange import ReceivedBundle
from hub.services.transfer_rules import map_for_jurisdiction
from hub.services.transfers import Proposal
from hub.store.schema import email_outbox, ledger_entries
from hub.wiring import Hub
from hub.workflows.deadlines import ItemKind
from tests.conftest import TickingClock, actor_for
from tests.integration.workflow_support import case_items, new_case

TODAY = date(2026, 11, 23)
DIGEST = "ab" * 32


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"


@pytest.fixture
async def world(hub: Hub) -> Hub:
    await seed(hub, with_email=True)
    return hub


async def _proposed(hub: Hub, family: str = "Brampton") -> tuple[int, int]:
    dby = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, family)
    await hub.casework.record_meeting(dby, case, TODAY - timedelta(days=3), 2)
    t = await hub.transfers.propose(dby, Proposal(case, "Moving area.", TODAY, "NTS"))
    return case, t.id


async def _events(hub: Hub, case: int) -> list[str]:
    async with hub.db.read() as conn:
        stmt = select(ledger_entries.c.event).where(ledger_entries.c.case_id == case)
        return [e for (e,) in (await conn.execute(stmt.order_by(ledger_entries.c.seq))).all()]


async def _mail(hub: Hub, event: str) -> list[str]:
    async with hub.db.read() as conn:
        stmt = select(email_outbox.c.to_address).where(email_outbox.c.event == event)
        return sorted(a for (a,) in (await conn.execute(stmt)).all())


async def test_only_the_receiving_areas_coordinator_decides(world: Hub) -> None:
    hub = world
    _, tid = await _proposed(hub)
    dby = await actor_for(hub, "dby.coordinator")
    for who in ("nts.probation", "nts.police"):  # practitioners
        with pytest.raises(Forbidden, match="coordinator"):
            await hub.transfers.accept(await actor_for(hub, who), tid, "Yes.", "NTS-PROBATION")
    with pytest.raises(Forbidden, match="coordinator"):
        await hub.transfers.accept(await actor_for(hub, "dby.admin"), tid, "Yes.", "NTS-POLICE")
    # The proposer's own area's coordinator (the proposer) cannot accept.
    with pytest.raises(Forbidden, match="receiving area"):
        await hub.transfers.accept(dby, tid, "Yes.", "NTS-PROBATION")
    # The proposer, even acting through a token of the receiving area for themselves, cannot.
    nts = await actor_for(hub, "nts.coordinator")
    as_proposer = Actor(nts.user, nts.agency, token_id=1, on_behalf_of=dby.user)
    with pytest.raises(Forbidden, match="proposed"):
        await hub.transfers.accept(as_proposer, tid, "Yes.", "NTS-PROBATION")
    # A token that names no person decides nothing.
    with pytest.raises(Forbidden, match="no named person"):
        await hub.transfers.accept(Actor(nts.user, nts.agency, token_id=1), tid, "Y", "NTS-POLICE")
    # Reasons and a lead agency of the receiving area are required.
    with pytest.raises(InvalidInput) as no_reasons:
        await hub.transfers.accept(nts, tid, "  ", "NTS-PROBATION")
    assert no_reasons.value.field == "reasons"
    with pytest.raises(InvalidInput) as wrong_lead:
        await hub.transfers.accept(nts, tid, "Yes.", "DBY-PROBATION")
    assert wrong_lead.value.field == "lead_agency"
    assert (await hub.transfers.get(nts, tid)).state is TransferState.PROPOSED


async def test_declined_with_reasons_and_the_sender_told(world: Hub) -> None:
    hub = world
    case, tid = await _proposed(hub)
    nts = await actor_for(hub, "nts.coordinator")
    declined = await hub.transfers.decline(nts, tid, "No approved premises place until March.")
    assert declined.state is TransferState.DECLINED
    assert declined.decision_reasons == "No approved premises place until March."
    with pytest.raises(Conflict):
        await hub.transfers.accept(nts, tid, "Changed my mind.", "NTS-PROBATION")
    assert "transfer-declined" in await _events(hub, case)
    assert await _mail(hub, "transfer-awaiting") == ["nts.coordinator@nts-probation.example"]
    assert await _mail(hub, "transfer-decided") == ["dby.coordinator@dby-police.example"]
    # The decision deadline is closed, not left to go overdue.
    items = [i for i in await case_items(hub, case) if i.kind.startswith("transfer-")]
    assert [i.status for i in items] == ["done"]


async def test_cancelled_by_the_sender_before_sending(world: Hub) -> None:
    hub = world
    case, tid = await _proposed(hub)
    dby, nts = await actor_for(hub, "dby.coordinator"), await actor_for(hub, "nts.coordinator")
    with pytest.raises(Forbidden):
        await hub.transfers.cancel(nts, tid, "Not ours to cancel.")
    cancelled = await hub.transfers.cancel(dby, tid, "He is staying in Derby.")
    assert cancelled.state is TransferState.CANCELLED
    assert (await _events(hub, case))[-1] == "transfer-cancelled"
    # A new proposal is possible once the last one is closed; two at once are not.
    again = await hub.transfers.propose(dby, Proposal(case, "Moving after all.", TODAY, "NTS"))
    with pytest.raises(Conflict):
        await hub.transfers.propose(dby, Proposal(case, "Twice.", TODAY, "NTS"))
    assert again.state is TransferState.PROPOSED


async def test_an_old_meeting_does_not_count(world: Hub) -> None:
    hub = world
    dby = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Oldfield")
    await hub.casework.record_meeting(dby, case, TODAY - timedelta(days=200), 2)
    with pytest.raises(InvalidInput, match="92 days") as refused:
        await hub.transfers.propose(dby, Proposal(case, "Moving.", TODAY, "NTS"))
    assert refused.value.code == "transfer_meeting_required"
    with pytest.raises(InvalidInput) as same_area:
        await hub.transfers.propose(dby, Proposal(case, "Moving.", TODAY, "DBY"))
    assert same_area.value.field == "receiving_area"


async def test_an_overdue_decision_is_escalated_to_the_senior_managers(
    world: Hub, clock: TickingClock
) -> None:
    hub = world
    case, tid = await _proposed(hub)
    (item,) = [i for i in await case_items(hub, case) if i.kind == ItemKind.TRANSFER_DECISION]
    clock.set(datetime.combine(item.due_on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9))
    assert not [r for r in await hub.casework.raise_reminders() if r.id == item.id]  # due today
    clock.advance(timedelta(days=1))
    overdue = [r for r in await hub.casework.raise_reminders() if r.id == item.id]
    assert overdue and overdue[0].kind is ItemKind.TRANSFER_DECISION
    assert (await _events(hub, case))[-1] == "transfer-escalated"
    assert (await hub.transfers.transfer_by_id(tid)).escalated_at is not None
    assert await _mail(hub, "transfer-overdue") == ["nts.coordinator@nts-probation.example"]
    # No senior manager in Nottinghamshire in the demo: add one, and the next step's escalation
    # reaches them. Derbyshire's senior manager is told of a late send.
    nts = await actor_for(hub, "nts.coordinator")
    await hub.transfers.accept(nts, tid, "Yes.", "NTS-PROBATION")
    (send,) = [i for i in await case_items(hub, case) if i.kind == ItemKind.TRANSFER_SEND]
    clock.set(datetime.combine(send.due_on + timedelta(days=1), datetime.min.time(), tzinfo=UTC))
    clock.advance(timedelta(hours=12))
    await hub.casework.raise_reminders()
    assert await _mail(hub, "transfer-escalated") == ["dby.senior@dby-police.example"]
    # Reminders run again: nothing is escalated twice.
    await hub.casework.raise_reminders()
    assert (await _events(hub, case)).count("transfer-escalated") == 2


async def test_a_bundle_from_a_peer_hub_is_received_once_for_an_area_of_this_hub(
    world: Hub,
) -> None:
    hub = world
    bundle = ReceivedBundle(
        sending_transfer_id=41,
        bundle_digest=DIGEST,
        case_reference="SCO-2026-0001",
        sending_area_code="LOTH",
        sending_jurisdiction="scotland",
        receiving_area_code="NTS",
        reason="Moving to Nottingham.",
        proposed_date=TODAY,
        new_lead_agency_code="NTS-PROBATION",
        peer_name="lothian",
    )
    received = await hub.transfers.record_received(bundle)
    assert (received.state, received.peer_name, received.remote_id) == (
        TransferState.RECEIVED,
        "lothian",
        "41",
    )
    with pytest.raises(Conflict, match="already"):
        await hub.transfers.record_received(bundle)
    with pytest.raises(Forbidden) as elsewhere:
        await hub.transfers.record_received(
            replace(bundle, sending_transfer_id=42, receiving_area_code="XYZ")
        )
    assert elsewhere.value.code == "transfer_wrong_area"
    done = await hub.transfers.complete(received.id, "cd" * 32)
    assert done.state is TransferState.COMPLETED
    nts = await actor_for(hub, "nts.coordinator")
    assert received.id in {t.id for t in await hub.transfers.for_area(nts)}


async def test_a_bundle_within_the_hub_must_be_the_one_sent(world: Hub) -> None:
    hub = world
    case, tid = await _proposed(hub)
    nts = await actor_for(hub, "nts.coordinator")
    await hub.transfers.accept(nts, tid, "Yes.", "NTS-PROBATION")
    sent = await hub.transfers.mark_sent(tid, DIGEST)
    assert sent.state is TransferState.SENT
    bundle = ReceivedBundle(
        tid, "ef" * 32, sent.case_reference, "DBY", "england-and-wales", "NTS", "x", TODAY
    )
    with pytest.raises(IntegrityFailure):
        await hub.transfers.record_received(bundle)
    await hub.transfers.record_received(replace(bundle, bundle_digest=DIGEST))
    done = await hub.transfers.complete(tid, "cd" * 32)
    assert done.state is TransferState.COMPLETED
    assert (await hub.cases.get(nts, case)).area_id == nts.agency.area_id


async def test_a_peer_hub_decides_on_a_transfer_to_its_area(world: Hub) -> None:
    hub = world
    dby = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Crossley")
    await hub.casework.record_meeting(dby, case, TODAY, 2)
    out = await hub.transfers.propose(
        dby,
        Proposal(
            case, "To Belfast.", TODAY, "BEL", peer_name="belfast",
            receiving_jurisdiction="northern-ireland",
        ),
    )  # fmt: skip
    assert (out.receiving_area_id, out.peer_name) == (None, "belfast")
    with pytest.raises(NotFound):  # the decision is the peer hub's: nobody here sees it to decide
        await hub.transfers.accept(
            await actor_for(hub, "nts.coordinator"), out.id, "Y", "NTS-PROBATION"
        )
    decided = await hub.transfers.record_peer_decision(
        out.id, peer_name="belfast", accepted=True, reasons="Agreed at panel.",
        decided_by="A. Coordinator (PPANI)", new_lead_agency_code="BEL-PBNI",
    )  # fmt: skip
    assert decided.state is TransferState.ACCEPTED and decided.decided_by_name
    await hub.transfers.mark_sent(out.id, DIGEST)
    done = await hub.transfers.complete(out.id, "cd" * 32)
    assert done.state is TransferState.COMPLETED
    events = await _events(hub, case)
    assert [e for e in events if e.startswith("transfer-")] == [
        "transfer-proposed", "transfer-accepted", "transfer-sent", "transfer-completed",
    ]  # fmt: skip
    # Derbyshire's agencies are no longer active on the case.
    with pytest.raises(Forbidden):
        await hub.casework.case_file(await actor_for(hub, "dby.probation"), case)


def test_cross_border_mappings_are_explicit(world: Hub) -> None:
    policy = world.policy.current
    to_ni = map_for_jurisdiction(
        policy, "england-and-wales", "northern-ireland", category=3, level=2,
        agency_types=["police", "probation", "jobcentre-plus"],
    )  # fmt: skip
    assert (to_ni.category, to_ni.level) == (2, 2)
    assert to_ni.agency_types["jobcentre-plus"] == "adult-social-care"
    assert to_ni.agency_types["probation"] == "probation"
    assert "MAPPA category 3 is recorded as 2" in to_ni.changes
    assert (to_ni.export_basis, to_ni.import_basis) == ("cja2003-s325", "cjnio2008-art49")
    to_scotland = map_for_jurisdiction(
        policy, "england-and-wales", "scotland", category=2, level=3, agency_types=["probation"]
    )
    assert to_scotland.category == 3
    assert to_scotland.agency_types == {"probation": "criminal-justice-social-work"}
    same = map_for_jurisdiction(
        policy, "england-and-wales", "england-and-wales", category=3, level=1
    )
    assert (same.category, same.changes) == (3, ())


def test_an_unmapped_value_is_refused_by_name(world: Hub, tmp_path: Path) -> None:
    policy = world.policy.current
    # Youth offending is not a Northern Ireland agency type here, and nothing maps it.
    with pytest.raises(InvalidInput, match="youth-offending") as refused:
        map_for_jurisdiction(
            policy, "scotland", "northern-ireland", category=1, level=1,
            agency_types=["youth-offending"],
        )  # fmt: skip
    assert refused.value.code == "transfer_unmapped"
    # A jurisdiction that exports to nowhere refuses the crossing.
    assert policy.transfer is not None
    rules = dict(policy.transfer.jurisdictions)
    rules["scotland"] = replace(rules["scotland"], export_to=frozenset({"scotland"}))
    closed = replace(policy, transfer=replace(policy.transfer, jurisdictions=rules))
    with pytest.raises(Forbidden) as export:
        map_for_jurisdiction(closed, "scotland", "england-and-wales", category=1, level=1)
    assert export.value.code == "transfer_export_refused"


def test_a_bad_transfer_policy_is_refused_with_file_line_and_reason(tmp_path: Path) -> None:
    import shutil

    from hub.policy.loader import PolicyError, load_policy

    policies = tmp_path / "policies"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policies", policies)
    path = policies / "transfer.toml"
    text = path.read_text(encoding="utf-8")
    # A mapping onto a category Northern Ireland does not use is refused, not loaded.
    path.write_text(text.replace('category = { "3" = 2 }', 'category = { "3" = 3 }', 1), "utf-8")
    with pytest.raises(PolicyError) as refused:
        load_policy(policies)
    assert refused.value.file == "transfer.toml"
    assert "category '3' is not one northern-ireland uses" in refused.value.reason
    assert text.splitlines()[refused.value.line - 1].startswith("[mappings.england-and-wales.n")
