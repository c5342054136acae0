"""``/api/v1/transfers``: case transfers of the token's area, for its coordinators' systems.

Proposing and deciding are for a named coordinator (``On-Behalf-Of``): a token that names no
person proposes and decides nothing (``hub.services.transfers``).
"""

from __future__ import annotations

from datetime import date, datetime

from aiohttp import web
from pydantic import Field

from adapters.transfer.peer_messages import deliver_now
from hub.model.transfers import Transfer
from hub.services.tokens import Scope
from hub.services.transfers import Proposal
from hub.web.api.handlers import api_caller, json_response, path_id, read_body
from hub.web.api.models import ApiModel, Line, Text
from hub.web.api.spec import endpoint
from hub.web.keys import HUB

__all__ = ["routes"]

routes = web.RouteTableDef()
_ID = "{transfer_id:\\d{1,12}}"


class TransferOut(ApiModel):
    id: int
    case_id: int | None
    case_reference: str
    state: str
    state_label: str
    sending_area: str
    receiving_area: str
    peer: str | None
    # Between hubs: the step the peer hub has not yet been told of (proposal, decision,
    # cancellation), and its last answer; None once told.
    peer_owed: str | None = None
    peer_error: str | None = None
    reason: str
    proposed_date: date
    meeting_held_on: date | None
    decision_reasons: str | None
    decided_at: datetime | None
    new_lead_agency: str | None
    bundle_digest: str | None
    created_at: datetime
    completed_at: datetime | None


class TransferList(ApiModel):
    transfers: list[TransferOut]


# Reasons are text of several lines (``Text``); codes and names are single lines (``Line``).
class ProposalIn(ApiModel):
    case_id: int = Field(ge=1, le=2**31 - 1)
    reason: Text = Field(max_length=5000)
    proposed_date: date
    receiving_area: Line = Field(max_length=16)
    peer: Line | None = Field(default=None, max_length=64)
    receiving_jurisdiction: Line | None = Field(default=None, max_length=32)
    meeting_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class AcceptIn(ApiModel):
    reasons: Text = Field(max_length=5000)
    lead_agency: Line = Field(max_length=32)


class DeclineIn(ApiModel):
    reasons: Text = Field(max_length=5000)


async def _told(request: web.Request, t: Transfer) -> Transfer:
    """A step of a transfer between hubs: tell the peer now if it answers (the server's delivery
    job tells it otherwise); the answer shows whether it was told (``peer_owed``)."""
    if t.peer_name is None:
        return t
    hub = request.app[HUB]
    await deliver_now(hub, t.id)
    return await hub.transfers.transfer_by_id(t.id)


def transfer_out(t: Transfer) -> TransferOut:
    return TransferOut(
        id=t.id,
        case_id=t.case_id,
        case_reference=t.case_reference,
        state=t.state.value,
        state_label=t.state.label,
        sending_area=t.sending_area_code,
        receiving_area=t.receiving_area_code,
        peer=t.peer_name,
        peer_owed=t.peer_owed,
        peer_error=t.peer_error,
        reason=t.reason,
        proposed_date=t.proposed_date,
        meeting_held_on=t.meeting_held_on,
        decision_reasons=t.decision_reasons,
        decided_at=t.decided_at,
        new_lead_agency=t.new_lead_agency_code,
        bundle_digest=t.bundle_digest,
        created_at=t.created_at,
        completed_at=t.completed_at,
    )


@endpoint(
    "GET", "/api/v1/transfers",
    "Case transfers into and out of the token's area, newest first.",
    scope=Scope.TRANSFERS_READ, response=TransferList, table=routes,
)  # fmt: skip
async def list_transfers(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.TRANSFERS_READ)
    found = await request.app[HUB].transfers.for_area(caller.actor)
    allowed = caller.token.allows_case
    return json_response(
        TransferList(
            transfers=[transfer_out(t) for t in found if t.case_id is None or allowed(t.case_id)]
        )
    )


@endpoint(
    "POST", "/api/v1/transfers",
    "Propose a case's transfer to another area, for a named coordinator of the case's area; "
    "refused without a MAPPA meeting on the case in the window policies/transfer.toml sets.",
    scope=Scope.TRANSFERS_WRITE, body=ProposalIn, response=TransferOut, status=201,
    errors=(404, 409), table=routes,
)  # fmt: skip
async def propose_transfer(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.TRANSFERS_WRITE)
    body = await read_body(request, ProposalIn)
    caller.require_case(body.case_id)
    proposal = Proposal(
        case_id=body.case_id,
        reason=body.reason,
        proposed_date=body.proposed_date,
        receiving_area_code=body.receiving_area,
        peer_name=body.peer,
        receiving_jurisdiction=body.receiving_jurisdiction,
        meeting_id=body.meeting_id,
    )
    made = await _told(request, await request.app[HUB].transfers.propose(caller.actor, proposal))
    return json_response(transfer_out(made), status=201)


@endpoint(
    "GET", f"/api/v1/transfers/{_ID}",
    "One case transfer of the token's area.",
    scope=Scope.TRANSFERS_READ, response=TransferOut, errors=(404,), table=routes,
)  # fmt: skip
async def get_transfer(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.TRANSFERS_READ)
    found = await request.app[HUB].transfers.get(caller.actor, path_id(request, "transfer_id"))
    if found.case_id is not None:
        caller.require_case(found.case_id)
    return json_response(transfer_out(found))


@endpoint(
    "POST", f"/api/v1/transfers/{_ID}/accept",
    "Accept a transfer into the token's area with reasons, naming the new lead agency, for a "
    "named coordinator of the receiving area (never the proposer).",
    scope=Scope.TRANSFERS_WRITE, body=AcceptIn, response=TransferOut, errors=(404, 409),
    table=routes,
)  # fmt: skip
async def accept_transfer(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.TRANSFERS_WRITE)
    body = await read_body(request, AcceptIn)
    done = await request.app[HUB].transfers.accept(
        caller.actor, path_id(request, "transfer_id"), body.reasons, body.lead_agency
    )
    done = await _told(request, done)
    return json_response(transfer_out(done))


@endpoint(
    "POST", f"/api/v1/transfers/{_ID}/decline",
    "Decline a transfer into the token's area with reasons, for a named coordinator of the "
    "receiving area (never the proposer).",
    scope=Scope.TRANSFERS_WRITE, body=DeclineIn, response=TransferOut, errors=(404, 409),
    table=routes,
)  # fmt: skip
async def decline_transfer(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.TRANSFERS_WRITE)
    body = await read_body(request, DeclineIn)
    done = await request.app[HUB].transfers.decline(
        caller.actor, path_id(request, "transfer_id"), body.reasons
    )
    done = await _told(request, done)
    return json_response(transfer_out(done))
