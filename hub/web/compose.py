"""Composing a packet: a note, or a typed packet whose form follows its schema.

``/compose?type=referral&case=3`` opens the referral form for case 3; ``type=response&reply_to=ID``
answers a request; ``draft=ID`` resumes a saved draft. Nothing typed or attached is lost: a check
against the policy, a refusal or a failed validation shows the form again with every field as
typed, and keeps it all, attachments too, in the person's saved draft (``hub.services.
saved_drafts``; a hidden ``draft_id`` names it), so that sending includes what was attached
before. "Save draft" keeps it without checking anything. The page itself is
``hub.web.compose_page``.

A session that expires mid-form: the session gate sends a POST to the sign-in page before this
module sees it, so what was typed since the last check or save cannot be kept; the draft saved by
that check or save can, and the compose page offers it after signing in again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.crypto.errors import CryptoFailure
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from hub.model.packets import AttachmentIn, PacketType
from hub.policy.errors import PolicyRefused
from hub.services.share_approvals import HeldSummary
from hub.web.compose_drafts import (
    Typed,
    attachment_key,
    content_of,
    draft_of,
    text,
    typed_from_draft,
    typed_from_post,
    uploads,
)
from hub.web.compose_page import (
    context_for,
    missing,
    packet_type,
    page,
    refusal_errors,
    service_errors,
    widgets_for,
)
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


@routes.get("/compose")
async def compose_form(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    draft_id = request.query.get("draft", "")
    notice = ""
    if draft_id:
        saved = await hub.saved_drafts.open(actor, draft_id)
        typed = typed_from_draft(saved)
        kind = saved.content.packet_type
        if request.query.get("saved") == "1":
            notice = "Your draft has been saved. It is listed under Drafts until you send it."
    else:
        kind = packet_type(request.query.get("type"))
        to = request.query.get("to", "")
        typed = Typed(
            values={
                "case": request.query.get("case", ""),
                "reply_to": request.query.get("reply_to", ""),
            },
            recipients={to} if to.isdigit() else set(),
        )
    context = await context_for(request, kind)
    drafts = 0 if draft_id else await hub.saved_drafts.count(actor)
    return render(
        request,
        "compose.html",
        typed=typed,
        fields=widgets_for(context, typed.form, {}),
        field_errors={},
        error_list=[],
        general_error="",
        decision=None,
        basis_notes={},
        notice=notice,
        warning="",
        saved_drafts=drafts,
        **context,
    )


async def _kept(
    request: web.Request, form: MultiDictProxy[Any]
) -> tuple[str, list[AttachmentIn], str]:
    """The draft this form was written in, if it is still the person's: its id, the
    attachments kept (less those ticked for removal), and a warning if it was not found."""
    draft_id = text(form, "draft_id").strip()
    if not draft_id:
        return "", [], ""
    try:
        saved = await request.app[HUB].saved_drafts.open(request[ACTOR], draft_id)
    except (NotFound, CryptoFailure):
        return (
            "",
            [],
            (
                "Your saved draft was not found: it may have been sent or deleted in another "
                "window. Anything attached to it must be chosen again."
            ),
        )
    removed = {v for v in form.getall("remove_attachment", []) if isinstance(v, str)}
    return saved.id, [a for a in saved.content.attachments if attachment_key(a) not in removed], ""


async def _keep(
    request: web.Request, typed: Typed, kind: PacketType, new: list[AttachmentIn]
) -> str:
    """Save what was typed as the person's draft (so that nothing is lost); a warning if some or
    all of it could not be kept."""
    hub = request.app[HUB]
    actor = request[ACTOR]
    content = content_of(typed, kind)
    if content.is_empty() and not typed.draft_id:
        return ""
    try:
        typed.draft_id = await hub.saved_drafts.save(actor, content, typed.draft_id or None)
        return ""
    except TooLarge as exc:
        if not new:
            problem = exc.public_message
        else:
            # Keep the draft without the files just chosen, and say which were not kept.
            typed.attachments = [a for a in typed.attachments if a not in new]
            problem = (
                f"{exc.public_message} The files you chose just now were not kept: "
                "choose smaller ones."
            )
            try:
                typed.draft_id = await hub.saved_drafts.save(
                    actor, content_of(typed, kind), typed.draft_id or None
                )
            except (TooLarge, Conflict, NotFound) as again:
                problem = again.public_message
        return problem
    except (Conflict, NotFound) as exc:
        typed.attachments = []
        return f"Your work could not be saved as a draft: {exc.public_message}"


@routes.post("/compose")
async def compose_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    form = await request.post()
    actor = request[ACTOR]
    hub.packets.require_sender(actor)
    kind = packet_type(text(form, "packet_type"))
    action = text(form, "action")
    draft_id, kept, warning = await _kept(request, form)
    new = uploads(form)
    typed = typed_from_post(form, kind, [*kept, *new], draft_id)
    context = await context_for(request, kind)

    if action == "save":
        problem = await _keep(request, typed, kind, new)
        if not problem and typed.draft_id:
            raise web.HTTPSeeOther(f"/compose?draft={typed.draft_id}&saved=1")
        if problem:
            return page(request, context, typed, status=400, general=problem, warning=warning)
        return page(request, context, typed, warning="There is nothing to save yet.")

    blank = missing(typed, context)
    if blank:
        problem = await _keep(request, typed, kind, new)
        return page(request, context, typed, status=400, errors=blank, warning=problem or warning)
    try:
        draft = draft_of(typed, kind)
        if action == "check":
            # "Check against policy": show the decision; nothing is sent. The work is kept.
            decision = await hub.packets.preview(actor, draft)
            problem = await _keep(request, typed, kind, new)
            return page(request, context, typed, decision=decision, warning=problem or warning)
        sent = await hub.saved_drafts.send(actor, draft, typed.draft_id or None)
    except PolicyRefused as exc:
        problem = await _keep(request, typed, kind, new)
        return page(
            request, context, typed, status=exc.status, decision=exc.decision,
            refusal=refusal_errors(exc.decision, context), warning=problem or warning,
        )  # fmt: skip
    except (InvalidInput, TooLarge, Conflict, Forbidden, NotFound) as exc:
        # Refusals by the workflow (another agency's request, minutes already circulated) keep
        # the form too.
        problem = await _keep(request, typed, kind, new)
        errors, general = service_errors(exc, context)
        return page(
            request, context, typed, status=exc.status, errors=errors, general=general,
            warning=problem or warning,
        )  # fmt: skip
    if isinstance(sent, HeldSummary):
        # Sealed but held: its record says who must approve it ("Sent for approval by ...").
        raise web.HTTPSeeOther(f"/shares/{sent.share_id}?sent=1")
    raise web.HTTPSeeOther(f"/packets/{sent.id}?sent=1")
