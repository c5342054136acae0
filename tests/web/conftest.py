"""The web app on a real SQLite file, served over loopback by aiohttp's test server.

``web`` is the demo world behind a running server plus one browser-like client; ``start_web`` builds
the same with other limits. Clients keep a cookie jar that treats the test server's origin as
secure, so the ``__Host-`` (Secure) session cookie travels over plain http as it would over TLS.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pyotp
import pytest
from aiohttp.abc import AbstractCookieJar
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request
from sqlalchemy import func, select

from hub.config import Limits
from hub.crypto import totp
from hub.demo import DemoLogin
from hub.store import ledger as ledger_store
from hub.store.schema import packets
from hub.web.app import build_app
from hub.wiring import Hub
from tests.conftest import (
    NECESSITY,
    SHARE_CATEGORIES,
    TickingClock,
    agency_id,
    case_id,
    make_config,
)
from tests.seeded_world import SeededWorlds, open_seeded

COOKIE = "__Host-mappa-session"
LOGIN_FAILED = "Sign-in failed. Check your username, password and code"
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')

Client = TestClient[Request, Application]


def csrf_from(html: str) -> str:
    """The CSRF token from a page's first form."""
    match = _CSRF.search(html)
    assert match is not None, "no _csrf field on the page"
    return match.group(1)


async def fetch(client: Client, path: str, **kwargs: object) -> tuple[int, str, str]:
    """GET without following redirects: (status, Location header or "", body text)."""
    async with client.get(path, allow_redirects=False, **kwargs) as resp:  # type: ignore[arg-type]
        return resp.status, resp.headers.get("Location", ""), await resp.text()


async def post(client: Client, path: str, data: object, **kwargs: object) -> tuple[int, str, str]:
    """POST without following redirects: (status, Location header or "", body text)."""
    async with client.post(path, data=data, allow_redirects=False, **kwargs) as resp:  # type: ignore[arg-type]
        return resp.status, resp.headers.get("Location", ""), await resp.text()


def compose_form(
    csrf: str | None,
    *,
    case: object,
    recipients: list[object],
    purpose: str = "risk-management",
    lawful_basis: str = "cja2003-s325",
    subject: str = "Address check before release",
    body: str = "Please confirm whether the proposed address is suitable.",
    attachments: list[tuple[str, bytes]] | None = None,
    categories: tuple[str, ...] = SHARE_CATEGORIES,
    necessity: dict[str, str] | None = None,
    action: str = "send",
    extra: dict[str, str] | None = None,
) -> aiohttp.FormData:
    """The compose form as a browser sends it (multipart/form-data); ``csrf=None`` leaves it out."""
    form = aiohttp.FormData(default_to_multipart=True)
    if csrf is not None:
        form.add_field("_csrf", csrf)
    form.add_field("case", str(case))
    for recipient in recipients:
        form.add_field("recipients", str(recipient))
    form.add_field("purpose", purpose)
    form.add_field("lawful_basis", lawful_basis)
    form.add_field("subject", subject)
    form.add_field("body", body)
    for category in categories:
        form.add_field("categories", category)
    for part, text in (NECESSITY if necessity is None else necessity).items():
        form.add_field(f"necessity_{part}", text)
    for name, value in (extra or {}).items():
        form.add_field(name, value)
    form.add_field("action", action)
    for filename, data in attachments or []:
        # A file object, as a browser streams it (raw bytes over 1 MiB make aiohttp warn).
        form.add_field(
            "attachments", io.BytesIO(data), filename=filename, content_type="text/plain"
        )
    return form


def session_cookie(client: Client) -> str | None:
    """The session cookie value the client would send now, if any."""
    for cookie in client.session.cookie_jar:
        if cookie.key == COOKIE:
            return cookie.value
    return None


