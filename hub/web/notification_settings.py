"""Notification settings: how each person is told by email of what wants their attention.

The view reads the form and calls ``NoticeService.save_settings``, which holds the rules (overdue
reminders are never switched off); a refusal is shown with what was chosen kept.
"""

from __future__ import annotations

from aiohttp import web

from hub.errors import InvalidInput
from hub.services.notices import ALLOWED, Group
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
PATH = "/notification-settings"

# In the form's order: what each group covers, in words.
GROUPS = (
    (
        Group.NEW_PACKETS,
        "New packets for your agency",
        "When a packet reaches your agency's inbox.",
    ),
    (
        Group.DECISIONS,
        "Decisions awaiting you",
        "A third-party disclosure or a share held for approval that your role decides.",
    ),
    (
        Group.REQUESTS_DUE,
        "Requests due soon",
        "A request for information to your agency that falls due within two days.",
    ),
    (
        Group.OVERDUE,
        "Overdue work",
        "Requests, actions, minutes and reviews gone past their deadline. These cannot be "
        "switched off.",
    ),
)
MODE_WORDS = {"immediate": "Straight away", "digest": "In a daily summary at 7am", "off": "Off"}


async def _page(
    request: web.Request,
    chosen: dict[str, str],
    *,
    status: int = 200,
    errors: list[dict[str, str]] | None = None,
    saved: bool = False,
) -> web.Response:
    settings = await request.app[HUB].notices.settings(request[ACTOR])
    return render(
        request,
        "notification_settings.html",
        status=status,
        email=settings.email,
        groups=[
            {
                "name": g.value,
                "title": title,
                "hint": hint,
                "choices": [
                    {"value": m, "text": MODE_WORDS[m], "checked": chosen.get(g.value) == m}
                    for m in ALLOWED[g]
                ],
            }
            for g, title, hint in GROUPS
        ],
        errors=errors or [],
        field_errors={e["href"][1:]: e["text"] for e in errors or [] if "href" in e},
        saved=saved,
        error_title_prefix=bool(errors),
    )


@routes.get(PATH)
async def show(request: web.Request) -> web.StreamResponse:
    settings = await request.app[HUB].notices.settings(request[ACTOR])
    chosen = {g.value: mode for g, mode in settings.modes.items()}
    return await _page(request, chosen, saved=request.query.get("saved") == "1")


@routes.post(PATH)
async def save(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    chosen = {g.value: v if isinstance(v := form.get(g.value, ""), str) else "" for g in Group}
    try:
        await request.app[HUB].notices.save_settings(request[ACTOR], chosen)
    except InvalidInput as exc:
        field = exc.field or Group.NEW_PACKETS.value
        # The radios' first input carries the group's name as its id (GOV.UK radios idPrefix).
        errors = [{"text": exc.public_message, "href": f"#{field}"}]
        return await _page(request, chosen, status=exc.status, errors=errors)
    raise web.HTTPSeeOther(f"{PATH}?saved=1")
