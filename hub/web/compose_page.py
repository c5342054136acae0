"""The compose page: what it offers a sender, and its problems in the order it shows them.

``context_for`` gathers the choices (cases, agencies by area, the policy's terms this sender may
use); ``missing`` finds what every packet needs and is left blank; ``service_errors`` and
``refusal_errors`` point a service's or the policy's refusal at the field that puts it right; and
``page`` renders it all with the error summary in page order (hub.web.compose runs the routes).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.errors import HubError, InvalidInput, TooLarge
from hub.model.directory import AgencyKind
from hub.model.packets import PacketType
from hub.policy.model import Decision
from hub.services.drafts import basis_notes, form_answers
from hub.web import formfields
from hub.web.compose_drafts import Typed
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.workflows.forms import FORMS, validate_form

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
# Where each test of a refusal is put right: the field its reasons are about.
_TEST_FIELDS = {
    "lawful": "lawful_basis",
    "proportionate": "categories",
    "secure": "categories",
    "accountable": "recipients",
}
# A service error's field, as the compose page names its control.
_FIELD_ALIASES = {"data_categories": "categories"}


def packet_type(value: str | None) -> PacketType:
    try:
        kind = PacketType(value or PacketType.NOTE.value)
    except ValueError:
        raise InvalidInput("Unknown packet type.", field="packet_type") from None
    if kind not in COMPOSABLE:
        raise InvalidInput("That packet type is not composed here.", field="packet_type")
    return kind


async def context_for(request: web.Request, kind: PacketType) -> dict[str, Any]:
    """What the page offers: the sender's cases, agencies by area, and the policy's choices that
    this sender may make."""
    hub = request.app[HUB]
    actor = request[ACTOR]
    hub.packets.require_sender(actor)
    every = await hub.directory.agencies()
    every_area = await hub.directory.areas()
    policy = hub.policy.current
    own_area = next((a for a in every_area if a.id == actor.agency.area_id), None)
    jurisdiction = own_area.jurisdiction.value if own_area is not None else ""
    sender_type, sender_kind = actor.agency.type.value, actor.agency.kind.value
    # Offer only what the sender can rely on: the gateways that are law in its jurisdiction and
    # that its kind of agency may use, and the confidence statement only where confidence is owed.
    bases = {
        k: b
        for k, b in policy.lawful_bases.items()
        if jurisdiction in b.jurisdictions and b.relied_on(sender_type, sender_kind)
    }
    recipients = [
        a for a in every if a.id != actor.agency.id and a.kind is not AgencyKind.THIRD_PARTY
    ]
    areas = sorted(every_area, key=lambda a: (a.id != actor.agency.area_id, a.name))
    groups = [(a, [r for r in recipients if r.area_id == a.id]) for a in areas]
    type_policy = policy.packet_types.get(kind.value)
    needed = set(type_policy.necessity) if type_policy else set(policy.necessity_parts)
    confidence = policy.data_protection
    answered = form_answers(kind)
    parts = [
        {
            "name": k,
            "label": v,
            "required": k in needed,
            "confidence": k == confidence.confidence_part,
        }
        for k, v in policy.necessity_parts.items()
        if k not in answered
        and (k != confidence.confidence_part or sender_type in confidence.confidence_owed_by)
    ]
    allowed = set(type_policy.categories) if type_policy else set(policy.categories)
    return {
        "kind": kind,
        "kinds": [k for k in COMPOSABLE if k is not PacketType.RESPONSE],
        "cases": await hub.cases.visible_to(actor),
        "agencies": recipients,
        "agency_groups": [(a, members) for a, members in groups if members],
        "agency_options": [(a.code, a.name) for a in every if a.kind is not AgencyKind.THIRD_PARTY],
        "sender_type": sender_type,
        "purposes": policy.purposes,
        "bases": bases,
        "disclosure_bases": [
            (k, b.label) for k, b in bases.items() if b.reaches("", AgencyKind.THIRD_PARTY.value)
        ],
        "categories": {
            k: c for k, c in policy.categories.items() if k in allowed and k != "notification"
        },
        "necessity_parts": parts,
        "answered_by": [
            (policy.necessity_parts.get(part, part), formfields.field_label(name))
            for part, name in answered.items()
        ],
        "conditions": policy.conditions,
        "policy": policy,
        "idle_minutes": int(hub.config.sessions.idle_timeout.total_seconds() // 60),
        "limits": hub.config.limits,
    }


def widgets_for(
    context: dict[str, Any], values: dict[str, str], errors: dict[str, str]
) -> list[formfields.Widget]:
    kind: PacketType = context["kind"]
    if kind not in FORMS:
        return []
    return formfields.widgets(
        FORMS[kind], values, errors, context["agency_options"], bases=context["disclosure_bases"]
    )


def _order(context: dict[str, Any], fields: list[formfields.Widget]) -> list[str]:
    """The page's controls in the order it shows them: the error summary's order."""
    head = ["case", "recipients", "purpose", "lawful_basis", "f.lawful_basis"]
    head += ["schedule1_condition", "categories", "restricted_reason"]
    head += [f"necessity_{p['name']}" for p in context["necessity_parts"]]
    return [*head, *(w.name for w in formfields.walk(fields)), "subject", "body", "attachments"]


def service_errors(exc: HubError, context: dict[str, Any]) -> tuple[dict[str, str], str]:
    """A refusal's problems by control (``f.``-named for the structured form), and what is left
    to say with no control to point at."""
    out: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        for e in exc.errors:
            out.setdefault("f." + e["field"], e["message"])
        name = exc.field or ""
        if name.startswith("form."):
            out.setdefault("f." + name.removeprefix("form."), exc.public_message)
        elif name == "necessity":
            parts = context["necessity_parts"]
            if parts:
                out.setdefault(f"necessity_{parts[0]['name']}", exc.public_message)
        elif name and not exc.errors:
            out.setdefault(_FIELD_ALIASES.get(name, name), exc.public_message)
        if out:
            return out, ""
    if isinstance(exc, TooLarge):
        target = "body" if "message is longer" in exc.public_message else "attachments"
        return {target: exc.public_message}, ""
    return {}, exc.public_message


def refusal_errors(decision: Decision, context: dict[str, Any]) -> list[tuple[str, str]]:
    """Each failed test, in words, pointing at the field that puts it right."""
    out = []
    parts = context["necessity_parts"]
    answered = form_answers(context["kind"])
    for t in decision.failed:
        target = _TEST_FIELDS.get(t.test.value, "")
        if t.test.value == "necessary":
            if parts:
                target = f"necessity_{parts[0]['name']}"
            elif answered:
                target = "f." + next(iter(answered.values()))
        reasons = " ".join(t.reasons)
        if target == "lawful_basis" and ("condition" in reasons and "Schedule" in reasons):
            target = "schedule1_condition"
        out.append((target, f"{t.test.label}: {reasons}"))
    return out


def missing(typed: Typed, context: dict[str, Any]) -> dict[str, str]:
    """What is left blank that every packet needs, each with what to do (all at once)."""
    kind: PacketType = context["kind"]
    out: dict[str, str] = {}
    if not typed.get("case").strip():
        out["case"] = "Choose a case"
    if not typed.recipients and kind is not PacketType.RISK_CHANGE:
        out["recipients"] = "Choose at least one recipient agency"
    if not typed.get("purpose"):
        out["purpose"] = "Choose a purpose"
    if not typed.get("lawful_basis"):
        out["lawful_basis"] = "Choose a lawful basis"
    if not typed.get("subject").strip():
        out["subject"] = "Enter a subject"
    if kind not in FORMS and not typed.get("body").strip():
        out["body"] = "Enter a message"
    if kind in FORMS:
        try:
            validate_form(kind, formfields.parse(typed.form, FORMS[kind]))
        except InvalidInput as exc:
            for e in exc.errors:
                out.setdefault("f." + e["field"], e["message"])
    return out


def _href(name: str, fields: list[formfields.Widget], context: dict[str, Any]) -> str:
    if name == "recipients":
        groups = context["agency_groups"]
        return f"#recipients-{groups[0][0].id}" if groups else "#recipients"
    if name == "categories":
        return "#categories"
    if name.startswith("f."):
        for w in formfields.walk(fields):
            if w.name == name:
                return w.href
    return "#" + name.replace(".", "-")


def page(
    request: web.Request,
    context: dict[str, Any],
    typed: Typed,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    general: str = "",
    refusal: list[tuple[str, str]] | None = None,
    decision: Decision | None = None,
    notice: str = "",
    warning: str = "",
) -> web.Response:
    errors = dict(errors or {})
    # A refusal's reasons are shown at the fields they are about as well (not listed twice).
    at_fields: dict[str, str] = {}
    for target, message in refusal or []:
        if target and target not in errors:
            reason = message.partition(": ")[2] or message
            at_fields[target] = f"{at_fields[target]} {reason}" if target in at_fields else reason
    form_errors = {
        k.removeprefix("f."): v for k, v in (errors | at_fields).items() if k.startswith("f.")
    }
    fields = widgets_for(context, typed.form, form_errors)
    shown = {w.name: w.error for w in formfields.walk(fields) if w.error and w.name in errors}
    messages = {k: v.rstrip(".") for k, v in errors.items() if not k.startswith("f.")}
    messages.update(shown)
    order = _order(context, fields)
    rank = {name: i for i, name in enumerate(order)}
    summary = [
        {"href": _href(name, fields, context), "text": message}
        for name, message in sorted(messages.items(), key=lambda kv: rank.get(kv[0], len(order)))
    ]
    names = {w.name for w in formfields.walk(fields)}
    for name, message in errors.items():
        if name.startswith("f.") and name not in names:
            # Only a hand-made post names a field the form does not have: say which.
            summary.append({"text": f"{name.removeprefix('f.')}: {message}"})
    for target, message in refusal or []:
        item = {"text": message}
        if target:
            item["href"] = _href(target, fields, context)
        summary.append(item)
    messages.update({k: v for k, v in at_fields.items() if not k.startswith("f.")})
    notes: dict[str, str] = {}
    chosen = [a for a in context["agencies"] if str(a.id) in typed.recipients]
    if chosen and typed.get("purpose") and (decision is not None or refusal):
        notes = basis_notes(
            context["policy"],
            context["bases"],
            [(a.name, a.type.value) for a in chosen],
            typed.get("purpose"),
            context["sender_type"],
        )
    return render(
        request,
        "compose.html",
        status=status,
        typed=typed,
        fields=fields,
        field_errors=messages,
        error_list=summary,
        general_error=general,
        decision=decision,
        # A refusal of a send, not of "Check against policy": it is on the log.
        refused_on_send=refusal is not None,
        basis_notes=notes,
        notice=notice,
        warning=warning,
        error_title_prefix=bool(summary or general),
        **context,
    )
