"""The one gate: every route needs a signed-in user except the short allow-list below."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.errors import NotAuthenticated, RateLimited
from hub.services.api_callers import ON_BEHALF_OF
from hub.services.auth import SessionExpired, Stage
from hub.web.api import first_read
from hub.web.keys import ACTOR, API_CALLER, COOKIE_NAME, HUB, RATE_LIMITER, SESSION

# Reachable without a signed-in session. Everything else is denied by default.
PUBLIC_PATHS = frozenset(
    {
        "/login",
        "/login/totp",
        "/logout",
        "/healthz",
        "/favicon.ico",
        "/api/v1/openapi.json",
        "/accessibility",  # the accessibility statement, for anyone before they sign in
    }
)
# /federation/: peer hubs, each call authenticated by its signature (hub.web.federation.signed).
PUBLIC_PREFIXES = ("/static/", "/federation/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API authenticates by bearer token only: a browser's cookie never authorises an API
    call (the API has no CSRF token to check). Each token is rate limited."""
    hub = request.app[HUB]
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    limiter = request.app[RATE_LIMITER]
    # A share's case is read with the token (hub.web.api.first_read), and on PostgreSQL the
    # token's read takes from its bucket too: both for the token's own secret only.
    first = await first_read.named(request)
    caller, wait, row = await hub.callers.authenticate_taking(
        presented.strip(), limiter.bucket, first
    )
    if wait is None:
        wait = await limiter.allow(caller.token.id)
    if wait:
        raise RateLimited(
            "Too many requests for this token: slow down.", retry_after=max(1, round(wait))
        )
    if ON_BEHALF_OF in request.headers:  # the person the system acts for (several: refused)
        caller = await hub.callers.acting_for(
            caller, ",".join(request.headers.getall(ON_BEHALF_OF))
        )
    request[API_CALLER] = caller
    request[ACTOR] = caller.actor
    if first is not None:
        request[first_read.FIRST_READ] = first_read.FirstRead(first[0], first[1], row)
    return await handler(request)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    hub = request.app[HUB]
    if request.path.startswith("/api/") and not is_public(request.path):
        return await _api_gate(request, handler)
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
