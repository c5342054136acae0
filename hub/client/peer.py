"""The hub's client for its pinned peers: every request signed, every answer verified.

Requests carry an RFC 9421 signature by this hub's key (``hub.crypto.http_signatures``); an answer
is accepted only if the peer's pinned key signed it, for this request (the same nonce), with a
body matching its Content-Digest, error answers included. A bundle streams from its file: its
SHA-256 is computed first (for the signed Content-Digest), then the file is sent in chunks.

    async with PeerClient(await hub.peers.hub_key(), hub.clock) as client:
        peer = await hub.peers.get("scotland")
        ack = await client.send_bundle(peer, Path("bundle.tar"))
        answer = await client.post_json(peer, "/federation/v1/witness/checkpoints", {...})
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from hub.clock import Clock
from hub.crypto import http_signatures as hs
from hub.errors import HubError
from hub.services import peer_ack
from hub.services.peer_ack import Ack
from hub.services.peers import HubKey, Peer

MAX_ANSWER_BYTES = 8 * 1024 * 1024
CHUNK = 1024 * 1024
DIRECTORY_PATH = "/federation/v1/directory"
TRANSFERS_PATH = "/federation/v1/transfers"


class PeerUnreachable(HubError):
    status = 502
    code = "peer_unreachable"


class PeerRefused(HubError):
    """The peer answered, with a verified signature, that it refused: ``status`` and its problem
    document (RFC 9457) say why."""

    code = "peer_refused"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = str(problem.get("detail") or problem.get("title") or "")
        super().__init__(f"The peer hub refused ({status}): {detail}".strip(), peer_status=status)
        self.peer_status = status
        self.problem = problem

    @property
    def problem_code(self) -> str:
        return str(self.problem.get("type", "")).rsplit(":", 1)[-1]


@dataclass(frozen=True)
class PeerAnswer:
    status: int
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


def _sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.digest()


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:  # each read is handed to a thread below
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk


class PeerClient:
    def __init__(
        self,
        own: HubKey,
        clock: Clock,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 600.0,
    ) -> None:
        self._own = own
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)

    async def __aenter__(self) -> PeerClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def signed_headers(
        self, method: str, url: str, digest: str, content_type: str | None = None
    ) -> tuple[dict[str, str], str]:
        """The headers of a signed request (and its nonce, which the answer must carry)."""
        headers = {"Content-Digest": digest, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        nonce = hs.new_nonce()
        hs.sign_request(method, url, headers, self._own.private, self._own.fingerprint,
                        created=self._clock.now(), nonce=nonce)  # fmt: skip
        return headers, nonce

    async def request(
        self,
        peer: Peer,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> PeerAnswer:
        """One signed call; the answer verified against the peer's pinned key. ``PeerRefused``
        for a verified 4xx/5xx answer, ``SignatureRefused`` for an answer that does not verify."""
        url = peer.url + path
        headers, nonce = self.signed_headers(method, url, hs.digest_of(body), content_type)
        return await self._send(peer, method, url, headers, nonce, body)

    async def _send(
        self,
        peer: Peer,
        method: str,
        url: str,
        headers: dict[str, str],
        nonce: str,
        data: bytes | AsyncIterator[bytes],
    ) -> PeerAnswer:
        if self._session is None:
            raise RuntimeError("use 'async with PeerClient(...)'")
        try:
            async with self._session.request(method, url, data=data, headers=headers) as resp:
                body = await _read_limited(resp)
                answer = PeerAnswer(resp.status, dict(resp.headers), body)
                fields = list(resp.headers.items())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PeerUnreachable(f"Peer hub {peer.name} could not be reached.",
                                  error=type(exc).__name__) from None  # fmt: skip
        hs.verify_response(
            answer.status, fields, body, method, url, peer.signing_key,
            now=self._clock.now(), nonce=nonce,
        )  # fmt: skip
        if answer.status >= 400:
            try:
                problem = json.loads(body)
            except ValueError:
                problem = {}
            raise PeerRefused(answer.status, problem if isinstance(problem, dict) else {})
        return answer

    async def get(self, peer: Peer, path: str) -> PeerAnswer:
        return await self.request(peer, "GET", path)

    async def post_json(self, peer: Peer, path: str, body: Any) -> PeerAnswer:
        data = json.dumps(body, separators=(",", ":")).encode()
        return await self.request(peer, "POST", path, body=data, content_type="application/json")

    async def fetch_directory(self, peer: Peer) -> bytes:
        """The peer's signed directory document (check and keep it: ``PeerService.store_directory``)."""
        return (await self.get(peer, DIRECTORY_PATH)).body

    async def send_bundle(self, peer: Peer, path: Path) -> Ack:
        """Upload a transfer bundle; the peer verifies and imports it all or nothing and answers
        with a signed acknowledgement, checked here against its pinned key and the bundle's
        digest. Safe to repeat after a dropped connection: nothing is imported from a cut upload."""
        sha256 = await asyncio.to_thread(_sha256_file, path)
        size = (await asyncio.to_thread(path.stat)).st_size
        url = peer.url + TRANSFERS_PATH
        headers, nonce = self.signed_headers(
            "POST", url, hs.content_digest(sha256), "application/x-tar"
        )
        headers["Content-Length"] = str(size)
        answer = await self._send(peer, "POST", url, headers, nonce, _file_chunks(path))
        return peer_ack.verify(answer.body, peer.signing_key, sha256.hex())


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    out = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        out += chunk
        if len(out) > MAX_ANSWER_BYTES:
            raise hs.SignatureRefused("the peer's answer is too large")
    return bytes(out)
