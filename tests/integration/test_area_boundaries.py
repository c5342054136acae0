"""Area boundaries through the services: a share to another area's agency that is not active on
the case needs both areas' coordinators; a request for information travels; being sent a packet
makes no agency active; involving an agency does, on the log."""

from __future__ import annotations

import pytest

from hub.errors import Forbidden, InvalidInput, NotFound
from hub.model.packets import Draft, PacketType
from hub.policy.model import Outcome
from hub.wiring import Hub
from tests.conftest import NECESSITY, actor_for, agency_id
from tests.integration.workflow_support import active_on, ledger_rows, new_case
from tests.workflow_forms import request_form, response_form


async def _note(hub: Hub, case: int, to: str) -> Draft:
    return Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, to),),
        subject="He is moving to your area",
        body="He has asked to live with his sister in Nottingham.",
        purpose="accommodation-placement",
        lawful_basis="cja2003-s325",
        data_categories=("identity", "address", "risk-summary"),
        necessity=NECESSITY,
    )


async def test_another_areas_agency_needs_both_coordinators_until_involved(
    hub: Hub, logins: object
) -> None:
    case = await new_case(hub, "Mercer")  # a Derbyshire case, lead: probation
    probation = await actor_for(hub, "dby.probation")
    draft = await _note(hub, case, "NTS-HOUSING")
    decision = await hub.packets.preview(probation, draft)
    assert decision.outcome is Outcome.REVIEW
    assert "boundaries.other-area" in decision.rules
    assert sorted((a.role, a.area) for a in decision.approvals) == [
        ("coordinator", "recipient"),
        ("coordinator", "sender"),
    ]
    # The same share inside the area is allowed as it stands.
    inside = await hub.packets.preview(probation, await _note(hub, case, "DBY-HOUSING"))
    assert inside.outcome is Outcome.PERMIT, inside.message()

    # Once the Derbyshire coordinator involves Nottingham's housing provider in the case, it is
    # inside the case's arrangements and the share goes without approval.
    coordinator = await actor_for(hub, "dby.coordinator")
    reference = (await hub.cases.get(coordinator, case)).reference
    await hub.cases.involve(coordinator, reference, "NTS-HOUSING")
    assert await agency_id(hub, "NTS-HOUSING") in await active_on(hub, case)
    decision = await hub.packets.preview(probation, draft)
    assert decision.outcome is Outcome.PERMIT, decision.message()
    sent = await hub.packets.send(probation, draft)
    nts_housing = await actor_for(hub, "nts.housing")
    assert (await hub.packets.open(nts_housing, sent.id)).summary.id == sent.id
    # Involved, Nottingham's housing provider may now see the case file and send about it.
    assert (await hub.casework.case_file(nts_housing, case)).case.id == case


async def test_a_request_travels_to_another_area_and_is_answered_from_there(
    hub: Hub, logins: object
) -> None:
    case = await new_case(hub, "Mercer")
    probation = await actor_for(hub, "dby.probation")
    nts_police = await actor_for(hub, "nts.police")
    request = Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, "NTS-POLICE"),),
        subject="Intelligence on the sister's address",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.REQUEST,
        data_categories=("identity", "risk-summary"),
        necessity={
            "why": "He proposes to live at his sister's address in Nottingham.",
            "who": "The offender manager and the Derbyshire MAPPA panel.",
            "use": "To decide whether the address can be approved; kept on the case record.",
        },
        form=request_form(),
    )
    decision = await hub.packets.preview(probation, request)
    assert decision.outcome is Outcome.PERMIT, decision.message()
    assert "boundaries.other-area" in decision.rules and not decision.approvals
    asked = await hub.packets.send(probation, request)
    # Being asked does not make Nottinghamshire Police active on the case ...
    assert await agency_id(hub, "NTS-POLICE") not in await active_on(hub, case)
    with pytest.raises(NotFound, match="No such case"):  # as if absent, from another area
        await hub.casework.case_file(nts_police, case)
    # ... nor free to send about it, but it may answer the request addressed to it.
    note = await _note(hub, case, "DBY-PROBATION")
    with pytest.raises(InvalidInput, match="Unknown case"):
        await hub.packets.send(nts_police, note)
    answer = Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, "DBY-PROBATION"),),
        subject="Re: intelligence on the sister's address",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.RESPONSE,
        data_categories=("address", "risk-summary"),
        necessity={"why": "Answering the Derbyshire request about the proposed address."},
        form=response_form(),
        reply_to=asked.id,
    )
    replied = await hub.packets.send(nts_police, answer)
    assert (await hub.packets.open(probation, replied.id)).header.reply_to == asked.id
    # Answering made Nottinghamshire Police a sender on the case, and so active on it.
    assert await agency_id(hub, "NTS-POLICE") in await active_on(hub, case)


async def test_involving_an_agency_is_an_alteration_on_the_log(hub: Hub, logins: object) -> None:
    case = await new_case(hub, "Mercer")
    coordinator = await actor_for(hub, "dby.coordinator")
    reference = (await hub.cases.get(coordinator, case)).reference
    with pytest.raises(InvalidInput, match="Unknown agency"):
        await hub.cases.involve(coordinator, reference, "NOWHERE-POLICE")
    with pytest.raises(InvalidInput, match="Unknown agency"):
        await hub.cases.involve(coordinator, reference, "DBY-EMPLOYER-ACME")
    # Another area's coordinator cannot reach this case at all.
    with pytest.raises(Exception, match="No such case"):
        await hub.cases.involve(await actor_for(hub, "nts.coordinator"), reference, "NTS-POLICE")
    with pytest.raises(Forbidden):
        await hub.cases.involve(await actor_for(hub, "dby.auditor"), reference, "DBY-MH")
    await hub.cases.involve(coordinator, reference, "DBY-MH")
    (entry,) = [
        r
        for r in await ledger_rows(hub)
        if r["event"] == "case-agency-involved" and r["case_id"] == case
    ]
    assert entry["action"] == "alteration"
    assert entry["recipients"] == str(await agency_id(hub, "DBY-MH"))
    assert entry["actor_user_id"] == coordinator.user.id
