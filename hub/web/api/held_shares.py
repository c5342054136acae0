"""``/api/v1/shares``: shares the policy sent for approval, for the sender's system and for the
approvers' (a send that needs approval answers 202 with one of these: ``hub.web.api.packets``).

Deciding through an agency system is for a named person (``On-Behalf-Of``) holding a role the
share's approvals name, and only when the policy allows delegated decisions at all.
"""

from __future__ import annotations

from aiohttp import web

from hub.services.tokens import Scope
from hub.web.api.handlers import api_caller, json_response, path_id, read_body
from hub.web.api.held_share_models import (
    HeldContentOut,
    HeldShareList,
    HeldShareOut,
    ShareDecisionIn,
    held_content_out,
    held_share_out,
)
from hub.web.api.spec import endpoint
from hub.web.keys import HUB

__all__ = ["routes"]

routes = web.RouteTableDef()
_ID = "{share_id:\\d{1,12}}"


@endpoint(
    "GET", "/api/v1/shares",
    "Shares held for approval: those awaiting an approval the caller's role gives in its area, "
    "and those its agency proposed (a send the policy answers REVIEW).",
    scope=Scope.PACKETS_READ, response=HeldShareList, table=routes,
)  # fmt: skip
async def list_shares(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.PACKETS_READ)
    allowed = caller.token.allows_case
    waiting = await hub.held_shares.queue(caller.actor)
    ours = await hub.held_shares.proposed(caller.actor)
    return json_response(
        HeldShareList(
            awaiting_decision=[held_share_out(v) for v in waiting if allowed(v.row.case_id)],
            proposed=[held_share_out(v) for v in ours if allowed(v.row.case_id)],
        )
    )


@endpoint(
    "GET", f"/api/v1/shares/{_ID}",
    "One held share: its signed header and policy decision, the approvals wanted, the decisions "
    "with their reasons.",
    scope=Scope.PACKETS_READ, response=HeldShareOut, errors=(404, 409), table=routes,
)  # fmt: skip
async def get_share(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.PACKETS_READ)
    view = await request.app[HUB].held_shares.get(caller.actor, path_id(request, "share_id"))
    caller.require_case(view.row.case_id)
    return json_response(held_share_out(view))


@endpoint(
    "GET", f"/api/v1/shares/{_ID}/content",
    "What a held share would send, for an approver while it awaits approval or for the sender's "
    "agency: decrypted by the hub, and logged as a consultation.",
    scope=Scope.PACKETS_READ, response=HeldContentOut, errors=(404, 409, 410), table=routes,
)  # fmt: skip
async def get_share_content(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.PACKETS_READ)
    share_id = path_id(request, "share_id")
    caller.require_case((await hub.held_shares.get(caller.actor, share_id)).row.case_id)
    view, content = await hub.held_shares.open(caller.actor, share_id)
    return json_response(held_content_out(view, content))


@endpoint(
    "GET", f"/api/v1/shares/{_ID}/attachments/{{index:\\d{{1,3}}}}",
    "One attachment of a held share (logged as a consultation).",
    scope=Scope.PACKETS_READ, errors=(404, 409, 410), raw_response="application/octet-stream",
    table=routes,
)  # fmt: skip
async def get_share_attachment(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.PACKETS_READ)
    share_id = path_id(request, "share_id")
    caller.require_case((await hub.held_shares.get(caller.actor, share_id)).row.case_id)
    att = await hub.held_shares.attachment(caller.actor, share_id, path_id(request, "index"))
    return web.Response(body=att.data, content_type="application/octet-stream")


@endpoint(
    "POST", f"/api/v1/shares/{_ID}/decisions",
    "Approve or refuse a held share with reasons, for a named person holding a role its "
    "approvals name (never the proposer; only where the policy allows delegated decisions). "
    "The last approval sends it.",
    scope=Scope.DISCLOSURES_DECIDE, body=ShareDecisionIn, response=HeldShareOut,
    errors=(404, 409), table=routes,
)  # fmt: skip
async def decide_share(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.DISCLOSURES_DECIDE)
    body = await read_body(request, ShareDecisionIn)
    share_id = path_id(request, "share_id")
    caller.require_case((await hub.held_shares.get(caller.actor, share_id)).row.case_id)
    view = await hub.share_approvals.decide(caller.actor, share_id, body.decision, body.reasons)
    return json_response(held_share_out(view))
