"""Signed hub-to-hub routes: the request checked before its handler runs, the answer signed.

Every route under ``/federation/v1`` is declared on a ``FederationRoutes`` table, which wraps its
handler: the caller's RFC 9421 signature must verify against an active pinned peer's key, its
``created`` be within the window and its nonce unused; the body must match the signed
Content-Digest (a ``stream=True`` handler reads the body itself and checks it with
``require_digest``). Whatever the handler answers, refusals included, leaves signed by this hub's
key with the request's nonce. Nothing here trusts a session cookie or a CSRF token: the paths are
outside both (``hub.web.sessions``, ``hub.web.security``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from hub.crypto import http_signatures as hs
from hub.errors import HubError
from hub.services.peers import Peer
from hub.web.keys import HUB

PREFIX = "/federation/v1"
log = logging.getLogger("hub.federation")


@dataclass(frozen=True)
class Call:
    """A verified call: which peer signed it, and the Content-Digest it signed."""

    peer: Peer
    nonce: str
    content_digest: str | None


CALL = web.RequestKey("mappa.federation_call", Call)
FederationHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def target_uri(request: web.Request) -> str:
    """The URI the caller signed. Behind the TLS-terminating proxy on this machine (loopback),
    its ``X-Forwarded-Proto`` gives the scheme; from anywhere else the header is ignored."""
    scheme = request.scheme
    forwarded = request.headers.get("X-Forwarded-Proto")
    if forwarded in ("http", "https") and _from_loopback(request):
        scheme = forwarded
    return f"{scheme}://{request.host}{request.raw_path}"


def _from_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _problem(status: int, code: str, detail: str) -> web.Response:
    body = {"type": f"urn:mappa-hub:problem:{code}", "title": code.replace("_", " "),
            "status": status, "detail": detail}  # fmt: skip
    return web.json_response(body, status=status, content_type="application/problem+json")


async def _authenticate(request: web.Request, stream: bool) -> Call:
    hub = request.app[HUB]
    headers = list(request.headers.items())
    key_id = hs.signature_key_id(headers)
    peer = await hub.peers.for_key_id(key_id)
    verified = hs.verify_request(request.method, target_uri(request), headers,
                                 peer.signing_key, key_id, now=hub.clock.now())  # fmt: skip
    await hub.peers.accept_nonce(peer, verified.nonce)
    call = Call(peer, verified.nonce, request.headers.get("Content-Digest"))
    if not stream:
        body = await request.read()
        hs.require_digest(call.content_digest, hashlib.sha256(body).digest())
    return call


def signed(handler: FederationHandler, *, stream: bool = False) -> FederationHandler:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        nonce = hs.new_nonce()
        try:
            call = await _authenticate(request, stream)
            nonce = call.nonce
            request[CALL] = call
            response = await handler(request)
        except hs.SignatureRefused as exc:
            log.warning("federation call refused on %s: %s", request.path, exc.reason)
            response = _problem(401, exc.code, exc.public_message)
        except HubError as exc:
            log.info("federation call on %s: %s %s", request.path, exc.code, exc.context)
            response = _problem(exc.status, exc.code, exc.public_message)
        except Exception:
            correlation = uuid.uuid4().hex[:12]
            log.exception("unhandled federation error %s on %s", correlation, request.path)
            response = _problem(500, "internal_error", f"Reference: {correlation}.")
        if not isinstance(response, web.Response):
            raise TypeError("a federation handler answers with a web.Response")
        return await _sign(request, response, nonce)

    return wrapper


async def _sign(request: web.Request, response: web.Response, nonce: str) -> web.Response:
    hub = request.app[HUB]
    body = response.body if isinstance(response.body, bytes) else b""
    headers: dict[str, str] = {"Content-Digest": hs.digest_of(body)}
    own = await hub.peers.hub_key()
    hs.sign_response(response.status, headers, request.method, target_uri(request),
                     own.private, own.fingerprint, created=hub.clock.now(), nonce=nonce)  # fmt: skip
    response.headers.update(headers)
    return response


class FederationRoutes:
    """A route table whose handlers are signed calls, with paths under ``/federation/v1``."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()

    def get(self, path: str) -> Callable[[FederationHandler], FederationHandler]:
        return self._route("GET", path, stream=False)

    def post(
        self, path: str, *, stream: bool = False
    ) -> Callable[[FederationHandler], FederationHandler]:
        return self._route("POST", path, stream=stream)

    def _route(
        self, method: str, path: str, *, stream: bool
    ) -> Callable[[FederationHandler], FederationHandler]:
        def decorate(handler: FederationHandler) -> FederationHandler:
            self.table.route(method, PREFIX + path)(signed(handler, stream=stream))
            return handler

        return decorate
