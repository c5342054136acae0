"""Security headers on every response, and the CSRF check on every state-changing request."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.crypto.secrets import constant_time_equals
from hub.errors import Forbidden
from hub.web.keys import HUB, SESSION

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def security_headers_middleware(hsts: bool) -> web.typedefs.Middleware:  # type: ignore[name-defined]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects are exceptions too
            _apply(exc, request, hsts)
            raise
        _apply(response, request, hsts)
        return response

    return middleware


def apply_to_stream(request: web.Request, response: web.StreamResponse) -> None:
    """The same headers on a streamed response, set before ``prepare()`` sends them (the
    middleware meets such a response only once it is over)."""
    _apply(response, request, request.app[HUB].config.cookie_secure)


def _apply(response: web.StreamResponse, request: web.Request, hsts: bool) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        # Case material must not linger in shared or browser caches.
        response.headers["Cache-Control"] = "no-store"
    if hsts:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST carries the session's CSRF token (form field ``_csrf`` or ``X-CSRF-Token``)."""
    # The API and the federation routes take no cookies: bearer tokens, and peer hubs' signatures.
    if request.method in _SAFE_METHODS or request.path.startswith(("/api/", "/federation/")):
        return await handler(request)
    session = request.get(SESSION)
    origin = request.headers.get("Origin")
    # Compare host and port only: behind a TLS-terminating proxy the scheme seen here differs.
    # "null" comes from privacy-preserving contexts; the token check below still applies.
    if origin not in (None, "null") and origin.split("://", 1)[-1] != request.host:
        raise Forbidden("Cross-site request refused.", code="csrf")
    supplied = request.headers.get("X-CSRF-Token")
    if supplied is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()  # cached by aiohttp for the handler
        value = form.get("_csrf")
        supplied = value if isinstance(value, str) else None
    if session is None or not supplied or not constant_time_equals(supplied, session.csrf_token):
        raise Forbidden(
            "This form has expired or did not come from this site. Go back, reload and try again.",
            code="csrf",
        )
    return await handler(request)


def attachment_download(data: bytes, filename: str) -> web.Response:
    """An attachment as a download, never rendered inline: an uploaded HTML file must not run on
    our origin (a sandbox CSP as well, for a browser that renders it anyway)."""
    safe_name = filename.replace('"', "").encode("ascii", "replace").decode()
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
