"""Sign in (password, then a TOTP code or a recovery code; or setting up a new authenticator
after an admin's reset) and sign out.

A refused sign-in says the same for every username: a wrong password and an unknown username get
one message, and a username with too many failures (``SignInThrottled``, counted for any username
typed) says when to try again, alike for an account and for a name nobody has.

Every step after the password lives at ``/login/totp`` (the one public path for it), shaped by the
session's stage: ``?method=recovery`` asks for a recovery code instead of the app's code.
A completed sign-in also sets a device cookie (hub.services.login_throttle): this browser's next
attempts are throttled apart from strangers' guesses at the same username.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from aiohttp import web

from hub.errors import NotAuthenticated
from hub.services.auth import EnrolmentExpired, SignedIn, Stage
from hub.services.login_throttle import Client, SignInThrottled
from hub.web.client_address import client_address
from hub.web.keys import ACTOR, COOKIE_NAME, HUB, SESSION
from hub.web.labels import govuk_date, govuk_time
from hub.web.qr import qr_svg
from hub.web.render import render
from hub.web.sessions import clear_session_cookie, set_session_cookie
from hub.workflows.deadlines import LOCAL_TIME

routes = web.RouteTableDef()
_CODE_DIGITS = 6
_RECOVERY = "recovery"


def device_cookie_name(request: web.Request) -> str:
    secure = request.app[COOKIE_NAME].startswith("__Host-")
    return "__Host-mappa-device" if secure else "mappa-device"


def client_of(request: web.Request) -> Client:
    """Who is trying to sign in: their address and this browser's device cookie."""
    hub = request.app[HUB]
    return Client(
        address=client_address(request, hub.config.trusted_proxies),
        device=request.cookies.get(device_cookie_name(request)),
    )


def _set_device_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    lifetime = request.app[HUB].config.sessions.device_lifetime
    response.set_cookie(
        device_cookie_name(request),
        value,
        path="/",
        max_age=int(lifetime.total_seconds()),
        secure=device_cookie_name(request).startswith("__Host-"),
        httponly=True,
        samesite="Strict",
    )


def _field(form: object, name: str, max_len: int = 2048) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value[:max_len] if isinstance(value, str) else ""


def wait_message(until: datetime, now: datetime) -> str:
    """ "Too many failed attempts. You can try again at 3:45pm." in UK time, as a clock on the
    wall shows it (the minute after the wait ends, with the date when that is not today); a wait
    under a minute in seconds."""
    left = until - now
    if left < timedelta(minutes=1):
        seconds = max(1, math.ceil(left.total_seconds()))
        unit = "second" if seconds == 1 else "seconds"
        return f"Too many failed attempts. Wait {seconds} {unit}, then try again."
    shown = until.replace(second=0, microsecond=0)
    if shown < until:
        shown += timedelta(minutes=1)
    local, today = shown.astimezone(LOCAL_TIME), now.astimezone(LOCAL_TIME).date()
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
    if session is not None and session.stage in (Stage.TOTP, Stage.ENROL):
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
        pending = await hub.auth.password_step(session, username, password, client_of(request))
    except SignInThrottled as exc:
        message = wait_message(exc.until, hub.clock.now())
        return _login_page(request, status=401, errors={"username": message}, username=username)
    except NotAuthenticated as exc:
        errors = {"username": exc.public_message}
        return _login_page(request, status=401, errors=errors, username=username)
    response = web.HTTPSeeOther("/login/totp")
    set_session_cookie(request, response, pending.token)
    raise response


def _totp_page(
    request: web.Request, *, status: int = 200, error: str = "", recovery: bool = False
) -> web.Response:
    return render(
        request,
        "recovery.html" if recovery else "totp.html",
        status=status,
        error=error,
        error_title_prefix=bool(error),
    )


