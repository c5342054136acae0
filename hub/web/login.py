"""Sign in (password, then TOTP) and sign out."""

from __future__ import annotations

from aiohttp import web

from hub.errors import NotAuthenticated
from hub.services.auth import Stage
from hub.web.keys import ACTOR, HUB, SESSION
from hub.web.render import render
from hub.web.sessions import clear_session_cookie, set_session_cookie

routes = web.RouteTableDef()


def _field(form: object, name: str, max_len: int = 2048) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value[:max_len] if isinstance(value, str) else ""


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
    response = render(request, "login.html", notice=notice, error="")
    set_session_cookie(request, response, session.token)
    return response


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    session = request[SESSION]  # the CSRF check guarantees one
    form = await request.post()
    try:
        pending = await hub.auth.password_step(
            session, _field(form, "username", 64), _field(form, "password")
        )
    except NotAuthenticated as exc:
        return render(request, "login.html", status=401, notice="", error=exc.public_message)
    response = web.HTTPSeeOther("/login/totp")
    set_session_cookie(request, response, pending.token)
    raise response


@routes.get("/login/totp")
async def totp_form(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is None or session.stage is not Stage.TOTP:
        raise web.HTTPSeeOther("/login")
    return render(request, "totp.html", error="")


@routes.post("/login/totp")
async def totp_submit(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    session = request[SESSION]
    if session.stage is not Stage.TOTP:
        raise web.HTTPSeeOther("/login")
    form = await request.post()
    try:
        active = await hub.auth.totp_step(session, _field(form, "code", 16))
    except NotAuthenticated as exc:
        if exc.context.get("reason") == "locked":
            response = web.HTTPSeeOther("/login")
            clear_session_cookie(request, response)
            raise response from None
        return render(request, "totp.html", status=401, error=exc.public_message)
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
