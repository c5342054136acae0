"""Typed, dated events on a case in the inbox: the form (what happened, when, and for an order
which one and whether interim or full), kept as typed when the service refuses it, with every
problem in the error summary. The service decides who may record (``hub.services.case_events``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from hub.errors import Conflict, Forbidden, InvalidInput
from hub.model.case_events import CaseEventKind, OrderStage, OrderType
from hub.services.case_events import NewCaseEvent
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
_CASE = "{case_id:\\d{1,12}}"
_FIELDS = ("kind", "occurred_on", "order_type", "order_stage")
_HREF = {
    "kind": "#kind",
    "occurred_on": "#occurred_on",
    "order_type": "#order_type",
    "order_stage": "#order_stage",
}


def _text(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


async def _page(
    request: web.Request,
    case_id: int,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    hub, actor = request.app[HUB], request[ACTOR]
    case = await hub.cases.get(actor, case_id)
    if not await hub.case_events.may_record(actor, case_id):
        raise Forbidden(
            "Events on a case are recorded by its MAPPA coordinator or a Responsible Authority "
            "agency on the case."
        )
    errors = errors or {}
    return render(
        request,
        "case_event.html",
        status=status,
        c=case,
        kinds=list(CaseEventKind),
        orders=list(OrderType),
        stages=list(OrderStage),
        typed=typed or dict.fromkeys(_FIELDS, ""),
        errors=errors,
        error_list=[
            {"text": text, "href": _HREF[field]} if field in _HREF else {"text": text}
            for field, text in errors.items()
        ],
        error_title_prefix=bool(errors),
        events=await hub.case_events.for_case(actor, case_id),
    )


@routes.get(f"/cases/{_CASE}/events")
async def form(request: web.Request) -> web.StreamResponse:
    return await _page(request, int(request.match_info["case_id"]))


def _errors(typed: dict[str, str]) -> dict[str, str]:
    """Every unanswered question at once, in the form's order (the service checks again)."""
    errors: dict[str, str] = {}
    if typed["kind"] not in {k.value for k in CaseEventKind}:
        errors["kind"] = "Choose what happened."
    if not typed["occurred_on"]:
        errors["occurred_on"] = "Enter the date it happened."
    if typed["kind"] in (CaseEventKind.ORDER_APPLIED, CaseEventKind.ORDER_GRANTED):
        if typed["order_type"] not in {o.value for o in OrderType}:
            errors["order_type"] = "Choose the order."
        if typed["kind"] == CaseEventKind.ORDER_GRANTED and typed["order_stage"] not in {
            s.value for s in OrderStage
        }:
            errors["order_stage"] = "Say whether the order granted is interim or full."
    return errors


@routes.post(f"/cases/{_CASE}/events")
async def record(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    case_id = int(request.match_info["case_id"])
    posted = await request.post()
    typed = {k: _text(posted, k) for k in _FIELDS}
    errors = _errors(typed)
    if errors:
        return await _page(request, case_id, typed, errors, status=400)
    is_order = typed["kind"] in (CaseEventKind.ORDER_APPLIED, CaseEventKind.ORDER_GRANTED)
    try:
        when = date.fromisoformat(typed["occurred_on"])
    except ValueError:
        return await _page(request, case_id, typed,
                           {"occurred_on": "Enter the date as a date, like 2026-03-27."}, 400)  # fmt: skip
    try:
        await hub.case_events.record(actor, case_id, NewCaseEvent(
            typed["kind"], when, typed["order_type"] if is_order else None,
            typed["order_stage"] if typed["kind"] == CaseEventKind.ORDER_GRANTED else None,
        ))  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        field = exc.field if isinstance(exc, InvalidInput) and exc.field else "kind"
        return await _page(request, case_id, typed, {field: exc.public_message},
                           status=exc.status)  # fmt: skip
    raise web.HTTPSeeOther(f"/cases/{case_id}?done=event")
