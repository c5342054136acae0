"""Requests for information end to end through the services: ask, queue, answer or decline."""

from __future__ import annotations

from datetime import date

import pytest

from hub.errors import Conflict, Forbidden, InvalidInput
from hub.model.packets import Draft, PacketType
from hub.wiring import Hub
from tests.conftest import actor_for, agency_id, case_id

REQUEST_FORM = {
    "information_sought": "Current tenancy and any reports of visitors under 18.",
    "purpose_of_request": "To review the risk management plan before the level 2 meeting.",
    "who_needs_access": "The offender manager and the MAPPA panel members.",
    "how_it_will_be_used": "Discussed at the panel and recorded in the minutes only.",
    "due_on": "2026-12-04",
}


async def _request(hub: Hub, *targets: str, **form: object) -> Draft:
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=tuple([await agency_id(hub, t) for t in targets]),
        subject="Tenancy check",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.REQUEST,
        data_categories=("identity", "risk-summary"),
        necessity={
            "why": "The panel must know who visits the address.",
            "who": "Offender manager and panel.",
            "use": "Risk management plan review.",
        },
        form={**REQUEST_FORM, **form},
    )


async def _response(hub: Hub, request_packet: str, to: str) -> Draft:
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, to),),
        subject="Re: tenancy check",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.RESPONSE,
        data_categories=("address",),
        necessity={"why": "Answering the probation request of 23 November."},
        # Housing shares under UK GDPR: the offender's address is criminal offence data.
        schedule1_condition="sch1-para6",
        form={"information_provided": "Sole tenant since June; no reports of visitors."},
        reply_to=request_packet,
    )


async def test_request_answered_by_the_agency_asked(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    housing = await actor_for(hub, "dby.housing")
    sent = await hub.packets.send(probation, await _request(hub, "DBY-HOUSING"))

    queue = await hub.requests.queue(housing)
    (mine,) = [r for r in queue.incoming if r.row.packet_id == sent.id]
    assert (mine.row.due_on, mine.row.status) == (date(2026, 12, 4), "open")
    assert mine.requester_agency == "Probation Service - Derbyshire"
    due = await hub.casework.due(housing)
    assert ("request", date(2026, 12, 4), sent.id) in [
        (d.kind.value, d.row.due_on, d.row.source_packet_id) for d in due
    ]

    opened = await hub.packets.open(housing, sent.id)
    assert opened.form is not None
    assert opened.form["fields"]["who_needs_access"] == REQUEST_FORM["who_needs_access"]
    assert "Who needs access: The offender manager" in opened.body
    assert opened.header.form_schema == "mappa-hub/form/request-for-information/v1"

    answer = await hub.packets.send(housing, await _response(hub, sent.id, "DBY-PROBATION"))
    (asked,) = [
        r for r in (await hub.requests.queue(probation)).outgoing if r.row.packet_id == sent.id
    ]
    assert (asked.row.status, asked.row.response_packet_id) == ("answered", answer.id)
    assert sent.id not in [d.row.source_packet_id for d in await hub.casework.due(housing)]
    reply = await hub.packets.open(probation, answer.id)
    assert reply.header.reply_to == sent.id


async def test_only_the_agency_asked_may_answer(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    police = await actor_for(hub, "dby.police")
    sent = await hub.packets.send(probation, await _request(hub, "DBY-HOUSING"))
    with pytest.raises(Forbidden, match="addressed to another agency"):
        await hub.packets.send(police, await _response(hub, sent.id, "DBY-PROBATION"))
    queue = await hub.requests.queue(await actor_for(hub, "dby.housing"))
    (asked,) = [r for r in queue.incoming if r.row.packet_id == sent.id]
    with pytest.raises(Forbidden, match="addressed to another agency"):
        await hub.requests.decline(police, asked.id, "Not ours")


async def test_decline_needs_a_reason_and_closes_once(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    housing = await actor_for(hub, "dby.housing")
    sent = await hub.packets.send(probation, await _request(hub, "DBY-HOUSING"))
    (asked,) = [
        r for r in (await hub.requests.queue(housing)).incoming if r.row.packet_id == sent.id
    ]
    request_id = asked.id
    with pytest.raises(InvalidInput, match="why"):
        await hub.requests.decline(housing, request_id, "   ")
    declined = await hub.requests.decline(housing, request_id, "We hold no tenancy for him.")
    assert declined.status == "declined"
    (status,) = [r for r in (await hub.requests.queue(probation)).outgoing if r.id == request_id]
    assert (status.row.status, status.row.decline_reason) == (
        "declined",
        "We hold no tenancy for him.",
    )
    with pytest.raises(Conflict):
        await hub.requests.decline(housing, request_id, "Again")


async def test_request_form_fields_are_required(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    with pytest.raises(InvalidInput) as err:
        await hub.packets.send(
            probation, await _request(hub, "DBY-HOUSING", who_needs_access="", due_on="soon")
        )
    fields = {e["field"] for e in err.value.errors}
    assert fields == {"who_needs_access", "due_on"}
    with pytest.raises(InvalidInput, match="past"):
        await hub.packets.send(probation, await _request(hub, "DBY-HOUSING", due_on="2026-11-01"))
