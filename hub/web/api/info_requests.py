"""``/api/v1/requests``: requests for information addressed to the agency, and declining one."""

from __future__ import annotations

from aiohttp import web

from hub.services.requests import RequestView
from hub.services.tokens import Scope
from hub.web.api import models as m
from hub.web.api.handlers import api_caller, json_response, path_id, read_body
from hub.web.api.spec import endpoint
from hub.web.keys import HUB


def _request(v: RequestView) -> m.RequestOut:
    r = v.row
    return m.RequestOut(
        id=r.id,
        packet_id=r.packet_id,
        case_id=r.case_id,
        case_reference=v.case_reference,
        requester_agency=v.requester_agency,
        target_agency=v.target_agency,
        due_on=r.due_on,
        status=r.status,
        overdue=v.overdue,
        response_packet_id=r.response_packet_id,
        decline_reason=r.decline_reason,
    )


@endpoint(
    "GET", "/api/v1/requests",
    "Requests for information asked of the token's agency, and those it asked.",
    scope=Scope.PACKETS_READ, response=m.RequestQueueOut,
)  # fmt: skip
async def list_requests(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.PACKETS_READ)
    queue = await request.app[HUB].requests.queue(caller.actor)
    allowed = caller.token.allows_case
    return json_response(
        m.RequestQueueOut(
            incoming=[_request(v) for v in queue.incoming if allowed(v.row.case_id)],
            outgoing=[_request(v) for v in queue.outgoing if allowed(v.row.case_id)],
        )
    )


@endpoint(
    "POST", "/api/v1/requests/{request_id:\\d{1,12}}/decline",
    "Decline a request asked of the token's agency, with the reason the requester sees. "
    "Answer one by sending a `response` packet whose `reply_to` names the request's packet.",
    scope=Scope.REQUESTS_ANSWER, body=m.DeclineIn, response=m.RequestOut, errors=(404, 409),
)  # fmt: skip
async def decline_request(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.REQUESTS_ANSWER)
    body = await read_body(request, m.DeclineIn)
    row = await hub.requests.get(caller.actor, path_id(request, "request_id"))
    caller.require_case(row.case_id)
    await hub.requests.decline(caller.actor, row.id, body.reason)
    queue = await hub.requests.queue(caller.actor)
    (view,) = [v for v in queue.incoming if v.row.id == row.id]
    return json_response(_request(view))
