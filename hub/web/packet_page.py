"""A packet's page, its attachments and the sender's receipt. Every opening is on the log.

The page links only to what the reader may open: the case file if ``CaseworkService`` opens it to
them, the earlier request if their agency holds it, the receipt if their agency sent the packet.
"""

from __future__ import annotations

from aiohttp import web

from hub.model.directory import Role
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.web.security import attachment_download

routes = web.RouteTableDef()

# Who downloads a receipt (``LedgerService.receipt``): the sending agency's senders.
_RECEIPT_ROLES = (Role.PRACTITIONER, Role.COORDINATOR)


@routes.get("/packets/{packet_id}")
async def read_packet(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    opened = await hub.packets.open(actor, request.match_info["packet_id"])
    s, header = opened.summary, opened.header
    case_link = s.case_id in await hub.casework.openable_files(actor, [s.case_id])
    case = await hub.cases.get(None, s.case_id) if case_link else None
    reply_link = header.reply_to is not None and header.reply_to in (
        await hub.packets.listing.openable(actor, [header.reply_to])
    )
    sender = next((u for u in await hub.directory.users() if u.id == s.sender_user_id), None)
    sent_by_us = actor.agency.id == s.sender_agency_id
    return render(
        request,
        "packet.html",
        packet=opened,
        case=case,
        case_link=case_link,
        reply_link=reply_link,
        sender_name=sender.display_name if sender else "",
        names={a.id: a.name for a in await hub.directory.agencies()},
        open_request=await hub.requests.open_for(actor, s.id),
        disclosure_id=await hub.disclosures.for_proposal(actor, s.id),
        just_sent=sent_by_us and request.query.get("sent") == "1",
        receipt=sent_by_us and actor.has_role(*_RECEIPT_ROLES),
        answer=actor.has_role(*_RECEIPT_ROLES),
    )


@routes.get("/packets/{packet_id}/attachments/{index:\\d{1,3}}")
async def download_attachment(request: web.Request) -> web.StreamResponse:
    att = await request.app[HUB].packets.attachment(
        request[ACTOR], request.match_info["packet_id"], int(request.match_info["index"])
    )
    return attachment_download(att.data, att.meta.filename)


@routes.get("/packets/{packet_id}/receipt")
async def download_receipt(request: web.Request) -> web.StreamResponse:
    """The sender's proof that the share is on the log, checkable offline or at /receipts/check."""
    receipt = await request.app[HUB].ledger.receipt(request[ACTOR], request.match_info["packet_id"])
    return web.Response(
        body=receipt.to_bytes(),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{receipt.seq}.json"'},
    )
