"""GET /inbox/events: the inbox page's live updates, as server-sent events.

Behind the one session gate like every page (no session: the redirect to sign in, which an
EventSource takes as a failure and does not retry), and for the roles that read packets, as the
inbox itself. The stream names no packet: ``inbox`` says the viewer's agency has new packets,
``refresh`` that some may have been missed; the page then fetches its own listing through the
usual checks. A comment every 15 s keeps proxies from closing an idle stream and finds pages
that have gone. The stream ends with the session (``signed-out``: at its expiry, or within a
heartbeat of a sign-out elsewhere), and never extends it.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from hub.errors import NotAuthenticated
from hub.services.auth import Session
from hub.services.inbox_events import INBOX, REFRESH, SHUTDOWN, SUPERSEDED, Subscription
from hub.services.packet_listing import require_reader
from hub.web.keys import ACTOR, HUB, SESSION
from hub.web.security import apply_to_stream
from hub.wiring import Hub

log = logging.getLogger("hub.web.inbox_events")
routes = web.RouteTableDef()

HEARTBEAT_SECONDS = 15.0
# EventSource's wait before reconnecting after the stream drops (a restart, a network blip).
RETRY_MILLISECONDS = 3000
_MESSAGES = {
    INBOX: b"event: inbox\ndata: changed\n\n",
    REFRESH: b"event: refresh\ndata: refresh\n\n",
    SUPERSEDED: b"event: superseded\ndata: superseded\n\n",
}
_SIGNED_OUT = b"event: signed-out\ndata: signed-out\n\n"
_HEARTBEAT = b": keep-alive\n\n"


@routes.get("/inbox/events", allow_head=False)
async def inbox_events(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    require_reader(actor)
    session = request.get(SESSION)
    if session is None:  # pragma: no cover - an actor off the API is always a session's
        raise NotAuthenticated("Please sign in.")
    # The owner is the session's digest: the cookie itself stays out of memory held this long.
    with hub.inbox_events.subscribe(actor.agency.id, session.row.token_hash) as subscription:
        response = web.StreamResponse(
            headers={
                # nginx would otherwise hold events back in its buffers.
                "X-Accel-Buffering": "no",
            }
        )
        response.content_type = "text/event-stream"
        apply_to_stream(request, response)
        await response.prepare(request)
        try:
            await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
            await _stream(hub, session, subscription, response)
            await response.write_eof()
        except ConnectionError:  # the page went away
            pass
        except Exception as exc:
            # The database went (a restart, say): end the stream; the page reconnects shortly
            # and fetches its listing again.
            log.warning("live inbox stream ended by %s", type(exc).__name__)
    return response


async def _stream(
    hub: Hub, session: Session, subscription: Subscription, response: web.StreamResponse
) -> None:
    loop = asyncio.get_running_loop()
    until = await hub.auth.live_until(session)
    checked = loop.time()
    while until is not None:
        left = (until - hub.clock.now()).total_seconds()
        kind = await subscription.next(min(HEARTBEAT_SECONDS, left))
        if kind == SHUTDOWN:
            return
        # The session is read again at each heartbeat and when it would lapse, never extended:
        # signed out elsewhere, lapsed or the account closed, the stream ends within a heartbeat.
        # Not on every event: news for a busy agency reaches all its open pages at once rather
        # than after a database read for each.
        due = loop.time() - checked >= HEARTBEAT_SECONDS or hub.clock.now() >= until
        if kind is None or due:
            until, checked = await hub.auth.live_until(session), loop.time()
            if until is None:
                break
        await response.write(_HEARTBEAT if kind is None else _MESSAGES[kind])
        if kind == SUPERSEDED:
            return
    await response.write(_SIGNED_OUT)
