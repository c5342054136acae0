"""``/api/v1/disclosures``: third-party disclosures: the register, one record, a decision, and
recording one as made."""

from __future__ import annotations

from aiohttp import web

from hub.errors import InvalidInput
from hub.services.disclosures import DisclosureView
from hub.services.tokens import Scope
from hub.web.api import models as m
from hub.web.api.handlers import MAX_ID, api_caller, json_response, path_id, read_body
from hub.web.api.spec import Param, endpoint
from hub.web.keys import HUB


def _disclosure(v: DisclosureView) -> m.DisclosureOut:
    r = v.row
    return m.DisclosureOut(
        id=r.id,
        case_id=r.case_id,
        case_reference=v.case_reference,
        proposal_packet_id=r.proposal_packet_id,
        proposer=v.proposer,
        proposer_agency=v.proposer_agency,
        recipient_kind=r.recipient_kind,
        method=r.method,
        offender_to_be_told=r.offender_to_be_told,
        status=r.status,
        approvals_needed=r.approvals_needed,
        outstanding=v.outstanding,
        decisions=[
            m.DisclosureDecisionOut(
                approver=v.decided_by[d.approver_user_id],
                role=d.role,
                decision=d.decision,
                reasons=d.reasons,
                conditions=d.conditions,
                decided_at=d.decided_at,
            )
            for d in v.decisions
        ],
        created_at=r.created_at,
        delivered_at=r.delivered_at,
    )


_CASE_FILTER = Param(
    "case_id", "query", "One case's register (otherwise the area's, for coordinators).",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
)  # fmt: skip


@endpoint(
    "GET", "/api/v1/disclosures",
    "The third-party disclosure register: one case's, or the area's for a coordinator's system. "
    "Propose one by sending a `disclosure-proposal` packet.",
    scope=Scope.DISCLOSURES_READ, response=m.DisclosureList, errors=(400, 404),
    params=(_CASE_FILTER,),
)  # fmt: skip
async def list_disclosures(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.DISCLOSURES_READ)
    case_id: int | None = None
    if "case_id" in request.query:
        text = request.query["case_id"]
        if not (text.isascii() and text.isdigit() and len(text) <= 12 and int(text) <= MAX_ID):
            raise InvalidInput("case_id is a case number.", field="case_id")
        case_id = int(text)
        caller.require_case(case_id)
    views = await request.app[HUB].disclosures.register(caller.actor, case_id=case_id)
    return json_response(
        m.DisclosureList(
            disclosures=[_disclosure(v) for v in views if caller.token.allows_case(v.row.case_id)]
        )
    )


@endpoint(
    "GET", "/api/v1/disclosures/{disclosure_id:\\d{1,12}}", "One disclosure's record.",
    scope=Scope.DISCLOSURES_READ, response=m.DisclosureOut, errors=(404,),
)  # fmt: skip
async def get_disclosure(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.DISCLOSURES_READ)
    view = await request.app[HUB].disclosures.get(caller.actor, path_id(request, "disclosure_id"))
    caller.require_case(view.row.case_id)
    return json_response(_disclosure(view))


@endpoint(
    "POST", "/api/v1/disclosures/{disclosure_id:\\d{1,12}}/decisions",
    "Approve or refuse a proposed disclosure with reasons (a coordinator's system; never the "
    "proposer).",
    scope=Scope.DISCLOSURES_DECIDE, body=m.DisclosureDecisionIn, response=m.DisclosureOut,
    errors=(404, 409),
)  # fmt: skip
async def decide_disclosure(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.DISCLOSURES_DECIDE)
    body = await read_body(request, m.DisclosureDecisionIn)
    disclosure_id = path_id(request, "disclosure_id")
    current = await hub.disclosures.get(caller.actor, disclosure_id)
    caller.require_case(current.row.case_id)
    view = await hub.disclosures.decide(
        caller.actor, disclosure_id, body.decision, body.reasons, body.conditions
    )
    return json_response(_disclosure(view))


@endpoint(
    "POST", "/api/v1/disclosures/{disclosure_id:\\d{1,12}}/delivery",
    "Record an approved disclosure as made (a disclosure entry on the log).",
    scope=Scope.PACKETS_SEND, response=m.DisclosureOut, errors=(404, 409),
)  # fmt: skip
async def deliver_disclosure(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.PACKETS_SEND)
    disclosure_id = path_id(request, "disclosure_id")
    current = await hub.disclosures.get(caller.actor, disclosure_id)
    caller.require_case(current.row.case_id)
    return json_response(_disclosure(await hub.disclosures.deliver(caller.actor, disclosure_id)))
