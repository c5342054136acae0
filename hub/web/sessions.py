"""The one gate: every route needs a signed-in user except the short allow-list below."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.errors import NotAuthenticated
from hub.services.auth import SessionExpired, Stage
from hub.web.keys import ACTOR, COOKIE_NAME, HUB, SESSION

# Reachable without a signed-in session. Everything else is denied by default.
PUBLIC_PATHS = frozenset({"/login", "/login/totp", "/logout", "/healthz", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    hub = request.app[HUB]
    token = request.cookies.get(request.app[COOKIE_NAME])
    expired = False
    try:
        session = await hub.auth.session(token)
    except SessionExpired:
        session, expired = None, True
    if session is not None and session.stage is Stage.ACTIVE:
        try:
            request[ACTOR] = await hub.auth.actor(session)
        except NotAuthenticated:
            # The user was deactivated mid-session: end it here, or even /login would redirect
            # to itself for as long as the session lived.
            await hub.auth.end(session)
            session = None
    if session is not None:
        request[SESSION] = session
    if ACTOR not in request and not is_public(request.path):
        if request.path.startswith("/api/"):
            raise NotAuthenticated("Sign in first.")
        raise web.HTTPSeeOther("/login?expired=1" if expired else "/login")
    return await handler(request)


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    secure = request.app[COOKIE_NAME].startswith("__Host-")
    response.set_cookie(
        request.app[COOKIE_NAME],
        token,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    secure = request.app[COOKIE_NAME].startswith("__Host-")
    response.del_cookie(
        request.app[COOKIE_NAME], path="/", secure=secure, httponly=True, samesite="Strict"
    )
