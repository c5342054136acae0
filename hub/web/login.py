"""Sign in (password, then TOTP) and sign out.

A refused sign-in says the same for every username: a wrong password and an unknown username get
one message, and a username locked after too many failures (``AccountLocked``, counted for any
username typed) says until when, alike for an account and for a name nobody has.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from hub.errors import NotAuthenticated
from hub.services.auth import AccountLocked, Stage
from hub.web.keys import ACTOR, HUB, SESSION
from hub.web.labels import govuk_date, govuk_time
from hub.web.render import render
from hub.web.sessions import clear_session_cookie, set_session_cookie
from hub.workflows.deadlines import LOCAL_TIME

routes = web.RouteTableDef()
_CODE_DIGITS = 6


def _field(form: object, name: str, max_len: int = 2048) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value[:max_len] if isinstance(value, str) else ""


def locked_message(until: datetime, now: datetime) -> str:
    """ "Too many failed attempts. You can try again at 3:45pm." in UK time, as a clock on the
    wall shows it (with the date when that is not today)."""
    local, today = until.astimezone(LOCAL_TIME), now.astimezone(LOCAL_TIME).date()
    when = govuk_time(local) + ("" if local.date() == today else f" on {govuk_date(local)}")
    return f"Too many failed attempts. You can try again at {when}."


def _login_page(
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    username: str = "",
    notice: str = "",
) -> web.Response:
    errors = errors or {}
    return render(
        request,
        "login.html",
        status=status,
        notice=notice,
        errors=errors,
        username=username,
        error_title_prefix=bool(errors),
    )


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if ACTOR in request:
        raise web.HTTPSeeOther("/")
    hub = request.app[HUB]
    session = request.get(SESSION)
    if session is not None and session.stage is Stage.TOTP:
        # A half-finished sign-in continues (a stray request must not reset it); it lapses soon.
        raise web.HTTPSeeOther("/login/totp")
    if session is None:
        session = await hub.auth.anonymous_session()
        request[SESSION] = session
    notice = (
        "Your session has expired. Please sign in again." if request.query.get("expired") else ""
    )
    response = _login_page(request, notice=notice)
    set_session_cookie(request, response, session.token)
    return response


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    session = request[SESSION]  # the CSRF check guarantees one
    form = await request.post()
    username, password = _field(form, "username", 64), _field(form, "password")
    missing = {}
    if not username.strip():
        missing["username"] = "Enter your username"
    if not password:
        missing["password"] = "Enter your password"  # noqa: S105 - an error message
    if missing:
        return _login_page(request, status=400, errors=missing, username=username)
    try:
        pending = await hub.auth.password_step(session, username, password)
    except AccountLocked as exc:
        message = locked_message(exc.until, hub.clock.now())
        return _login_page(request, status=401, errors={"username": message}, username=username)
    except NotAuthenticated as exc:
        errors = {"username": exc.public_message}
        return _login_page(request, status=401, errors=errors, username=username)
    response = web.HTTPSeeOther("/login/totp")
    set_session_cookie(request, response, pending.token)
    raise response


def _totp_page(request: web.Request, *, status: int = 200, error: str = "") -> web.Response:
    return render(request, "totp.html", status=status, error=error, error_title_prefix=bool(error))


@routes.get("/login/totp")
async def totp_form(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is None or session.stage is not Stage.TOTP:
        raise web.HTTPSeeOther("/login")
    return _totp_page(request)


@routes.post("/login/totp")
async def totp_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    session = request[SESSION]
    if session.stage is not Stage.TOTP:
        raise web.HTTPSeeOther("/login")
    form = await request.post()
    code = _field(form, "code", 16).replace(" ", "").replace("-", "")
    if not code:
        return _totp_page(
            request, status=400, error="Enter the 6-digit code from your authenticator app"
        )
    if not (code.isascii() and code.isdigit() and len(code) == _CODE_DIGITS):
        return _totp_page(request, status=400, error="Enter the code as 6 numbers, like 123456")
    try:
        active = await hub.auth.totp_step(session, code)
    except AccountLocked as exc:
        # The half-finished sign-in is over: the sign-in page again, saying until when.
        fresh = await hub.auth.anonymous_session()
        request[SESSION] = fresh
        message = locked_message(exc.until, hub.clock.now())
        response = _login_page(request, status=401, errors={"username": message})
        set_session_cookie(request, response, fresh.token)
        return response
    except NotAuthenticated as exc:
        if exc.context.get("reason") == "locked":
            response = web.HTTPSeeOther("/login")
            clear_session_cookie(request, response)
            raise response from None
        return _totp_page(request, status=401, error=exc.public_message)
    response = web.HTTPSeeOther("/")  # the home page sends each role where it belongs
    set_session_cookie(request, response, active.token)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None:
        await request.app[HUB].auth.end(session)
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(request, response)
    raise response
