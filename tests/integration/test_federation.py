"""Two hubs as separate processes (own data directory, database, KEK and hub key) on loopback.

They pin each other with the CLI (``peer self`` / ``peer add``), fetch and verify each other's
directory documents, and make signed calls; the receiving hub refuses unsigned, unpinned,
tampered, replayed and stale calls (with signed refusals), the client refuses an answer with a bad
signature, and an upload cut mid-body leaves nothing behind while a retry goes through.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hub.client.peer import PeerClient, PeerRefused
from hub.clock import Clock, ManualClock, SystemClock
from hub.config import Config
from hub.crypto import http_signatures as hs
from hub.crypto.agency_keys import KeyPurpose, generate_local_pair
from hub.demo import seed
from hub.services.peers import HubKey, Peer, PeerNotPinned
from hub.wiring import Hub, initialise
from tests.cli_runner import run_command
from tests.conftest import make_config

ENV = {**os.environ, "MAPPA_HUB_LOG_LEVEL": "WARNING"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_command(list(args), env=ENV)


@dataclass(frozen=True)
class Side:
    name: str
    data: Path
    port: int
    config: Config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def incoming(self) -> Path:
        return self.data / "federation" / "incoming"


async def _prepare(side: Side) -> None:
    await initialise(side.config)
    hub = await Hub.open(side.config)
    try:
        await seed(hub)
    finally:
        await hub.close()


async def _pin(on: Side, name: str, peer: Side) -> None:
    other = await Hub.open(peer.config)
    try:
        key = (await other.peers.hub_key()).public
    finally:
        await other.close()
    hub = await Hub.open(on.config)
    try:
        await hub.peers.add(None, name, peer.url, key)
    finally:
        await hub.close()


def _wait_for(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


@contextmanager
def serving(sides: Sequence[Side]) -> Iterator[None]:
    """``mappa-hub serve`` for each side, as its own process on its port, stopped on exit."""
    command = [sys.executable, "-m", "hub", "serve"]
    servers = [
        subprocess.Popen(
            [*command, "--data-dir", str(s.data), "--port", str(s.port)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in sides
    ]
    try:
        for side, server in zip(sides, servers, strict=True):
            _wait_for(side.port, server)
        yield
    finally:
        for server in servers:
            server.terminate()
            server.communicate(timeout=30)


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    sides = []
    for name in ("north", "south"):
        data = tmp_path_factory.mktemp(name) / "data"
        config = make_config(data, f"sqlite:///{data / 'hub.sqlite3'}")
        sides.append(Side(name, data, _free_port(), config))
    a, b = sides
    for side in sides:
        asyncio.run(_prepare(side))
    # North's operator writes its key file and south's pins it with the CLI (fingerprint
    # checked: --yes); south is pinned on north through the service the CLI calls.
    key_file = a.data.parent / "north.key"
    out = _cli("peer", "self", "--data-dir", str(a.data), "--name", "north", "--url", a.url,
               "--out", str(key_file))  # fmt: skip
    assert out.returncode == 0, out.stderr
    added = _cli("peer", "add", "north", a.url, "--key", str(key_file), "--yes",
                 "--data-dir", str(b.data))  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "fingerprint" in added.stdout
    asyncio.run(_pin(a, "south", b))
    with serving(sides):
        yield a, b


@dataclass
class Opened:
    hub: Hub
    key: HubKey
    peer: Peer


@pytest.fixture
async def north(hubs: tuple[Side, Side]) -> AsyncIterator[Opened]:
    """North's hub in this process (its database, beside its server), south as it pinned it."""
    hub = await Hub.open(hubs[0].config)
    try:
        yield Opened(hub, await hub.peers.hub_key(), await hub.peers.get("south"))
    finally:
        await hub.close()


def test_each_hub_fetches_and_verifies_the_others_directory(hubs: tuple[Side, Side]) -> None:
    a, b = hubs
    fetched = _cli("peer", "fetch-directory", "south", "--data-dir", str(a.data))
    assert fetched.returncode == 0, fetched.stderr
    assert "directory of south:" in fetched.stdout

    async def compare() -> None:
        north, south = await Hub.open(a.config), await Hub.open(b.config)
        try:
            agencies = await north.peers.receiving_agencies("south")
            assert next(
                p for p in await north.peers.list() if p.name == "south"
            ).directory_fetched_at
            with pytest.raises(PeerNotPinned):
                await north.peers.receiving_agencies("west")
            police = next(x for x in await south.directory.agencies() if x.code == "DBY-POLICE")
            keys = await south.keyring.active(police.id)
        finally:
            await north.close()
            await south.close()
        listed = next(x for x in agencies if x.code == "DBY-POLICE")
        assert listed.encryption.public == keys.encryption.public_key
        assert listed.signing.key_id == keys.signing.key_id
        assert listed.jurisdiction.value == "england-and-wales"

    asyncio.run(compare())


