"""Inbox, outbox, reading a packet and its attachments. Composing is in ``hub.web.compose``."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from hub.model.directory import Role
from hub.model.packets import PacketSummary
from hub.services.held_shares import HeldShareView
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.web.security import attachment_download

routes = web.RouteTableDef()


async def _agency_names(request: web.Request) -> dict[int, str]:
    return {a.id: a.name for a in await request.app[HUB].directory.agencies()}


async def _listing(
    request: web.Request, box: str, rows: list[PacketSummary], held: Sequence[HeldShareView] = ()
) -> web.Response:
    actor = request[ACTOR]
    due = await request.app[HUB].casework.due(actor)
    return render(
        request,
        "listing.html",
        box=box,
        rows=rows,
        held=held,
        names=await _agency_names(request),
        overdue=[d for d in due if d.overdue],
        due_soon=[d for d in due if not d.overdue],
    )


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    # Auditors read the log, not packets: their landing page is the access reports.
    raise web.HTTPSeeOther("/audit" if request[ACTOR].role is Role.AUDITOR else "/inbox")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.StreamResponse:
    rows = await request.app[HUB].packets.inbox(request[ACTOR])
    return await _listing(request, "inbox", rows)


@routes.get("/outbox")
async def outbox(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    rows = await hub.packets.outbox(actor)
    # Shares held for approval are not sent yet: listed apart, until released or refused.
    held = await hub.held_shares.proposed(actor, unreleased=True)
    return await _listing(request, "outbox", rows, held)


@routes.get("/packets/{packet_id}")
async def read_packet(request: web.Request) -> web.StreamResponse:
    actor = request[ACTOR]
    opened = await request.app[HUB].packets.open(actor, request.match_info["packet_id"])
    hub = request.app[HUB]
    return render(
        request,
        "packet.html",
        packet=opened,
        open_request=await hub.requests.open_for(actor, opened.summary.id),
        disclosure_id=await hub.disclosures.for_proposal(actor, opened.summary.id),
        names=await _agency_names(request),
        purpose=hub.policy.current.purposes.get(opened.summary.purpose),
        basis=hub.policy.current.lawful_bases.get(opened.header.lawful_basis),
        policy=hub.policy.current,
    )


@routes.get("/packets/{packet_id}/attachments/{index:\\d{1,3}}")
async def download_attachment(request: web.Request) -> web.StreamResponse:
    att = await request.app[HUB].packets.attachment(
        request[ACTOR], request.match_info["packet_id"], int(request.match_info["index"])
    )
    return attachment_download(att.data, att.meta.filename)


@routes.get("/packets/{packet_id}/receipt")
async def download_receipt(request: web.Request) -> web.StreamResponse:
    """The sender's proof that the share is on the log, checkable offline."""
    receipt = await request.app[HUB].ledger.receipt(request[ACTOR], request.match_info["packet_id"])
    return web.Response(
        body=receipt.to_bytes(),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{receipt.seq}.json"'},
    )