async def _enrol_page(request: web.Request, *, status: int = 200, error: str = "") -> web.Response:
    enrolment = await request.app[HUB].auth.enrolment(request[SESSION])
    secret = enrolment.secret
    return render(
        request,
        "enrol.html",
        status=status,
        error=error,
        error_title_prefix=bool(error),
        secret_groups=[secret[i : i + 4] for i in range(0, len(secret), 4)],
        uri=enrolment.uri,
        qr=qr_svg(enrolment.uri, "QR code for adding MAPPA Hub to your authenticator app"),
        enrol_by=enrolment.enrol_by,
    )


@routes.get("/login/totp")
async def totp_form(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None and session.stage is Stage.ENROL:
        return await _enrol_page(request)
    if session is None or session.stage is not Stage.TOTP:
        raise web.HTTPSeeOther("/login")
    return _totp_page(request, recovery=request.query.get("method") == _RECOVERY)


def _code(form: object) -> str | None:
    """The 6-digit code typed (spaces and hyphens as the app shows them dropped), or None."""
    code = _field(form, "code", 16).replace(" ", "").replace("-", "")
    return code if code.isascii() and code.isdigit() and len(code) == _CODE_DIGITS else None


def _code_error(form: object) -> str:
    if not _field(form, "code", 16).strip():
        return "Enter the 6-digit code from your authenticator app"
    return "Enter the code as 6 numbers, like 123456"


@routes.post("/login/totp")
async def totp_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    session = request[SESSION]
    if session.stage not in (Stage.TOTP, Stage.ENROL):
        raise web.HTTPSeeOther("/login")
    form = await request.post()
    enrolling = session.stage is Stage.ENROL
    recovery = not enrolling and _field(form, "method") == _RECOVERY
    typed = _field(form, "recovery_code", 64)
    code = _code(form)
    if recovery and not typed.strip():
        return _totp_page(request, status=400, error="Enter a recovery code", recovery=True)
    if not recovery and code is None:
        if enrolling:
            return await _enrol_page(request, status=400, error=_code_error(form))
        return _totp_page(request, status=400, error=_code_error(form))
    client = client_of(request)
    try:
        if enrolling:
            signed = await hub.auth.enrol_step(session, code or "", client)
        elif recovery:
            signed = await hub.auth.recovery_step(session, typed, client)
        else:
            signed = await hub.auth.totp_step(session, code or "", client)
    except SignInThrottled as exc:
        # The half-finished sign-in is over: the sign-in page again, saying when to try again.
        return await _start_again(request, wait_message(exc.until, hub.clock.now()))
    except EnrolmentExpired as exc:
        return await _start_again(request, exc.public_message)
    except NotAuthenticated as exc:
        if exc.context.get("reason") == "ended":
            response = web.HTTPSeeOther("/login")
            clear_session_cookie(request, response)
            raise response from None
        if enrolling:
            return await _enrol_page(request, status=401, error=exc.public_message)
        return _totp_page(request, status=401, error=exc.public_message, recovery=recovery)
    return _signed_in(request, signed)


async def _start_again(request: web.Request, message: str) -> web.Response:
    fresh = await request.app[HUB].auth.anonymous_session()
    request[SESSION] = fresh
    response = _login_page(request, status=401, errors={"username": message})
    set_session_cookie(request, response, fresh.token)
    return response


def _signed_in(request: web.Request, signed: SignedIn) -> web.StreamResponse:
    if signed.new_recovery_codes:
        # A new authenticator was just set up: its recovery codes, shown this once (never in a
        # URL or a redirect). The page carries the new session's CSRF token.
        request[SESSION] = signed.session
        response: web.StreamResponse = render(
            request,
            "recovery_codes.html",
            codes=signed.new_recovery_codes,
            after_enrolment=True,
            actor=None,
        )
    elif signed.recovery_codes_left is not None:
        # Where they can see how many codes are left and make new ones.
        response = web.HTTPSeeOther("/account?signed-in-with=recovery-code")
    else:
        response = web.HTTPSeeOther("/")  # the home page sends each role where it belongs
    set_session_cookie(request, response, signed.session.token)
    _set_device_cookie(request, response, signed.device_cookie)
    if isinstance(response, web.HTTPException):
        raise response
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None:
        await request.app[HUB].auth.sign_out(session)
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(request, response)
    raise response
