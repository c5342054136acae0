"""Composing a packet: a note, or a typed packet whose form follows its schema.

``/compose?type=referral&case=3`` opens the referral form for case 3; ``type=response&reply_to=ID``
answers a request. A refused form comes back with everything typed and each problem at its field.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.errors import Conflict, Forbidden, HubError, InvalidInput, NotFound, TooLarge
from hub.model.directory import AgencyKind
from hub.model.packets import AttachmentIn, Draft, PacketType
from hub.policy.errors import PolicyRefused
from hub.policy.model import Decision
from hub.services.share_approvals import HeldSummary
from hub.web import formfields
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.workflows.forms import FORMS

routes = web.RouteTableDef()

NECESSITY_PARTS = ("why", "who", "use")
_KEPT_FIELDS = (
    "case", "subject", "body", "purpose", "lawful_basis", "schedule1_condition",
    "restricted_reason", "reply_to", *(f"necessity_{p}" for p in NECESSITY_PARTS),
)  # fmt: skip
# The types a person composes here (case transfer has its own workflow).
COMPOSABLE = (
    PacketType.NOTE,
    PacketType.REQUEST,
    PacketType.REFERRAL,
    PacketType.MINUTES,
    PacketType.RISK_CHANGE,
    PacketType.DISCLOSURE_PROPOSAL,
    PacketType.RESPONSE,
)
_TYPE_LABELS = {
    PacketType.NOTE: "Note",
    PacketType.REQUEST: "Request for information",
    PacketType.RESPONSE: "Response to a request",
    PacketType.REFERRAL: "Referral (MAPPA A)",
    PacketType.MINUTES: "Minutes (MAPPA B)",
    PacketType.RISK_CHANGE: "Risk-change notice",
    PacketType.DISCLOSURE_PROPOSAL: "Third-party disclosure proposal",
}


def _packet_type(value: str | None) -> PacketType:
    try:
        kind = PacketType(value or PacketType.NOTE.value)
    except ValueError:
        raise InvalidInput("Unknown packet type.", field="packet_type") from None
    if kind not in COMPOSABLE:
        raise InvalidInput("That packet type is not composed here.", field="packet_type")
    return kind


async def _context(request: web.Request, kind: PacketType) -> dict[str, Any]:
    hub = request.app[HUB]
    actor = request[ACTOR]
    hub.packets.require_sender(actor)
    every = await hub.directory.agencies()
    agencies = [
        a for a in every if a.id != actor.agency.id and a.kind is not AgencyKind.THIRD_PARTY
    ]
    every_area = await hub.directory.areas()
    areas = {a.id: a.name for a in every_area}
    policy = hub.policy.current
    # Offer only what the sender can rely on: the gateways that are law in its jurisdiction and
    # that its kind of agency may use, and the confidence statement only where confidence is owed.
    jurisdiction = next(
        (a.jurisdiction.value for a in every_area if a.id == actor.agency.area_id), ""
    )
    sender_type, sender_kind = actor.agency.type.value, actor.agency.kind.value
    bases = {
        k: b
        for k, b in policy.lawful_bases.items()
        if jurisdiction in b.jurisdictions and b.relied_on(sender_type, sender_kind)
    }
    confidence = policy.data_protection
    parts = {
        k: v
        for k, v in policy.necessity_parts.items()
        if k != confidence.confidence_part or sender_type in confidence.confidence_owed_by
    }
    return {
        "kind": kind,
        "kinds": [(k, _TYPE_LABELS[k]) for k in COMPOSABLE if k is not PacketType.RESPONSE],
        "kind_label": _TYPE_LABELS[kind],
        "cases": await hub.cases.visible_to(actor),
        "agencies": agencies,
        "agency_options": [
            (a.code, f"{a.name} ({a.code})") for a in every if a.kind is not AgencyKind.THIRD_PARTY
        ],
        "areas": areas,
        "purposes": policy.purposes,
        "bases": bases,
        "categories": policy.categories,
        "allowed_categories": set(policy.packet_types[kind.value].categories)
        if kind.value in policy.packet_types
        else set(policy.categories),
        "necessity_parts": parts,
        "conditions": policy.conditions,
        "policy": policy,
        "decision": None,
    }


def _widgets(
    context: dict[str, Any], values: dict[str, str], errors: dict[str, str]
) -> list[formfields.Widget]:
    kind: PacketType = context["kind"]
    if kind not in FORMS:
        return []
    return formfields.widgets(FORMS[kind], values, errors, context["agency_options"])


@routes.get("/compose")
async def compose_form(request: web.Request) -> web.StreamResponse:
    kind = _packet_type(request.query.get("type"))
    context = await _context(request, kind)
    prefill = {
        "case": request.query.get("case", ""),
        "reply_to": request.query.get("reply_to", ""),
    }
    chosen = {request.query["to"]} if request.query.get("to", "").isdigit() else set()
    return render(
        request,
        "compose.html",
        error="",
        field_errors=[],
        form=prefill,
        chosen=chosen,
        chosen_categories=set(),
        fields=_widgets(context, {}, {}),
        **context,
    )


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _draft(form: MultiDictProxy[Any], kind: PacketType) -> Draft:
    try:
        case_id = int(_text(form, "case"))
    except ValueError:
        raise InvalidInput("Choose a case.", field="case") from None
    try:
        recipients = tuple(int(v) for v in form.getall("recipients", []) if isinstance(v, str))
    except ValueError:
        raise InvalidInput("Unknown recipient.", field="recipients") from None
    attachments = []
    for item in form.getall("attachments", []):
        if isinstance(item, web.FileField) and item.filename:
            attachments.append(
                AttachmentIn(
                    item.filename, item.content_type or "application/octet-stream", item.file.read()
                )
            )
    structured = None
    if kind in FORMS:
        posted = {k: v for k, v in form.items() if isinstance(v, str)}
        structured = formfields.parse(posted, FORMS[kind])
    return Draft(
        case_id=case_id,
        recipient_agency_ids=recipients,
        subject=_text(form, "subject"),
        body=_text(form, "body"),
        purpose=_text(form, "purpose"),
        lawful_basis=_text(form, "lawful_basis"),
        packet_type=kind,
        attachments=tuple(attachments),
        data_categories=tuple(
            dict.fromkeys(v for v in form.getall("categories", []) if isinstance(v, str))
        ),
        necessity={
            part: _text(form, f"necessity_{part}")
            for part in NECESSITY_PARTS
            if _text(form, f"necessity_{part}").strip()
        },
        schedule1_condition=_text(form, "schedule1_condition") or None,
        restricted_reason=_text(form, "restricted_reason").strip() or None,
        form=structured,
        reply_to=_text(form, "reply_to").strip() or None,
    )


def _field_errors(exc: HubError) -> dict[str, str]:
    """Errors keyed by schema path ("actions.0.deadline"), whichever layer raised them."""
    out: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        for e in exc.errors:
            out.setdefault(e["field"], e["message"])
        if exc.field and exc.field.startswith("form."):
            out.setdefault(exc.field.removeprefix("form."), exc.public_message)
    return out


def _rerender(
    request: web.Request,
    form: MultiDictProxy[Any],
    context: dict[str, Any],
    *,
    status: int,
    error: str = "",
    decision: Decision | None = None,
    exc: HubError | None = None,
) -> web.Response:
    """The compose form again with everything the user typed, so nothing is lost."""
    kind: PacketType = context["kind"]
    values = {k: v for k, v in form.items() if isinstance(v, str) and k.startswith("f.")}
    if kind in FORMS:
        # Show the form as it was understood (blank rows dropped), so error row numbers match.
        values = formfields.flatten(formfields.parse(values, FORMS[kind]))
    errors = _field_errors(exc) if exc else {}
    return render(
        request,
        "compose.html",
        status=status,
        error=error,
        field_errors=sorted(errors.items()),
        form={k: _text(form, k) for k in _KEPT_FIELDS},
        chosen={v for v in form.getall("recipients", []) if isinstance(v, str)},
        chosen_categories={v for v in form.getall("categories", []) if isinstance(v, str)},
        fields=_widgets(context, values, errors),
        **{**context, "decision": decision},
    )


@routes.post("/compose")
async def compose_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    form = await request.post()
    actor = request[ACTOR]
    kind = _packet_type(_text(form, "packet_type"))
    try:
        draft = _draft(form, kind)
        if _text(form, "action") == "check":
            # "Check against policy": show the decision; nothing is sent or written.
            decision = await hub.packets.preview(actor, draft)
            context = await _context(request, kind)
            return _rerender(request, form, context, status=200, decision=decision)
        sent = await hub.packets.send(actor, draft)
    except PolicyRefused as exc:
        context = await _context(request, kind)
        return _rerender(
            request,
            form,
            context,
            status=exc.status,
            error=exc.public_message,
            decision=exc.decision,
        )
    except (InvalidInput, TooLarge, Conflict, Forbidden, NotFound) as exc:
        # Refusals by the workflow (another agency's request, minutes already circulated) keep
        # the form too; a role that may not send at all is refused again by _context.
        context = await _context(request, kind)
        return _rerender(
            request, form, context, status=exc.status, error=exc.public_message, exc=exc
        )
    if isinstance(sent, HeldSummary):
        # Sealed but held: its record says who must approve it ("Sent for approval by ...").
        raise web.HTTPSeeOther(f"/shares/{sent.share_id}?sent=1")
    raise web.HTTPSeeOther(f"/packets/{sent.id}?sent=1")
