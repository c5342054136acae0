"""Whose address a sign-in attempt counts against: the connection's peer, or - only when that
peer is a configured proxy - the first address from the right of X-Forwarded-For that is not a
proxy. Served by a real aiohttp server over loopback; what the client claims is never believed."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.config import IPNetwork
from hub.services.login_throttle import address_key
from hub.web.client_address import client_address

BALANCERS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/24"))


async def _served(
    proxies: tuple[IPNetwork, ...],
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=client_address(request, proxies) or "unknown")

    app = web.Application()
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def direct() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async for client in _served(()):
        yield client


@pytest.fixture
async def behind_proxy() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async for client in _served(BALANCERS):
        yield client


async def _seen(client: TestClient[web.Request, web.Application], forwarded: str | None) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    async with client.get("/", headers=headers) as resp:
        return await resp.text()


async def test_without_a_configured_proxy_the_header_is_ignored(
    direct: TestClient[web.Request, web.Application],
) -> None:
    assert await _seen(direct, None) == "127.0.0.1"
    assert await _seen(direct, "203.0.113.9") == "127.0.0.1"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        (None, "127.0.0.1"),  # the proxy itself
        ("203.0.113.9", "203.0.113.9"),
        # The client's own claim on the left is ignored: the proxy appended the real address.
        ("198.51.100.1, 203.0.113.9", "203.0.113.9"),
        ("spoofed, 203.0.113.9", "203.0.113.9"),
        # Through a load balancer (trusted) then the local proxy: the hop before them.
        ("203.0.113.9, 10.0.0.5", "203.0.113.9"),
        ("10.0.0.5, 10.0.0.6", "127.0.0.1"),
        ("203.0.113.9, not-an-address", "unknown"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
    ],
)
async def test_behind_a_configured_proxy_the_rightmost_untrusted_hop_is_the_client(
    behind_proxy: TestClient[web.Request, web.Application], forwarded: str | None, client: str
) -> None:
    assert await _seen(behind_proxy, forwarded) == client


def test_what_is_counted_of_an_address() -> None:
    assert address_key("203.0.113.9") == "203.0.113.9"
    # One IPv6 subscriber holds a /64: counted as one.
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::7")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"
    # Loopback (a proxy that passed no client) and garbage: no one client to count.
    assert address_key("127.0.0.1") is None and address_key("::1") is None
    assert address_key("nonsense") is None and address_key(None) is None
