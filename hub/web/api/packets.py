"""``/api/v1/packets``: send (idempotently), preview against policy, list the inbox and the sent
box, open a packet, fetch an attachment and a receipt."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, InvalidInput, NotFound
from hub.model.packets import AttachmentIn, Draft, PacketSummary, PacketType
from hub.services.directory import AgencyIndex
from hub.services.share_approvals import HeldSummary
from hub.services.share_preparation import KnownCase
from hub.services.tokens import ApiActor, Scope
from hub.store import cases as case_store
from hub.store.hot import HotRead
from hub.web.api import models as m
from hub.web.api.first_read import first_read_row, reads_first
from hub.web.api.handlers import (
    agency_codes,
    agency_index,
    api_caller,
    json_bytes_response,
    json_response,
    path_id,
    read_body,
)
from hub.web.api.held_share_models import HeldShareOut, held_share_out
from hub.web.api.spec import Param, endpoint
from hub.web.keys import HUB

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


def agency_ids(summaries: Iterable[PacketSummary]) -> set[int]:
    return {a for s in summaries for a in (s.sender_agency_id, *s.recipient_agency_ids)}


def packet_json(s: PacketSummary, codes: Mapping[int, str]) -> m.PacketJson:
    return {
        "id": s.id,
        # The member's own attribute: ``.value`` is a property, a hundred times a listing.
        "packet_type": s.packet_type._value_,
        "case_id": s.case_id,
        "case_reference": s.case_reference,
        "sender_agency": codes.get(s.sender_agency_id, "?"),
        "recipient_agencies": [codes.get(a, "?") for a in s.recipient_agency_ids],
        "purpose": s.purpose,
        "created_at": s.created_at,
        "subject": s.subject,
        "attachment_count": s.attachment_count,
        "reply_to": s.reply_to,
    }


def packet_out(s: PacketSummary, codes: Mapping[int, str]) -> m.PacketOut:
    return m.PacketOut(**packet_json(s, codes))


def _draft(body: m.SendIn, codes: Mapping[str, int]) -> Draft:
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


async def _case_of_send(request: web.Request) -> tuple[HotRead, dict[str, Any]]:
    """A send's first read: its case, made with the token's (``hub.web.api.first_read``)."""
    body = await read_body(request, m.SendIn)
    return case_store.CASE_WITH_AGENCIES, {"id": body.case_id}


def _known_case(request: web.Request, case_id: int) -> KnownCase | None:
    """The send's case as the gate read it with the token, if it did."""
    made, row = first_read_row(request, case_store.CASE_WITH_AGENCIES, {"id": case_id})
    return KnownCase(case_id, case_store.case_with_agencies_of(row)) if made else None


async def _send_body(request: web.Request, caller: ApiActor) -> tuple[m.SendIn, AgencyIndex]:
    """A send's body, for a case the token may act on, with the agencies' codes and ids."""
    body = await read_body(request, m.SendIn)
    caller.require_case(body.case_id)
    return body, await agency_index(request, body.recipient_agencies)


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
@reads_first(_case_of_send)
async def send_packet(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.PACKETS_SEND)
    body, agencies = await _send_body(request, caller)
    draft = _draft(body, agencies.ids)
    case = _known_case(request, body.case_id)
    key = request.headers.get("Idempotency-Key")
    codes = agencies.codes
    if key is None:
        sent = await hub.packets.send(caller.actor, draft, known_case=case)
        return await _sent(request, caller, sent, codes)
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
                replay = json_response(held_share_out(held), status=202)
            else:
                replay = json_response(
                    packet_out(await hub.packets.summary(caller.actor, earlier[1]), codes)
                )
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            sent = await hub.packets.send(
                caller.actor, draft, idempotency=(key, digest), known_case=case
            )
        except Conflict:
            continue  # a concurrent request with the same key won: answer with its packet
        return await _sent(request, caller, sent, codes)
    raise Conflict("This idempotency key is in use by a request still being processed.")


async def _sent(
    request: web.Request, caller: ApiActor, sent: PacketSummary, codes: Mapping[int, str]
) -> web.Response:
    """201 with the packet; 202 with the held share when the policy wants approval first."""
    if isinstance(sent, HeldSummary):
        held = await request.app[HUB].held_shares.for_packet(caller.actor, sent.id)
        if held is None:  # pragma: no cover - the proposer's agency always sees its own
            raise NotFound("No such share.")
        return json_response(held_share_out(held), status=202)
    return json_response(packet_out(sent, codes), status=201)


@endpoint(
    "POST", "/api/v1/packets/preview",
    "What the policy would decide for a packet, without sending or writing anything.",
    scope=Scope.PACKETS_SEND, body=m.SendIn, response=m.DecisionOut, errors=(404,),
)  # fmt: skip
async def preview_packet(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.PACKETS_SEND)
    body, agencies = await _send_body(request, caller)
    decision = await hub.packets.preview(caller.actor, _draft(body, agencies.ids))
    return json_response(
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
    caller = api_caller(request, Scope.PACKETS_READ)
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
    codes = await agency_codes(request, agency_ids(rows))
    listed = [packet_json(r, codes) for r in rows if caller.token.allows_case(r.case_id)]
    return json_bytes_response(m.packet_list_json(listed))


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
    caller = api_caller(request, Scope.PACKETS_READ)
    opened = await hub.packets.open(
        caller.actor,
        request.match_info["packet_id"],
        check_case=caller.require_case,
        hide_unsent=True,
    )
    h = opened.header
    return json_response(
        m.OpenedPacketOut(
            packet=packet_out(
                opened.summary, await agency_codes(request, agency_ids([opened.summary]))
            ),
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
    caller = api_caller(request, Scope.PACKETS_READ)
    att = await hub.packets.attachment(
        caller.actor,
        request.match_info["packet_id"],
        path_id(request, "index"),
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
    caller = api_caller(request, Scope.PACKETS_READ)
    receipt = await hub.ledger.receipt(caller.actor, await _visible_packet(request, caller))
    return web.Response(body=receipt.to_bytes(), content_type="application/json")
