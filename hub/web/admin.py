"""API tokens for an agency's systems, managed by the agency's admin.

The token service decides who may issue, list and revoke (an agency admin, for their own agency);
these pages only translate the forms. A new token's secret is shown once, in the answer to the
form: never put in a URL, a redirect, the session or the log, and never shown again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.errors import InvalidInput
from hub.model.directory import Role
from hub.services.tokens import Scope, Token
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
log = logging.getLogger("hub.web.admin")

ROLES = (Role.PRACTITIONER, Role.COORDINATOR)
MAX_DAYS = 365
DEFAULT_DAYS = 90
_NOTICES = {"revoked": "The token was revoked: its system can no longer call the API."}
# What each scope lets a system do, in words (the scope itself is shown beside it: the agency's
# developers configure their system with it).
SCOPE_WORDS = {
    Scope.CASES_READ: "Read the area's cases",
    Scope.PACKETS_SEND: "Send packets",
    Scope.PACKETS_READ: "Read packets sent to or by the agency",
    Scope.REQUESTS_ANSWER: "Answer requests for information",
    Scope.DISCLOSURES_READ: "Read third-party disclosures",
    Scope.DISCLOSURES_DECIDE: "Decide third-party disclosures",
    Scope.SEALED_SUBMIT: "Submit packets the agency's system sealed itself",
    Scope.SEALED_READ: "Collect sealed packets for the agency's system",
    Scope.TRANSFERS_READ: "Read the area's case transfers",
    Scope.TRANSFERS_WRITE: "Propose, accept or decline case transfers for a named coordinator",
    Scope.STATISTICS_READ: "Read the area's annual report tables and board indicators",
}
# The form's element for each field an error can name, for the error summary's links.
_FIELD_IDS = {
    "name": "token-name",
    "scopes": "token-scopes",
    "cases": "token-cases",
    "days": "token-days",
    "lifetime": "token-days",
    "role": "token-role",
}


@dataclass
class IssueForm:
    """What the issue form holds, to show it again with an error."""

    name: str = ""
    scopes: list[str] = field(default_factory=list)
    cases: str = ""
    days: str = str(DEFAULT_DAYS)
    role: str = Role.PRACTITIONER.value


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _days(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_DAYS):
        raise InvalidInput(f"A token lives for 1 to {MAX_DAYS} days.", field="days")
    return int(text)


def _case_references(text: str) -> list[str] | None:
    """None (every case of the area) when the field is left blank."""
    refs = list(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))
    return refs or None


def _role(text: str) -> Role:
    for role in ROLES:
        if text == role.value:
            return role
    raise InvalidInput("A system acts as a practitioner or a coordinator.", field="role")


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    error: str = "",
    error_field: str | None = None,
    form: IssueForm | None = None,
) -> web.Response:
    hub = request.app[HUB]
    actor = request[ACTOR]
    tokens = await hub.tokens.list(actor)  # Forbidden unless an agency admin
    users = {u.id: u.username for u in await hub.directory.users()}
    cases = {c.id: c.reference for c in await hub.cases.visible_to(actor)}
    now = hub.clock.now()
    rows = [
        {
            "token": t,
            "account": users.get(t.user_id, "?"),
            # The person it acts for unless a call names another (On-Behalf-Of).
            "issuer": users.get(t.issued_by_user_id, "?") if t.issued_by_user_id else "operator",
            "cases": None
            if t.case_ids is None
            else sorted(cases.get(i, f"#{i}") for i in t.case_ids),
            "state": _state(t, now),
        }
        for t in tokens
    ]
    return render(
        request,
        "admin_tokens.html",
        status=status,
        rows=rows,
        scopes=[(s.value, SCOPE_WORDS.get(s, s.value)) for s in Scope],
        scope_words={s.value: SCOPE_WORDS.get(s, s.value) for s in Scope},
        roles=[r.value for r in hub.tokens.issuable_roles(actor)],
        delegated_decisions=hub.policy.current.delegated_decisions,
        error=error,
        error_href="#" + _FIELD_IDS.get(error_field or "", "token-name"),
        error_title_prefix=bool(error),
        form=form or IssueForm(),
        notice=_NOTICES.get(request.query.get("done", ""), ""),
        max_days=MAX_DAYS,
    )


def _state(token: Token, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return "active"


@routes.get("/admin/tokens")
async def tokens_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/admin/tokens")
async def issue(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    posted = await request.post()
    form = IssueForm(
        name=_text(posted, "name"),
        scopes=[s for s in posted.getall("scopes", []) if isinstance(s, str)],
        cases=_text(posted, "cases"),
        days=_text(posted, "days"),
        role=_text(posted, "role"),
    )
    try:
        issued = await hub.tokens.issue(
            actor,
            actor.agency.code,
            form.name,
            form.scopes,
            lifetime=timedelta(days=_days(form.days)),
            case_references=_case_references(form.cases),
            role=_role(form.role),
        )
    except InvalidInput as exc:
        return await _page(
            request, status=400, error=exc.public_message, error_field=exc.field, form=form
        )
    log.info(
        "API token %s issued for %s by user %s", issued.token.id, actor.agency.code, actor.user.id
    )
    response = render(
        request,
        "admin_token_issued.html",
        token=issued.token,
        secret=issued.secret,
        scopes=sorted((s.value, SCOPE_WORDS.get(s, s.value)) for s in issued.token.scopes),
    )
    # The security headers middleware sets no-store on every page; say it here as well, since
    # this is the one page that must never be kept anywhere.
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/admin/tokens/{token_id:\\d{1,12}}/revoke")
async def revoke(request: web.Request) -> web.StreamResponse:
    actor = request[ACTOR]
    token = await request.app[HUB].tokens.revoke(actor, int(request.match_info["token_id"]))
    log.info("API token %s revoked by user %s", token.id, actor.user.id)
    raise web.HTTPSeeOther("/admin/tokens?done=revoked")
