"""A peer hub's steps in a transfer between hubs, as signed calls:

- ``POST /transfer-proposals``: the sending hub proposes a transfer into an area of this hub;
  answered with the transfer's id here, which the sender keeps;
- ``POST /transfer-decisions``: the receiving hub's coordinator accepted or declined a transfer
  this hub proposed;
- ``POST /transfer-cancellations``: the sending hub withdrew a transfer before sending it.

The peer is the one whose pinned key signed the call (``signed.FederationRoutes``), and every
transfer is looked up as that peer's: a peer reaches no other peer's transfers. Each message is
idempotent, since a sender whose answer was lost sends it again.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.errors import InvalidInput
from hub.model.transfers import Transfer
from hub.services.transfers import PeerDecision, PeerProposal
from hub.web.federation.signed import CALL, FederationRoutes
from hub.web.keys import HUB

routes = FederationRoutes()
MAX_MESSAGE_BYTES = 64 * 1024


async def _body(request: web.Request) -> Any:
    raw = await request.read()  # already read and digest-checked by the signed wrapper
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"A transfer message is at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInput("The body is not JSON.") from None


def _answer(transfer: Transfer) -> web.Response:
    return web.json_response({"transfer": transfer.id, "state": transfer.state.value})


@routes.post("/transfer-proposals")
async def proposal(request: web.Request) -> web.StreamResponse:
    proposed = PeerProposal.from_json(await _body(request))
    peer = request[CALL].peer
    return _answer(await request.app[HUB].transfers.record_peer_proposal(peer.name, proposed))


@routes.post("/transfer-decisions")
async def decision(request: web.Request) -> web.StreamResponse:
    decided = PeerDecision.from_json(await _body(request))
    done = await request.app[HUB].transfers.record_peer_decision(
        decided.sending_transfer_id,
        peer_name=request[CALL].peer.name,
        accepted=decided.accepted,
        reasons=decided.reasons,
        decided_by=decided.decided_by,
        new_lead_agency_code=decided.new_lead_agency_code,
        receiving_transfer_id=decided.receiving_transfer_id,
    )
    return _answer(done)


@routes.post("/transfer-cancellations")
async def cancellation(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    transfer_id = body.get("transfer") if isinstance(body, dict) else None
    if type(transfer_id) is not int:
        raise InvalidInput("'transfer' must be an int.", field="transfer")
    peer = request[CALL].peer
    return _answer(
        await request.app[HUB].transfers.record_peer_cancellation(peer.name, transfer_id)
    )
