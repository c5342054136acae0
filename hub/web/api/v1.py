"""``/api/v1``: what the inbox does, for agency systems holding a bearer token.

Handlers only translate: JSON in and out, the token's scope and case limits checked first; every
rule is the services' (the same ones the inbox calls), and so is every log entry.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.crypto.canonical import DuplicateMember, NotCanonical, loads_unique
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, InvalidInput, NotFound
from hub.model.packets import AttachmentIn, Draft, PacketSummary, PacketType
from hub.services.disclosures import DisclosureView
from hub.services.requests import RequestView
from hub.services.share_approvals import HeldSummary
from hub.services.tokens import ApiActor, Scope
from hub.web.api import models as m
from hub.web.api.held_share_models import HeldShareOut, held_share_out
from hub.web.api.spec import Param, document, endpoint, routes
from hub.web.keys import API_CALLER, HUB

__all__ = ["routes"]

M = TypeVar("M", bound=BaseModel)
_IDEMPOTENCY = Param(
    "Idempotency-Key",
    "header",
    "Retrying a send with the same key returns the first packet instead of sending twice.",
    {"type": "string", "minLength": 1, "maxLength": 200},
)
_BEFORE = Param(
    "before",
    "query",
    "List packets older than this time (ISO 8601), for paging.",
    {"type": "string", "format": "date-time"},
)


def _caller(request: web.Request, scope: Scope) -> ApiActor:
    caller = request[API_CALLER]
    caller.require(scope)
    return caller


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


class UnsupportedMediaType(InvalidInput):
    status = 415
    code = "unsupported_media_type"


async def _body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "Send a JSON body with Content-Type: application/json.", field="body"
        )
    raw = await request.read()
    try:
        # Parsers differ on a member named twice (first, last, or an error): refuse it. Other
        # faults (not JSON at all) are left for the model's own message below.
        loads_unique(raw)
    except DuplicateMember as exc:
        raise InvalidInput(f"The request body is not valid: {exc}.", field="body") from None
    except NotCanonical:
        pass
    try:
        # Strict: 1 is not "1", 1.0 or true, and a string is not a number (hub.web.api.models).
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        raise InvalidInput(
            "The request body is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10]),
            field=errors[0]["field"] if errors else "body",
            errors=errors,
        ) from None


# Ids are 32-bit in the store: a larger number names nothing (PostgreSQL would refuse the query).
_MAX_ID = 2**31 - 1


def _int(request: web.Request, name: str) -> int:
    value = int(request.match_info[name])
    if value > _MAX_ID:
        raise NotFound(f"No {name.removesuffix('_id')} {value}.")
    return value


async def _codes(request: web.Request, wanted: Iterable[int | str] = ()) -> dict[int, str]:
    """Agency ids to codes, from the directory's short-lived list; read afresh if any of
    ``wanted`` (ids or codes) is missing from it (an agency added a moment ago)."""
    directory = request.app[HUB].directory
    codes = {a.id: a.code for a in await directory.agencies()}
    known = set(codes) | set(codes.values())
    if any(w not in known for w in wanted):
        codes = {a.id: a.code for a in await directory.agencies(refresh=True)}
    return codes


def _agency_ids(summaries: Iterable[PacketSummary]) -> set[int]:
    return {a for s in summaries for a in (s.sender_agency_id, *s.recipient_agency_ids)}


def _packet(s: PacketSummary, codes: dict[int, str]) -> m.PacketOut:
    return m.PacketOut(
        id=s.id,
        packet_type=s.packet_type.value,
        case_id=s.case_id,
        case_reference=s.case_reference,
        sender_agency=codes.get(s.sender_agency_id, "?"),
        recipient_agencies=[codes.get(a, "?") for a in s.recipient_agency_ids],
        purpose=s.purpose,
        created_at=s.created_at,
        subject=s.subject,
        attachment_count=s.attachment_count,
        reply_to=s.reply_to,
    )


# -- the description ------------------------------------------------------------------------


@endpoint("GET", "/api/v1/openapi.json", "This API's OpenAPI 3.1 description.", scope=None)
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(document())


# -- cases ----------------------------------------------------------------------------------


def _case(c: Any) -> m.CaseOut:
    return m.CaseOut(
        id=c.id,
        reference=c.reference,
        family_name=c.family_name,
        given_names=c.given_names,
        date_of_birth=c.date_of_birth,
        category=int(c.category),
        level=int(c.level),
        lead_agency_id=c.lead_agency_id,
        area_id=c.area_id,
    )


@endpoint(
    "GET", "/api/v1/cases", "Cases of the agency's area this token may act on.",
    scope=Scope.CASES_READ, response=m.CaseList,
)  # fmt: skip
async def list_cases(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, Scope.CASES_READ)
    # As the inbox's list: a case whose file is closed to the agency, without its date of birth.
    cases = await request.app[HUB].cases.listed(caller.actor)
    return _json(
        m.CaseList(
            cases=[
                _case(c)
                for c in cases
                if c.merged_into_id is None and caller.token.allows_case(c.id)
            ]
        )
    )


@endpoint(
    "GET", "/api/v1/cases/{case_id:\\d{1,12}}",
    "One case, if its file opens to the agency (active on it, or the area's coordinator).",
    scope=Scope.CASES_READ, response=m.CaseOut, errors=(404,),
)  # fmt: skip
async def get_case(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, Scope.CASES_READ)
    case_id = _int(request, "case_id")
    caller.require_case(case_id)
    # As the case page: the record opens to the agencies active on the case and the area's
    # coordinators (403 in the area; 404 elsewhere, as for a case that does not exist).
    return _json(_case(await request.app[HUB].cases.record(caller.actor, case_id)))


# -- packets --------------------------------------------------------------------------------


def _draft(body: m.SendIn, codes: dict[str, int]) -> Draft:
    unknown = [c for c in body.recipient_agencies if c not in codes]
    if unknown:
        raise InvalidInput(
            f"Unknown recipient agencies: {', '.join(unknown)}.",
            field="recipient_agencies",
            code="unknown_agency",
        )
    attachments = []
    for i, a in enumerate(body.attachments):
        try:
            data = base64.b64decode(a.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "Attachment data is not base64.", field=f"attachments.{i}.data_base64"
            ) from None
        attachments.append(AttachmentIn(a.filename, a.content_type, data))
    return Draft(
        case_id=body.case_id,
        recipient_agency_ids=tuple(codes[c] for c in body.recipient_agencies),
        subject=body.subject,
        body=body.body,
        purpose=body.purpose,
        lawful_basis=body.lawful_basis,
        packet_type=PacketType(body.packet_type),
        data_categories=tuple(dict.fromkeys(body.data_categories)),
        necessity=dict(body.necessity),
        schedule1_condition=body.schedule1_condition,
        restricted_reason=body.restricted_reason,
        attachments=tuple(attachments),
        form=body.form,
        reply_to=body.reply_to,
    )


def _request_digest(body: BaseModel) -> str:
    """What identifies a request under an idempotency key. Not canonical_json: that refuses the
    floats a (still unchecked) form may hold, and this is a fingerprint, never signed."""
    text = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return sha256_hex(text.encode("ascii"))


@endpoint(
    "POST", "/api/v1/packets",
    "Seal and send a packet (a note, a request or its response, a referral, minutes, a "
    "risk-change notice, a disclosure proposal), decided by the policy first.",
    scope=Scope.PACKETS_SEND, body=m.SendIn, response=m.PacketOut, status=201,
    errors=(404, 409), params=(_IDEMPOTENCY,),
    also=((200, "Already sent with this Idempotency-Key: the first packet (Idempotent-Replayed)."),),
    other=((202, "The policy answered REVIEW: the share is sealed and held until the approvers "
            "it names agree (GET /api/v1/shares/{id}); a replay under the same Idempotency-Key "
            "answers the same while it is held.", HeldShareOut),),
)  # fmt: skip
async def send_packet(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_SEND)
    body = await _body(request, m.SendIn)
    caller.require_case(body.case_id)
    by_code = {code: i for i, code in (await _codes(request, body.recipient_agencies)).items()}
    draft = _draft(body, by_code)
    key = request.headers.get("Idempotency-Key")
    codes = {i: c for c, i in by_code.items()}
    if key is None:
        return await _sent(request, caller, await hub.packets.send(caller.actor, draft), codes)
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise InvalidInput(
            "An idempotency key is 1-200 printable characters.", field="Idempotency-Key"
        )
    digest = _request_digest(body)
    for _ in range(2):
        earlier = await hub.packets.idempotent(caller.actor, key)
        if earlier is not None:
            if earlier[0] != digest:
                raise Conflict("This idempotency key was used for a different request.")
            held = await hub.held_shares.for_packet(caller.actor, earlier[1])
            if held is not None and held.row.status != "released":
                replay = _json(held_share_out(held), status=202)
            else:
                replay = _json(_packet(await hub.packets.summary(caller.actor, earlier[1]), codes))
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            sent = await hub.packets.send(caller.actor, draft, idempotency=(key, digest))
        except Conflict:
            continue  # a concurrent request with the same key won: answer with its packet
        return await _sent(request, caller, sent, codes)
    raise Conflict("This idempotency key is in use by a request still being processed.")


async def _sent(
    request: web.Request, caller: ApiActor, sent: PacketSummary, codes: dict[int, str]
) -> web.Response:
    """201 with the packet; 202 with the held share when the policy wants approval first."""
    if isinstance(sent, HeldSummary):
        held = await request.app[HUB].held_shares.for_packet(caller.actor, sent.id)
        if held is None:  # pragma: no cover - the proposer's agency always sees its own
            raise NotFound("No such share.")
        return _json(held_share_out(held), status=202)
    return _json(_packet(sent, codes), status=201)


@endpoint(
    "POST", "/api/v1/packets/preview",
    "What the policy would decide for a packet, without sending or writing anything.",
    scope=Scope.PACKETS_SEND, body=m.SendIn, response=m.DecisionOut, errors=(404,),
)  # fmt: skip
async def preview_packet(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_SEND)
    body = await _body(request, m.SendIn)
    caller.require_case(body.case_id)
    by_code = {code: i for i, code in (await _codes(request, body.recipient_agencies)).items()}
    decision = await hub.packets.preview(caller.actor, _draft(body, by_code))
    return _json(
        m.DecisionOut(
            outcome=decision.outcome.value,
            message=decision.message(),
            record=decision.record(),
            failed=[{"test": t.test.value, "reasons": list(t.reasons)} for t in decision.failed],
        )
    )


@endpoint(
    "GET", "/api/v1/inbox", "Packets sent to the token's agency, newest first.",
    scope=Scope.PACKETS_READ, response=m.PacketList, errors=(400,), params=(_BEFORE,),
)  # fmt: skip
async def inbox(request: web.Request) -> web.StreamResponse:
    return await _listing(request, "inbox")


@endpoint(
    "GET", "/api/v1/outbox", "Packets the token's agency sent, newest first.",
    scope=Scope.PACKETS_READ, response=m.PacketList, errors=(400,), params=(_BEFORE,),
)  # fmt: skip
async def outbox(request: web.Request) -> web.StreamResponse:
    return await _listing(request, "outbox")


async def _listing(request: web.Request, box: str) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_READ)
    before = None
    if "before" in request.query:
        try:
            before = datetime.fromisoformat(request.query["before"])
        except ValueError:
            raise InvalidInput("'before' is an ISO 8601 time.", field="before") from None
        if before.tzinfo is None:
            raise InvalidInput("'before' needs a time zone (e.g. Z).", field="before")
    lister = hub.packets.inbox if box == "inbox" else hub.packets.outbox
    rows = await lister(caller.actor, 100, before)
    codes = await _codes(request, _agency_ids(rows))
    return _json(
        m.PacketList(
            packets=[_packet(r, codes) for r in rows if caller.token.allows_case(r.case_id)]
        )
    )


async def _visible_packet(request: web.Request, caller: ApiActor) -> str:
    packet_id = request.match_info["packet_id"]
    summary = await request.app[HUB].packets.summary(caller.actor, packet_id)
    caller.require_case(summary.case_id)
    return packet_id


_PACKET_ID = "{packet_id:[0-9a-f-]{36}}"


@endpoint(
    "GET", f"/api/v1/packets/{_PACKET_ID}",
    "Open a packet: decrypted for the token's agency, and logged as a consultation.",
    scope=Scope.PACKETS_READ, response=m.OpenedPacketOut, errors=(404, 409, 410),
)  # fmt: skip
async def open_packet(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_READ)
    opened = await hub.packets.open(
        caller.actor,
        request.match_info["packet_id"],
        check_case=caller.require_case,
        hide_unsent=True,
    )
    h = opened.header
    return _json(
        m.OpenedPacketOut(
            packet=_packet(opened.summary, await _codes(request, _agency_ids([opened.summary]))),
            header={
                "packet_id": h.packet_id,
                "type": h.packet_type.value,
                "case": h.case_reference,
                "sender_user": h.sender_user,
                "sender_agency": h.sender_agency,
                "recipients": list(h.recipients),
                "purpose": h.purpose,
                "lawful_basis": h.lawful_basis,
                "data_categories": list(h.data_categories),
                "classification": h.classification.value,
                "created_at": h.created_at.isoformat(),
                "policy": dict(h.policy),
                "form": h.form_schema,
                "reply_to": h.reply_to,
            },
            body=opened.body,
            necessity=dict(opened.necessity),
            form=dict(opened.form) if opened.form is not None else None,
            attachments=[
                m.AttachmentOut(
                    index=a.index, filename=a.filename, content_type=a.content_type, size=a.size
                )
                for a in opened.attachments
            ],
        )
    )


@endpoint(
    "GET", f"/api/v1/packets/{_PACKET_ID}/attachments/{{index:\\d{{1,3}}}}",
    "One attachment's bytes (logged as a consultation).",
    scope=Scope.PACKETS_READ, errors=(404, 409, 410), raw_response="application/octet-stream",
)  # fmt: skip
async def get_attachment(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_READ)
    att = await hub.packets.attachment(
        caller.actor,
        request.match_info["packet_id"],
        _int(request, "index"),
        check_case=caller.require_case,
        hide_unsent=True,
    )
    return web.Response(body=att.data, content_type="application/octet-stream")


@endpoint(
    "GET", f"/api/v1/packets/{_PACKET_ID}/receipt",
    "The sender's receipt: the log entry, a signed checkpoint and the inclusion proof.",
    scope=Scope.PACKETS_READ, response=m.ReceiptOut, errors=(404,),
)  # fmt: skip
async def get_receipt(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_READ)
    receipt = await hub.ledger.receipt(caller.actor, await _visible_packet(request, caller))
    return web.Response(body=receipt.to_bytes(), content_type="application/json")


# -- requests for information ---------------------------------------------------------------


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
    caller = _caller(request, Scope.PACKETS_READ)
    queue = await request.app[HUB].requests.queue(caller.actor)
    allowed = caller.token.allows_case
    return _json(
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
    caller = _caller(request, Scope.REQUESTS_ANSWER)
    body = await _body(request, m.DeclineIn)
    row = await hub.requests.get(caller.actor, _int(request, "request_id"))
    caller.require_case(row.case_id)
    await hub.requests.decline(caller.actor, row.id, body.reason)
    queue = await hub.requests.queue(caller.actor)
    (view,) = [v for v in queue.incoming if v.row.id == row.id]
    return _json(_request(view))


# -- third-party disclosures ----------------------------------------------------------------


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
    {"type": "integer", "minimum": 1, "maximum": _MAX_ID},
)  # fmt: skip


@endpoint(
    "GET", "/api/v1/disclosures",
    "The third-party disclosure register: one case's, or the area's for a coordinator's system. "
    "Propose one by sending a `disclosure-proposal` packet.",
    scope=Scope.DISCLOSURES_READ, response=m.DisclosureList, errors=(400, 404),
    params=(_CASE_FILTER,),
)  # fmt: skip
async def list_disclosures(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, Scope.DISCLOSURES_READ)
    case_id: int | None = None
    if "case_id" in request.query:
        text = request.query["case_id"]
        if not (text.isascii() and text.isdigit() and len(text) <= 12 and int(text) <= _MAX_ID):
            raise InvalidInput("case_id is a case number.", field="case_id")
        case_id = int(text)
        caller.require_case(case_id)
    views = await request.app[HUB].disclosures.register(caller.actor, case_id=case_id)
    return _json(
        m.DisclosureList(
            disclosures=[_disclosure(v) for v in views if caller.token.allows_case(v.row.case_id)]
        )
    )


@endpoint(
    "GET", "/api/v1/disclosures/{disclosure_id:\\d{1,12}}", "One disclosure's record.",
    scope=Scope.DISCLOSURES_READ, response=m.DisclosureOut, errors=(404,),
)  # fmt: skip
async def get_disclosure(request: web.Request) -> web.StreamResponse:
    caller = _caller(request, Scope.DISCLOSURES_READ)
    view = await request.app[HUB].disclosures.get(caller.actor, _int(request, "disclosure_id"))
    caller.require_case(view.row.case_id)
    return _json(_disclosure(view))


@endpoint(
    "POST", "/api/v1/disclosures/{disclosure_id:\\d{1,12}}/decisions",
    "Approve or refuse a proposed disclosure with reasons (a coordinator's system; never the "
    "proposer).",
    scope=Scope.DISCLOSURES_DECIDE, body=m.DisclosureDecisionIn, response=m.DisclosureOut,
    errors=(404, 409),
)  # fmt: skip
async def decide_disclosure(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.DISCLOSURES_DECIDE)
    body = await _body(request, m.DisclosureDecisionIn)
    disclosure_id = _int(request, "disclosure_id")
    current = await hub.disclosures.get(caller.actor, disclosure_id)
    caller.require_case(current.row.case_id)
    view = await hub.disclosures.decide(
        caller.actor, disclosure_id, body.decision, body.reasons, body.conditions
    )
    return _json(_disclosure(view))


@endpoint(
    "POST", "/api/v1/disclosures/{disclosure_id:\\d{1,12}}/delivery",
    "Record an approved disclosure as made (a disclosure entry on the log).",
    scope=Scope.PACKETS_SEND, response=m.DisclosureOut, errors=(404, 409),
)  # fmt: skip
async def deliver_disclosure(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = _caller(request, Scope.PACKETS_SEND)
    disclosure_id = _int(request, "disclosure_id")
    current = await hub.disclosures.get(caller.actor, disclosure_id)
    caller.require_case(current.row.case_id)
    return _json(_disclosure(await hub.disclosures.deliver(caller.actor, disclosure_id)))
