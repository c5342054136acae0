"""Inbox, outbox, reading a packet, its attachments, and composing a new one."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.errors import InvalidInput, TooLarge
from hub.model.directory import AgencyKind, Role
from hub.model.packets import AttachmentIn, Draft, PacketSummary
from hub.policy.errors import PolicyRefused
from hub.policy.model import Decision
from hub.services.actor import Actor
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


def _actor(request: web.Request) -> Actor:
    actor: Actor = request[ACTOR]
    return actor


async def _agency_names(request: web.Request) -> dict[int, str]:
    return {a.id: a.name for a in await request.app[HUB].directory.agencies()}


async def _listing(request: web.Request, box: str, rows: list[PacketSummary]) -> web.Response:
    return render(request, "listing.html", box=box, rows=rows, names=await _agency_names(request))


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    # Auditors read the log, not packets: their landing page is the access reports.
    raise web.HTTPSeeOther("/audit" if _actor(request).role is Role.AUDITOR else "/inbox")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.StreamResponse:
    rows = await request.app[HUB].packets.inbox(_actor(request))
    return await _listing(request, "inbox", rows)


@routes.get("/outbox")
async def outbox(request: web.Request) -> web.StreamResponse:
    rows = await request.app[HUB].packets.outbox(_actor(request))
    return await _listing(request, "outbox", rows)


@routes.get("/packets/{packet_id}")
async def read_packet(request: web.Request) -> web.StreamResponse:
    opened = await request.app[HUB].packets.open(_actor(request), request.match_info["packet_id"])
    hub = request.app[HUB]
    return render(
        request,
        "packet.html",
        packet=opened,
        names=await _agency_names(request),
        purpose=hub.policy.current.purposes.get(opened.summary.purpose),
        basis=hub.policy.current.lawful_bases.get(opened.header.lawful_basis),
        policy=hub.policy.current,
    )


@routes.get("/packets/{packet_id}/attachments/{index:\\d{1,3}}")
async def download_attachment(request: web.Request) -> web.StreamResponse:
    att = await request.app[HUB].packets.attachment(
        _actor(request), request.match_info["packet_id"], int(request.match_info["index"])
    )
    # Always a download, never rendered inline: an uploaded HTML file must not run on our origin.
    safe_name = att.meta.filename.replace('"', "").encode("ascii", "replace").decode()
    return web.Response(
        body=att.data,
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@routes.get("/packets/{packet_id}/receipt")
async def download_receipt(request: web.Request) -> web.StreamResponse:
    """The sender's proof that the share is on the log, checkable offline."""
    receipt = await request.app[HUB].ledger.receipt(
        _actor(request), request.match_info["packet_id"]
    )
    return web.Response(
        body=receipt.to_bytes(),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{receipt.seq}.json"'},
    )


async def _compose_context(request: web.Request) -> dict[str, Any]:
    hub = request.app[HUB]
    actor = _actor(request)
    hub.packets.require_sender(actor)
    agencies = [
        a
        for a in await hub.directory.agencies()
        if a.id != actor.agency.id and a.kind is not AgencyKind.THIRD_PARTY
    ]
    areas = {a.id: a.name for a in await hub.directory.areas()}
    policy = hub.policy.current
    return {
        "cases": await hub.cases.visible_to(actor),
        "agencies": agencies,
        "areas": areas,
        "purposes": policy.purposes,
        "bases": policy.lawful_bases,
        "categories": policy.categories,
        "necessity_parts": policy.necessity_parts,
        "conditions": policy.schedule1_conditions,
        "decision": None,
    }


@routes.get("/compose")
async def compose_form(request: web.Request) -> web.StreamResponse:
    context = await _compose_context(request)
    return render(
        request, "compose.html", error="", form={}, chosen=set(), chosen_categories=set(), **context
    )


def _form_text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _draft(form: MultiDictProxy[Any]) -> Draft:
    try:
        case_id = int(_form_text(form, "case"))
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
    return Draft(
        case_id=case_id,
        recipient_agency_ids=recipients,
        subject=_form_text(form, "subject"),
        body=_form_text(form, "body"),
        purpose=_form_text(form, "purpose"),
        lawful_basis=_form_text(form, "lawful_basis"),
        attachments=tuple(attachments),
        data_categories=tuple(
            dict.fromkeys(v for v in form.getall("categories", []) if isinstance(v, str))
        ),
        necessity={
            part: _form_text(form, f"necessity_{part}")
            for part in NECESSITY_PARTS
            if _form_text(form, f"necessity_{part}").strip()
        },
        schedule1_condition=_form_text(form, "schedule1_condition") or None,
        restricted_reason=_form_text(form, "restricted_reason").strip() or None,
    )


NECESSITY_PARTS = ("why", "who", "use")
_KEPT_FIELDS = (
    "case", "subject", "body", "purpose", "lawful_basis", "schedule1_condition",
    "restricted_reason", *(f"necessity_{p}" for p in NECESSITY_PARTS),
)  # fmt: skip


def _rerender(
    request: web.Request,
    form: MultiDictProxy[Any],
    context: dict[str, Any],
    *,
    status: int,
    error: str = "",
    decision: Decision | None = None,
) -> web.Response:
    """The compose form again with everything the user typed, so nothing is lost."""
    context = {**context, "decision": decision}
    return render(
        request,
        "compose.html",
        status=status,
        error=error,
        form={k: _form_text(form, k) for k in _KEPT_FIELDS},
        chosen={v for v in form.getall("recipients", []) if isinstance(v, str)},
        chosen_categories={v for v in form.getall("categories", []) if isinstance(v, str)},
        **context,
    )


@routes.post("/compose")
async def compose_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    form = await request.post()
    actor = _actor(request)
    try:
        draft = _draft(form)
        if _form_text(form, "action") == "check":
            # "Check against policy": show the decision; nothing is sent or written.
            decision = await hub.packets.preview(actor, draft)
            context = await _compose_context(request)
            return _rerender(request, form, context, status=200, decision=decision)
        sent = await hub.packets.send(actor, draft)
    except PolicyRefused as exc:
        context = await _compose_context(request)
        return _rerender(
            request,
            form,
            context,
            status=exc.status,
            error=exc.public_message,
            decision=exc.decision,
        )
    except (InvalidInput, TooLarge) as exc:
        context = await _compose_context(request)
        return _rerender(request, form, context, status=exc.status, error=exc.public_message)
    raise web.HTTPSeeOther(f"/packets/{sent.id}?sent=1")
