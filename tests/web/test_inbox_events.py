"""GET /inbox/events, the live inbox's stream, and the listing fragment its script fetches: behind
the session gate, only the viewer's own agency's news, never a packet's details, ended with the
session without extending it, bounded per session, and closed cleanly when the server stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.model.packets import Draft
from hub.store.schema import web_sessions
from hub.web import inbox_events
from hub.web.app import build_app
from hub.web.security import CSP
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for
from tests.web.conftest import Client, Web, fetch


@asynccontextmanager
async def _stream(client: Client) -> AsyncIterator[aiohttp.ClientResponse]:
    async with client.get("/inbox/events", allow_redirects=False) as resp:
        assert resp.status == 200
        assert await _event(resp) == b"retry: 3000"
        yield resp


async def _event(resp: aiohttp.ClientResponse, within: float = 2.0) -> bytes | None:
    """The next block of the stream (an event or a comment), or None if nothing came."""
    try:
        block = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), within)
    except TimeoutError:
        return None
    return block.strip()


async def _send(web: Web, to: str) -> str:
    police = await actor_for(web.hub, "dby.police")
    draft = Draft(
        case_id=await web.case_id("Harlow"),
        recipient_agency_ids=(await web.agency_id(to),),
        subject="Harlow: proposed address",
        body="Is 12 Example Road suitable?",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )
    return (await web.hub.packets.send(police, draft)).id


async def test_without_a_session_there_is_no_stream(web: Web) -> None:
    status, location, _ = await fetch(web.client, "/inbox/events")
    assert (status, location) == (303, "/login")


async def test_a_role_without_an_inbox_is_refused(web: Web) -> None:
    admin = await web.login("dby.admin")
    async with admin.get("/inbox/events", allow_redirects=False) as resp:
        assert resp.status == 403
        assert resp.content_type == "text/html"


async def test_a_reader_hears_of_its_own_agencys_packets_only(web: Web) -> None:
    housing = await web.login("dby.housing")
    probation = await web.login("dby.probation", await web.new_client())
    async with _stream(housing) as heard_by_housing, _stream(probation) as heard_by_probation:
        headers = heard_by_housing.headers
        assert headers["Content-Type"] == "text/event-stream"
        assert headers["Cache-Control"] == "no-store"
        assert headers["Content-Security-Policy"] == CSP
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Accel-Buffering"] == "no"

        packet_id = await _send(web, "DBY-HOUSING")
        event = await _event(heard_by_housing)
        assert event == b"event: inbox\ndata: changed"
        assert await _event(heard_by_probation, 0.5) is None
        # Nothing about the packet travels on the stream.
        assert packet_id.encode() not in event

        await _send(web, "DBY-PROBATION")
        assert await _event(heard_by_probation) == b"event: inbox\ndata: changed"
        assert await _event(heard_by_housing, 0.5) is None


async def test_the_stream_ends_with_the_session_and_never_extends_it(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_events, "HEARTBEAT_SECONDS", 0.1)
    housing = await web.login("dby.housing")

    async def expiry() -> object:
        async with web.hub.db.read() as conn:
            return (await conn.execute(select(web_sessions.c.expires_at))).scalar_one()

    async with _stream(housing) as resp:
        before = await expiry()
        # Time passes with the page open: the stream wakes and checks, and the session's
        # idle time runs on (a page left open does not keep its reader signed in).
        web.clock.advance(timedelta(minutes=5))
        for _ in range(3):
            assert await _event(resp) == b": keep-alive"
        assert await expiry() == before
        web.clock.advance(web.hub.config.sessions.idle_timeout)
        assert await _event(resp) == b"event: signed-out\ndata: signed-out"
        assert await resp.content.read() == b""  # and the stream is over


async def test_signing_out_ends_the_stream(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_events, "HEARTBEAT_SECONDS", 0.1)
    housing = await web.login("dby.housing")
    async with _stream(housing) as resp:
        await web.logout(housing)
        blocks = [await _event(resp) for _ in range(3)]
        assert b"event: signed-out\ndata: signed-out" in blocks
        assert await resp.content.read() == b""


async def test_a_session_keeps_a_few_streams_and_lets_the_oldest_go(web: Web) -> None:
    housing = await web.login("dby.housing")
    async with _stream(housing) as oldest, _stream(housing), _stream(housing), _stream(housing):
        assert await _event(oldest) == b"event: superseded\ndata: superseded"
        assert await oldest.content.read() == b""
        assert web.hub.inbox_events.open_streams == 3


async def test_the_server_stops_promptly_with_streams_open(web: Web) -> None:
    server = TestServer(build_app(web.hub))
    await server.start_server()
    origin = str(server.make_url("/").origin())
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
    client: Client = TestClient(server, cookie_jar=jar)
    try:
        await web.login("dby.housing", client)
        async with _stream(client) as resp:
            started = time.monotonic()
            await server.close()  # aiohttp's graceful shutdown waits for open requests
            assert time.monotonic() - started < 5
            assert await resp.content.read() == b""
    finally:
        await client.close()


async def test_the_inbox_answers_its_script_with_the_parts_that_change(web: Web) -> None:
    housing = await web.login("dby.housing")
    page = (await fetch(housing, "/inbox"))[2]
    assert '<div id="listing-results" data-live-events="/inbox/events">' in page
    assert 'id="live-status" role="status" aria-live="polite"' in page
    assert '<script type="module" src="/static/inbox-live.js"></script>' in page
    packet_id = await _send(web, "DBY-HOUSING")
    async with housing.get("/inbox?type=note", headers={"X-Hub-Fragment": "listing"}) as resp:
        assert resp.status == 200
        assert resp.headers["Vary"] == "X-Hub-Fragment"
        assert resp.headers["Content-Security-Policy"] == CSP
        fragment = await resp.text()
    assert "<html" not in fragment and "<script" not in fragment
    for region in ('id="packet-tabs"', 'id="unread-count"', 'id="listing-results"'):
        assert region in fragment
    assert f'id="row-{packet_id}"' in fragment
    # Sent has no live updates.
    outbox = (await fetch(await web.login("dby.police", await web.new_client()), "/outbox"))[2]
    assert "inbox-live.js" not in outbox and "data-live-events" not in outbox
