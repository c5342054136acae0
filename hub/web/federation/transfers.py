"""POST /federation/v1/transfers: a transfer bundle from a pinned peer, answered by a signed ack.

The body streams to a file under the data directory (never held in memory), no larger than
``MAX_BUNDLE_BYTES`` and exactly its Content-Length; its SHA-256 must match the signed
Content-Digest before the transfer adapter sees it. Anything short of that deletes the file and
imports nothing, so a sender whose connection dropped simply sends the bundle again; one whose
answer was lost sends it again too and gets the original acknowledgement (``receiving``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

from aiohttp import web

from hub.crypto import http_signatures as hs
from hub.errors import InvalidInput, TooLarge
from hub.web.federation.receiving import receive_bundle as import_and_acknowledge
from hub.web.federation.signed import CALL, FederationRoutes
from hub.web.keys import HUB

routes = FederationRoutes()
MAX_BUNDLE_BYTES = int(os.environ.get("MAPPA_HUB_MAX_BUNDLE_BYTES", str(4 * 1024**3)))
CHUNK = 1024 * 1024


def incoming_dir(data_dir: Path) -> Path:
    path = data_dir / "federation" / "incoming"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@routes.post("/transfers", stream=True)
async def receive_bundle(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    call = request[CALL]
    length = request.content_length
    if length is None:
        raise InvalidInput("Send the bundle with a Content-Length.", code="length_required")
    if length > MAX_BUNDLE_BYTES:
        raise TooLarge(f"A bundle is at most {MAX_BUNDLE_BYTES} bytes.")
    path = incoming_dir(hub.config.data_dir) / f"{uuid.uuid4().hex}.part"
    try:
        sha256 = await _receive(request, path, length)
        hs.require_digest(call.content_digest, sha256.digest())
        ack = await import_and_acknowledge(hub, call.peer, path, sha256.hexdigest())
    finally:
        path.unlink(missing_ok=True)
    return web.Response(body=ack, content_type="application/json")


async def _receive(request: web.Request, path: Path, length: int) -> hashlib._Hash:
    sha256, received = hashlib.sha256(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        async for chunk in request.content.iter_chunked(CHUNK):
            received += len(chunk)
            if received > length:
                raise InvalidInput("The body is longer than its Content-Length.")
            sha256.update(chunk)
            await asyncio.to_thread(fh.write, chunk)
    if received != length:
        raise InvalidInput("The upload was cut short: send the bundle again.", code="incomplete")
    return sha256
