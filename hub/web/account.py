"""Your account: change your password, and get new recovery codes, for anyone signed in.

The account service decides and logs (hub.services.accounts); these pages translate the forms.
A password change gives this browser a new session cookie and ends every other session of the
person. New recovery codes are shown once, in the answer to the form (never in a URL, a
redirect, the session or the log).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.errors import InvalidInput
from hub.services.login_throttle import SignInThrottled
from hub.web.keys import ACTOR, HUB, SESSION
from hub.web.login import wait_message
from hub.web.render import render
from hub.web.sessions import set_session_cookie

routes = web.RouteTableDef()
PATH = "/account"
# The element of each form's fields, for the error summary's links.
_PASSWORD_IDS = {"current": "current-password", "new": "new-password", "again": "again-password"}
_CODES_IDS = {"current": "codes-current-password"}
_NOTICES = {
    "password": "Your password is changed. You have been signed out everywhere else.",
}
_FEW_CODES = 3


def _text(form: MultiDictProxy[Any], name: str, max_len: int = 2048) -> str:
    value = form.get(name)
    return value[:max_len] if isinstance(value, str) else ""


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    form: str = "",
    error: InvalidInput | None = None,
) -> web.Response:
    hub = request.app[HUB]
    actor = request[ACTOR]
    summary = await hub.accounts.summary(actor)
    ids = _PASSWORD_IDS if form == "password" else _CODES_IDS
    field_id = ids.get(error.field or "current", ids["current"]) if error else ""
    return render(
        request,
        "account.html",
        status=status,
        summary=summary,
        few_codes=summary.recovery_codes_left <= _FEW_CODES,
        signed_in_with_code=request.query.get("signed-in-with") == "recovery-code",
        notice=_NOTICES.get(request.query.get("done", ""), ""),
        error=error.public_message if error else "",
        error_href=f"#{field_id}" if error else "",
        error_form=form,
        error_title_prefix=error is not None,
    )


def _wait(request: web.Request, exc: SignInThrottled) -> InvalidInput:
    """Too many wrong current passwords: counted as sign-in attempts are."""
    return InvalidInput(wait_message(exc.until, request.app[HUB].clock.now()), field="current")


@routes.get(PATH)
async def account_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post(PATH + "/password")
async def change_password(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    posted = await request.post()
    try:
        fresh = await hub.accounts.change_password(
            request[ACTOR],
            request[SESSION],
            _text(posted, "current"),
            _text(posted, "new"),
            _text(posted, "again"),
        )
    except InvalidInput as exc:
        return await _page(request, status=400, form="password", error=exc)
    except SignInThrottled as exc:
        return await _page(request, status=429, form="password", error=_wait(request, exc))
    response = web.HTTPSeeOther(PATH + "?done=password")
    set_session_cookie(request, response, fresh.token)
    raise response


@routes.post(PATH + "/recovery-codes")
async def new_recovery_codes(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    try:
        codes = await request.app[HUB].accounts.new_recovery_codes(
            request[ACTOR], _text(posted, "current")
        )
    except InvalidInput as exc:
        return await _page(request, status=400, form="codes", error=exc)
    except SignInThrottled as exc:
        return await _page(request, status=429, form="codes", error=_wait(request, exc))
    return render(request, "recovery_codes.html", codes=codes, after_enrolment=False)
