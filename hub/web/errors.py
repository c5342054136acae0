"""One place that turns errors into responses: HTML pages for the inbox, RFC 9457 for the API.

Public messages only; the private context goes to the log with a correlation id, never a traceback
to the client.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.errors import HubError, InvalidInput, NotAuthenticated, RateLimited, Unavailable
from hub.policy.errors import PolicyRefused
from hub.store.outage import database_unavailable
from hub.web.render import render

log = logging.getLogger("hub.web")

UNAVAILABLE_MESSAGE = (
    "The hub cannot reach its records for a moment. Nothing was saved. Try again in a few seconds."
)
UNAVAILABLE_RETRY_SECONDS = 2

_HTTP_MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    413: "What you sent is too large.",
    415: "That content type is not accepted here.",
    429: "Too many requests.",
}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> web.Response:
    body = {
        "type": f"urn:mappa-hub:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return web.json_response(body, status=status, content_type="application/problem+json")


def _respond(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    exc: HubError | None = None,
    reference: str = "",
) -> web.StreamResponse:
    if _wants_json(request):
        response = problem(status, code, code.replace("_", " "), message, **_details(exc))
        if isinstance(exc, NotAuthenticated):
            response.headers["WWW-Authenticate"] = 'Bearer realm="mappa-hub"'
        if isinstance(exc, RateLimited | Unavailable):
            response.headers["Retry-After"] = str(exc.context.get("retry_after", 1))
        return response
    page = render(
        request,
        "error.html",
        status=status,
        message=message,
        status_code=status,
        viewing=request.method in ("GET", "HEAD"),
        reference=reference,
        # This page again (503): the same path and query, never "//host" (another site).
        retry_path="/" if request.path.startswith("//") else request.path_qs,
    )
    if isinstance(exc, Unavailable):
        page.headers["Retry-After"] = str(exc.context.get("retry_after", 1))
    return page


def _details(exc: HubError | None) -> dict[str, Any]:
    """What an API client may act on: the fields at fault, the policy's decision."""
    out: dict[str, Any] = {}
    if isinstance(exc, InvalidInput):
        if exc.field:
            out["field"] = exc.field
        if exc.errors:
            out["errors"] = list(exc.errors)
    if isinstance(exc, PolicyRefused):
        decision = exc.decision
        out["decision"] = decision.record()
        out["failed"] = [
            {"test": t.test.value, "reasons": list(t.reasons)} for t in decision.failed
        ]
    return out


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotAuthenticated as exc:
        if _wants_json(request):
            return _respond(request, exc.status, exc.code, exc.public_message, exc)
        raise web.HTTPSeeOther("/login") from None
    except HubError as exc:
        log.info("refused %s %s: %s %s", request.method, request.path, exc.code, exc.context)
        return _respond(request, exc.status, exc.code, exc.public_message, exc)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status not in _HTTP_MESSAGES:
            raise
        response = _respond(request, exc.status, f"http_{exc.status}", _HTTP_MESSAGES[exc.status])
        if "Allow" in exc.headers:  # a 405 names the methods that are allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if database_unavailable(exc):
            # Nothing the request did was kept (its transaction never committed): say when to
            # come back rather than "something went wrong".
            log.warning("database unavailable on %s %s (%s)", request.method, request.path,
                        type(exc).__name__)  # fmt: skip
            down = Unavailable(UNAVAILABLE_MESSAGE, retry_after=UNAVAILABLE_RETRY_SECONDS)
            return _respond(request, down.status, down.code, down.public_message, down)
        correlation = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", correlation, request.method, request.path)
        message = f"Something went wrong on our side. Reference: {correlation}."
        return _respond(request, 500, "internal_error", message, reference=correlation)
