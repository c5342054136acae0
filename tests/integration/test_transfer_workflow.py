"""Case transfer between two areas of one hub (Derbyshire -> Nottinghamshire), on SQLite and
PostgreSQL: proposed after a MAPPA meeting, accepted with reasons, sent as the signed bundle
(verified and imported here, adding the receiving agencies' wrapped keys), received and completed;
the case's owning area and lead agency change, the new lead agency opens the case's earlier
packets, and the sending area keeps only the read access policies/transfer.toml allows. Every step
is on the log."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from adapters.transfer.send import send_within_hub
from hub.errors import Conflict, Forbidden, IntegrityFailure, InvalidInput, NotFound
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.packets import Draft, PacketType
from hub.model.transfers import TransferState
from hub.services.transfers import Proposal
from hub.store.schema import ledger_entries, transfer_imports
from hub.wiring import Hub
from hub.workflows.deadlines import ItemKind
from tests.conftest import NECESSITY, SHARE_CATEGORIES, TickingClock, actor_for, agency_id
from tests.integration.workflow_support import case_items, new_case

TODAY = date(2026, 11, 23)


async def case_events(hub: Hub, case: int) -> list[str]:
    async with hub.db.read() as conn:
        stmt = select(ledger_entries.c.event).where(ledger_entries.c.case_id == case)
        return [e for (e,) in (await conn.execute(stmt.order_by(ledger_entries.c.seq))).all()]


async def test_a_transfer_between_two_areas_of_one_hub(
    hub: Hub, logins: object, clock: TickingClock
) -> None:
    dby = await actor_for(hub, "dby.coordinator")
    nts = await actor_for(hub, "nts.coordinator")
    police = await actor_for(hub, "dby.police")
    case = await new_case(hub, "Ashdown")
    ref = (await hub.cases.get(None, case)).reference
    await hub.cases.involve(None, ref, "DBY-POLICE")
    await hub.cases.involve(None, ref, "DBY-HOUSING")
    shared = await hub.packets.send(
        police,
        Draft(
            case_id=case,
            recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject="Address check",
            body="Proposed address near a school.",
            purpose="accommodation-placement",
            lawful_basis="cja2003-s325",
            packet_type=PacketType.NOTE,
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        ),
    )
    proposal = Proposal(case, "Moving to his sister's address in Mansfield.", TODAY, "NTS")

    # Probation Circular 52/2004: no MAPPA meeting on the case, no transfer.
    with pytest.raises(InvalidInput) as refused:
        await hub.transfers.propose(dby, proposal)
    assert refused.value.code == "transfer_meeting_required"
    await hub.casework.record_meeting(dby, case, TODAY - timedelta(days=7), 2)

    proposed = await hub.transfers.propose(dby, proposal)
    assert proposed.state is TransferState.PROPOSED
    assert proposed.meeting_held_on == TODAY - timedelta(days=7)
    (decision,) = [i for i in await case_items(hub, case) if i.kind == ItemKind.TRANSFER_DECISION]
    nts_area = (await hub.directory.agency(nts.agency.id)).area_id
    assert (decision.area_id, decision.due_on) == (nts_area, date(2026, 12, 7))  # 10 working days
    # The receiving coordinator sees it among their area's deadlines.
    assert decision.id in {i.id for i in await hub.casework.due(nts, area=True)}

    accepted = await hub.transfers.accept(
        nts, proposed.id, "Approved premises place confirmed.", "NTS-PROBATION"
    )
    assert accepted.state is TransferState.ACCEPTED
    assert accepted.new_lead_agency_code == "NTS-PROBATION"
    # Before the transfer the receiving area's probation service cannot open the packet (nor
    # learn that it exists: another area's packet answers as a missing one).
    nts_probation = await actor_for(hub, "nts.probation")
    with pytest.raises(NotFound):
        await hub.packets.open(nts_probation, shared.id)
    # Only the sending area's coordinator sends; nothing is built for anyone else.
    with pytest.raises(Forbidden):
        await send_within_hub(hub, nts, proposed.id)
    with pytest.raises(Conflict):  # nothing sent yet: nothing to confirm
        await hub.transfers.confirm_received(nts, proposed.id)
    sent = await send_within_hub(hub, dby, proposed.id)
    assert sent.transfer.state is TransferState.SENT
    assert sent.transfer.bundle_digest == sent.digest == sent.imported.digest
    assert sent.imported.packets >= 1 and not sent.imported.created_case
    # bundle.json described the transfer to the receiving side.
    assert sent.imported.transfer is not None
    assert sent.imported.transfer["id"] == proposed.id
    assert sent.imported.transfer["new_lead_agency"] == "NTS-PROBATION"
    async with hub.db.read() as conn:
        stmt = select(transfer_imports.c.to_area).where(transfer_imports.c.digest == sent.digest)
        assert (await conn.execute(stmt)).scalar_one() == "NTS"
    with pytest.raises(Conflict):  # sent once
        await send_within_hub(hub, dby, proposed.id)
    # Keys alone open nothing: the receiving agencies are not yet active on the case, which is
    # still another area's (so the packet answers as a missing one).
    with pytest.raises(NotFound):
        await hub.packets.open(nts_probation, shared.id)
    done = await hub.transfers.confirm_received(nts, proposed.id)
    assert done.state is TransferState.COMPLETED and done.completed_at
    # The new lead agency opens the packet only DBY agencies could open: real decryption with
    # the wrapped key the import added, logged as a consultation.
    opened = await hub.packets.open(nts_probation, shared.id)
    assert opened.body == "Proposed address near a school."
    assert shared.id in await hub.packets.listing.openable(nts_probation, [shared.id])
    timeline = (await hub.casework.case_file(nts_probation, case)).timeline
    assert f"/packets/{shared.id}" in {e.link for e in timeline}
    # Another NTS agency holds a key but is not active on the case: still closed to it.
    with pytest.raises(Forbidden):
        await hub.packets.open(await actor_for(hub, "nts.police"), shared.id)

    # The receiving area owns the case, led by the agency chosen at acceptance.
    moved = await hub.cases.get(nts, case)
    assert moved.area_id == nts_area
    assert moved.lead_agency_id == await agency_id(hub, "NTS-PROBATION")
    assert (await hub.casework.case_file(nts, case)).lead_agency.startswith("Probation Service - N")
    # The sending area: no case, no case file, no sending about it...
    with pytest.raises(NotFound):
        await hub.cases.get(dby, case)
    with pytest.raises(NotFound):  # another area's case now, as if absent
        await hub.casework.case_file(police, case)
    # ...but the packets already shared still open, for the period the policy allows.
    housing = await actor_for(hub, "dby.housing")
    assert (await hub.packets.open(housing, shared.id)).header.packet_id == shared.id
    clock.advance(timedelta(days=hub.policy.current.transfer.read_days + 1))  # type: ignore[union-attr]
    with pytest.raises(Forbidden, match="transferred"):
        await hub.packets.open(housing, shared.id)

    events = await case_events(hub, case)
    steps = [e for e in events if e.startswith("transfer-")]
    # The bundle's verified import (a collection by the receiving agencies) is logged before the
    # sent step (a refused import leaves the transfer accepted), then the coordinator's receipt.
    assert steps == [
        "transfer-proposed",
        "transfer-accepted",
        "transfer-received",
        "transfer-sent",
        "transfer-received",
        "transfer-completed",
    ]
    async with hub.db.read() as conn:
        stmt = select(ledger_entries.c.event, ledger_entries.c.content_digest).where(
            ledger_entries.c.case_id == case,
            ledger_entries.c.event == "transfer-received",
            ledger_entries.c.channel == "transfer",
        )
        logged = (await conn.execute(stmt)).all()
    assert ("transfer-received", sent.digest) in logged
    opened_by = [e for e in events if e == "packet-opened"]
    assert opened_by  # the new lead agency's opening is a consultation on the log
    # No deadline is left open for the transfer.
    assert not [
        i
        for i in await case_items(hub, case)
        if i.kind.startswith("transfer-") and i.status == "open"
    ]


async def test_receipt_needs_the_verified_bundle(hub: Hub, logins: object) -> None:
    """A transfer marked sent with a digest no verified bundle on this hub has (the operator's
    ``mark_sent``, not the send step) cannot be confirmed: the receiving agencies hold no keys."""
    dby = await actor_for(hub, "dby.coordinator")
    nts = await actor_for(hub, "nts.coordinator")
    case = await new_case(hub, "Brailsford")
    await hub.casework.record_meeting(dby, case, TODAY - timedelta(days=3), 2)
    proposed = await hub.transfers.propose(dby, Proposal(case, "Moving to Newark.", TODAY, "NTS"))
    await hub.transfers.accept(nts, proposed.id, "Place confirmed.", "NTS-PROBATION")
    await hub.transfers.mark_sent(proposed.id, "ab" * 32)
    with pytest.raises(IntegrityFailure, match="not been verified"):
        await hub.transfers.confirm_received(nts, proposed.id)
    assert (await hub.transfers.get(nts, proposed.id)).state is TransferState.SENT


async def test_within_one_hub_across_a_border_the_case_is_regraded(
    hub: Hub, logins: object
) -> None:
    """A Derbyshire case moves to a Scottish area of the same hub: once complete, the case row
    holds the category Scotland records it as (policies/transfer.toml), as the bundle said."""
    await hub.directory.add_area("LOT", "Lothian and Borders", Jurisdiction.SCOTLAND)
    await hub.directory.add_agency(
        "LOT-CJSW", "Edinburgh Justice Social Work", AgencyType.CRIMINAL_JUSTICE_SOCIAL_WORK, "LOT"
    )
    await hub.directory.add_user("lot.coordinator", "Ailsa Reid", "LOT-CJSW", Role.COORDINATOR,
                                 "a long test passphrase 45")  # fmt: skip
    dby = await actor_for(hub, "dby.coordinator")
    lot = await actor_for(hub, "lot.coordinator")
    case = await new_case(hub, "Balfour")  # category 2 in England and Wales
    await hub.casework.record_meeting(dby, case, TODAY - timedelta(days=3), 2)
    proposed = await hub.transfers.propose(
        dby, Proposal(case, "Moving to Edinburgh to live with his mother.", TODAY, "LOT")
    )
    await hub.transfers.accept(lot, proposed.id, "CJSW will supervise.", "LOT-CJSW")
    await send_within_hub(hub, dby, proposed.id)
    assert int((await hub.cases.get(None, case)).category) == 2  # not until it completes
    await hub.transfers.confirm_received(lot, proposed.id)
    moved = await hub.cases.get(None, case)
    assert (int(moved.category), int(moved.level)) == (3, 2)
    assert moved.lead_agency_id == await agency_id(hub, "LOT-CJSW")