@dataclass
class Web:
    hub: Hub
    clock: TickingClock
    logins: dict[str, DemoLogin]
    server: TestServer
    client: Client
    _stack: AsyncExitStack = field(repr=False)

    @property
    def origin(self) -> str:
        return str(self.server.make_url("/").origin())

    async def new_client(self, *, cookies: bool = True) -> Client:
        """Another browser on the same server (``cookies=False``: sends only what it is given)."""
        jar: AbstractCookieJar = (
            aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[self.origin])
            if cookies
            else aiohttp.DummyCookieJar()
        )
        client: Client = TestClient(self.server, cookie_jar=jar)
        await client.start_server()
        self._stack.push_async_callback(client.close)
        return client

    def totp_code(self, username: str, offset: timedelta = timedelta(0)) -> str:
        secret = pyotp.parse_uri(self.logins[username].totp_uri).secret
        return totp.code_at(secret, self.clock.now() + offset)

    async def password_step(
        self, client: Client, username: str, password: str | None = None
    ) -> tuple[int, str, str]:
        """GET /login and POST the credentials; returns the POST's (status, location, text)."""
        status, _, html = await fetch(client, "/login")
        assert status == 200
        form = {
            "_csrf": csrf_from(html),
            "username": username,
            "password": self.logins[username].password if password is None else password,
        }
        return await post(client, "/login", form)

    async def totp_step(self, client: Client, code: str) -> tuple[int, str, str]:
        status, _, html = await fetch(client, "/login/totp")
        assert status == 200
        return await post(client, "/login/totp", {"_csrf": csrf_from(html), "code": code})

    async def login(self, username: str, client: Client | None = None) -> Client:
        """Sign a demo user in (password, then the current TOTP code); return the client."""
        client = client or self.client
        status, location, _ = await self.password_step(client, username)
        assert (status, location) == (303, "/login/totp")
        status, location, _ = await self.totp_step(client, self.totp_code(username))
        assert (status, location) == (303, "/")
        return client

    async def logout(self, client: Client | None = None) -> None:
        client = client or self.client
        _, landing, _ = await fetch(client, "/")  # /inbox, or /audit for an auditor
        status, _, html = await fetch(client, landing)
        assert status == 200
        status, location, _ = await post(client, "/logout", {"_csrf": csrf_from(html)})
        assert (status, location) == (303, "/login")

    async def compose_csrf(self, client: Client | None = None) -> str:
        status, _, html = await fetch(client or self.client, "/compose")
        assert status == 200
        return csrf_from(html)

    async def packet_count(self) -> int:
        async with self.hub.db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(packets))).scalar_one())

    async def ledger_seq(self) -> int:
        async with self.hub.db.read() as conn:
            seq, _ = await ledger_store.head(conn)
        return seq

    async def last_event(self) -> str:
        """The event of the newest entry on the log."""
        async with self.hub.db.read() as conn:
            seq, _ = await ledger_store.head(conn)
            [entry] = await ledger_store.entries_after(conn, seq - 1, 1)
        return str(entry["event"])

    async def agency_id(self, code: str) -> int:
        return await agency_id(self.hub, code)

    async def case_id(self, family_name: str) -> int:
        return await case_id(self.hub, family_name)


StartWeb = Callable[..., Awaitable[Web]]


@pytest.fixture
async def start_web(
    tmp_path: Path, sqlite_url: str, clock: TickingClock, seeded_worlds: SeededWorlds
) -> AsyncIterator[StartWeb]:
    """Build the demo hub and serve it; ``limits`` replaces the default upload limits."""
    async with AsyncExitStack() as stack:

        async def start(limits: Limits | None = None) -> Web:
            config = make_config(tmp_path / "data", sqlite_url)
            if limits is not None:
                config = dataclasses.replace(config, limits=limits)
            hub, seeded = await open_seeded(seeded_worlds, config, clock)
            stack.push_async_callback(hub.close)
            logins = {login.username: login for login in seeded}
            server = TestServer(build_app(hub))
            await server.start_server()
            stack.push_async_callback(server.close)
            web = Web(hub, clock, logins, server, client=None, _stack=stack)  # type: ignore[arg-type]
            web.client = await web.new_client()
            return web

        yield start


@pytest.fixture
async def web(start_web: StartWeb) -> Web:
    return await start_web()


HUB_SCRIPT = '<script type="module" src="/static/hub.js"></script>'
# The inbox page's own second module (the live inbox), on that page only.
LIVE_INBOX_SCRIPT = '<script type="module" src="/static/inbox-live.js"></script>'


def without_hub_script(html: str) -> str:
    """The page less its legitimate scripts (the first-party module every page loads, and the
    inbox's live updates), so a test can assert that no other script, injected or inline, is on
    it."""
    assert html.count(HUB_SCRIPT) <= 1
    assert html.count(LIVE_INBOX_SCRIPT) <= 1
    return html.replace(HUB_SCRIPT, "").replace(LIVE_INBOX_SCRIPT, "")