def _raw_headers(key: HubKey, method: str, url: str, body: bytes, clock: Clock) -> dict[str, str]:
    headers = {"Content-Digest": hs.digest_of(body)}
    hs.sign_request(method, url, headers, key.private, key.fingerprint,
                    created=clock.now(), nonce=hs.new_nonce())  # fmt: skip
    return headers


async def test_signed_calls_are_accepted_and_bad_ones_refused(
    hubs: tuple[Side, Side], north: Opened
) -> None:
    _, b = hubs
    async with PeerClient(north.key, SystemClock()) as client:
        answer = await client.get(north.peer, "/federation/v1/directory")
        assert answer.status == 200 and b'"mappa-hub-directory"' in answer.body

    url = b.url + "/federation/v1/directory"
    stranger = generate_local_pair(KeyPurpose.SIGNING)
    unpinned = HubKey(stranger.public, hs.fingerprint(stranger.public), stranger.private)
    stale = ManualClock(SystemClock().now() - timedelta(minutes=10))
    replayed = _raw_headers(north.key, "GET", url, b"", SystemClock())
    cases = {
        "unsigned": {"Content-Digest": hs.digest_of(b"")},
        "unpinned key": _raw_headers(unpinned, "GET", url, b"", SystemClock()),
        "stale created": _raw_headers(north.key, "GET", url, b"", stale),
        "signed for another path": _raw_headers(north.key, "GET", url + "x", b"", SystemClock()),
    }
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=replayed) as first:
            assert first.status == 200
        cases["replayed nonce"] = replayed
        for what, headers in cases.items():
            async with session.get(url, headers=headers) as resp:
                body = await resp.read()
                assert resp.status == 401, what
                assert b"signature_refused" in body, what
                # Refusals are signed by the receiving hub too (fresh nonce: nothing to bind).
                assert resp.headers["Signature-Input"].startswith("hub=("), what
        # A body that is not the one signed (Content-Digest): refused, nothing kept.
        upload = b.url + "/federation/v1/transfers"
        headers = _raw_headers(north.key, "POST", upload, b"the bundle", SystemClock())
        async with session.post(upload, data=b"the bundlE", headers=headers) as resp:
            assert resp.status == 401 and b"signature_refused" in await resp.read()
    assert list(b.incoming.iterdir()) == []


@pytest.fixture
async def impostor() -> AsyncIterator[str]:
    """A server answering at a peer's address with answers the peer's key did not sign."""
    liar = generate_local_pair(KeyPurpose.SIGNING)

    async def handler(request: web.Request) -> web.Response:
        body = b'{"agencies":[]}'
        headers = {"Content-Digest": hs.digest_of(body)}
        if request.path.endswith("unsigned"):
            return web.Response(body=body, headers=headers)
        hs.sign_response(200, headers, request.method, str(request.url), liar.private,
                         hs.fingerprint(liar.public), created=SystemClock().now(), nonce=hs.new_nonce())  # fmt: skip
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_client_refuses_an_answer_the_peer_did_not_sign(
    north: Opened, impostor: str
) -> None:
    posing = replace(north.peer, url=impostor)
    async with PeerClient(north.key, SystemClock()) as client:
        for path in ("/federation/v1/directory", "/federation/v1/unsigned"):
            with pytest.raises(hs.SignatureRefused):
                await client.get(posing, path)


async def test_a_cut_upload_leaves_nothing_and_a_retry_goes_through(
    hubs: tuple[Side, Side], north: Opened, tmp_path: Path
) -> None:
    _, b = hubs
    bundle = tmp_path / "bundle.tar"
    bundle.write_bytes(os.urandom(3 * 1024 * 1024))
    sha256 = hashlib.sha256(bundle.read_bytes()).digest()
    url = b.url + "/federation/v1/transfers"
    async with PeerClient(north.key, SystemClock()) as client:
        headers, _ = client.signed_headers(
            "POST", url, hs.content_digest(sha256), "application/x-tar"
        )
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /federation/v1/transfers HTTP/1.1\r\nHost: 127.0.0.1:{b.port}\r\n{head}"
        f"Content-Length: {bundle.stat().st_size}\r\n\r\n"
    ).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", b.port)
    writer.write(request + bundle.read_bytes()[: 1024 * 1024])
    await writer.drain()
    await asyncio.sleep(0.3)
    assert len(list(b.incoming.iterdir())) == 1  # the part being received
    writer.close()  # the connection drops mid-body
    await writer.wait_closed()
    deadline = time.monotonic() + 10
    while list(b.incoming.iterdir()) and time.monotonic() < deadline:  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.05)
    assert list(b.incoming.iterdir()) == []

    # The retry travels whole (the digest checks out) and reaches the transfer adapter, which
    # refuses these random bytes as a bundle: signed, with its reason, and nothing left behind.
    async with PeerClient(north.key, SystemClock()) as client:
        with pytest.raises(PeerRefused) as refused:
            await client.send_bundle(north.peer, bundle)
    assert (refused.value.peer_status, refused.value.problem_code) == (422, "bundle_refused")
    assert list(b.incoming.iterdir()) == []
