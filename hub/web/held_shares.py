"""Shares held for approval: the approvers' queue, one share's record and decision, its content.

A share the policy answers REVIEW lands here from the compose form (``?sent=1``), and from the
sender's Sent list while it waits; coordinators reach the queue from the navigation.
"""

from __future__ import annotations

from aiohttp import web

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.services.held_shares import HeldShareView
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.web.security import attachment_download

routes = web.RouteTableDef()
_ID = "{share_id:\\d{1,12}}"
_MAX_ID = 2**31 - 1
# The decision form's fields an error can name, for the error summary's link.
_ERROR_FIELDS = {"decision": "#decision", "reasons": "#reasons"}
_NOTICES = {
    "approve": "Your approval is recorded with its reasons.",
    "refuse": "Your refusal is recorded with its reasons; the share will not be sent.",
}


def _id(request: web.Request) -> int:
    share_id = int(request.match_info["share_id"])
    if share_id > _MAX_ID:
        raise NotFound("No such share.")
    return share_id


def _rule_labels(request: web.Request) -> dict[str, str]:
    """The words of the rules that sent a share for approval, from the policy the hub runs now
    (a rule no longer in the policy is named by its identifier)."""
    policy = request.app[HUB].policy.current
    rules = {r.id: r.label for r in policy.approval_rules}
    rules["other-area"] = policy.other_area.label
    for category, restricted in policy.restricted.items():
        rules.setdefault(f"restricted.{category}", restricted.label)
    return rules


@routes.get("/shares")
async def queue(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    return render(
        request,
        "shares.html",
        waiting=await hub.held_shares.queue(actor),
        ours=await hub.held_shares.proposed(actor),
    )


async def _page(
    request: web.Request,
    view: HeldShareView,
    *,
    status: int = 200,
    error: str = "",
    error_field: str | None = None,
    typed: dict[str, str] | None = None,
) -> web.Response:
    hub, actor = request.app[HUB], request[ACTOR]
    notice = _NOTICES.get(request.query.get("done", ""), "")
    if request.query.get("sent") == "1" and view.row.status == "awaiting":
        notice = "Sealed and held for approval by " + " and ".join(view.awaiting) + "."
    released = view.row.status == "released"
    openable = await hub.packets.listing.openable(actor, [view.packet.id]) if released else set()
    return render(
        request,
        "share.html",
        status=status,
        view=view,
        error=error,
        error_href=_ERROR_FIELDS.get(error_field or "", ""),
        notice=notice,
        typed=typed or {"decision": "", "reasons": ""},
        content_openable=hub.held_shares.may_open(actor, view.row),
        packet_openable=view.packet.id in openable,
        rule_labels=_rule_labels(request),
        error_title_prefix=bool(error),
    )


@routes.get(f"/shares/{_ID}")
async def show(request: web.Request) -> web.StreamResponse:
    view = await request.app[HUB].held_shares.get(request[ACTOR], _id(request))
    return await _page(request, view)


@routes.post(f"/shares/{_ID}/decide")
async def decide(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    form = await request.post()
    decision, reasons = (
        value if isinstance(value := form.get(k, ""), str) else "" for k in ("decision", "reasons")
    )
    try:
        await hub.share_approvals.decide(actor, _id(request), decision, reasons)
    except (InvalidInput, Forbidden, Conflict) as exc:
        # Shown on the share's page: the approver sees why, with the record beside it.
        view = await hub.held_shares.get(actor, _id(request))
        typed = {"decision": decision, "reasons": reasons}  # nothing typed is lost
        field = exc.field if isinstance(exc, InvalidInput) else None
        return await _page(
            request,
            view,
            status=exc.status,
            error=exc.public_message,
            error_field=field,
            typed=typed,
        )
    raise web.HTTPSeeOther(f"/shares/{_id(request)}?done={decision}")


@routes.get(f"/shares/{_ID}/content")
async def content(request: web.Request) -> web.StreamResponse:
    view, opened = await request.app[HUB].held_shares.open(request[ACTOR], _id(request))
    return render(request, "share_content.html", view=view, content=opened)


@routes.get(f"/shares/{_ID}/attachments/{{index:\\d{{1,3}}}}")
async def attachment(request: web.Request) -> web.StreamResponse:
    att = await request.app[HUB].held_shares.attachment(
        request[ACTOR], _id(request), int(request.match_info["index"])
    )
    return attachment_download(att.data, att.meta.filename)
