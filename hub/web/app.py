"""The aiohttp application: the middleware stack in one visible place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from hub.web import (
    accessibility,
    account,
    admin,
    admin_email,
    admin_keys,
    admin_people,
    audit,
    case_events,
    casework,
    compose,
    compose_drafts,
    disclosures,
    health,
    held_shares,
    inbox,
    inbox_events,
    login,
    notification_settings,
    notifications,
    packet_page,
    receipts,
    requests,
    statistics,
    transfers,
    visor,
)
from hub.web.api import held_shares as api_held_shares
from hub.web.api import sealed as api_sealed
from hub.web.api import statistics as api_statistics
from hub.web.api import transfers as api_transfers
from hub.web.api import v1 as api_v1
from hub.web.errors import error_middleware
from hub.web.federation import add_routes as add_federation_routes
from hub.web.form_body import form_body_middleware
from hub.web.keys import COOKIE_NAME, HUB, RATE_LIMITER, TEMPLATES
from hub.web.ratelimit import RateLimiter
from hub.web.render import make_environment
from hub.web.security import csrf_middleware, security_headers_middleware
from hub.web.sessions import session_middleware
from hub.wiring import Hub

STATIC_DIR = Path(__file__).parent / "static"


async def _listen_for_new_packets(app: web.Application) -> AsyncIterator[None]:
    await app[HUB].inbox_events.start()
    yield
    await app[HUB].inbox_events.stop()


async def _end_live_streams(app: web.Application) -> None:
    app[HUB].inbox_events.end_streams()


def build_app(hub: Hub) -> web.Application:
    secure = hub.config.cookie_secure
    app = web.Application(
        # Order matters: errors outermost so that every failure is rendered (with headers).
        middlewares=[
            security_headers_middleware(hsts=secure),
            error_middleware,
            session_middleware,
            form_body_middleware(),  # a malformed form is a 400, before the CSRF check reads it
            csrf_middleware,
        ],
        client_max_size=hub.config.limits.max_request_bytes,
    )
    app[HUB] = hub
    app[TEMPLATES] = make_environment()
    limits = hub.config.limits
    limiter = RateLimiter(hub.db, limits.api_rate_per_second, limits.api_burst)
    app[RATE_LIMITER] = limiter

    async def close_limiter(_app: web.Application) -> None:
        limiter.close()

    app.on_cleanup.append(close_limiter)
    # __Host- binds the cookie to this exact origin (needs Secure, Path=/ and no Domain).
    app[COOKIE_NAME] = "__Host-mappa-session" if secure else "mappa-session"
    app.add_routes(health.routes)
    app.add_routes(login.routes)
    app.add_routes(inbox.routes)
    app.add_routes(inbox_events.routes)
    # Live inboxes: each process listens while it serves (hub.services.inbox_events), and ends
    # the open streams first when it stops, since aiohttp waits for open requests to finish.
    app.cleanup_ctx.append(_listen_for_new_packets)
    app.on_shutdown.append(_end_live_streams)
    app.add_routes(packet_page.routes)
    app.add_routes(notifications.routes)
    app.add_routes(compose.routes)
    app.add_routes(compose_drafts.routes)
    app.add_routes(requests.routes)
    app.add_routes(disclosures.routes)
    app.add_routes(held_shares.routes)
    app.add_routes(casework.routes)
    app.add_routes(case_events.routes)
    app.add_routes(visor.routes)
    app.add_routes(api_v1.routes)
    app.add_routes(api_sealed.routes)
    app.add_routes(api_held_shares.routes)
    app.add_routes(api_transfers.routes)
    app.add_routes(api_statistics.routes)
    app.add_routes(transfers.routes)
    app.add_routes(audit.routes)
    app.add_routes(statistics.routes)
    app.add_routes(admin.routes)
    app.add_routes(admin_keys.routes)
    app.add_routes(admin_email.routes)
    app.add_routes(admin_people.routes)
    app.add_routes(account.routes)
    app.add_routes(notification_settings.routes)
    app.add_routes(receipts.routes)
    app.add_routes(accessibility.routes)
    add_federation_routes(app)  # hub-to-hub: signed calls, no session (hub.web.federation)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    return app
