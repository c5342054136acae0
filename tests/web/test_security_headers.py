"""Security headers on every kind of response: pages, redirects, error pages and static files."""

from __future__ import annotations

import re

from multidict import CIMultiDictProxy

from hub.web.security import CSP
from tests.web.conftest import Client, Web

EXPECTED = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


async def _headers(client: Client, path: str, status: int) -> CIMultiDictProxy[str]:
    async with client.get(path, allow_redirects=False) as resp:
        assert resp.status == status
        await resp.read()
        return resp.headers


def _assert_security_headers(headers: CIMultiDictProxy[str], *, page: bool = True) -> None:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, name
    if page:
        assert headers.get("Cache-Control") == "no-store"


def test_csp_allows_no_script_and_nothing_inline() -> None:
    assert "default-src 'none'" in CSP
    # Script only from this origin: the hub's own module and the vendored GOV.UK/MOJ Frontend.
    assert "script-src 'self';" in CSP
    assert "unsafe-inline" not in CSP
    assert "unsafe-eval" not in CSP
    assert "frame-ancestors 'none'" in CSP


async def test_on_the_login_page(web: Web) -> None:
    _assert_security_headers(await _headers(web.client, "/login", 200))


async def test_on_a_signed_in_page(web: Web) -> None:
    await web.login("dby.housing")
    headers = await _headers(web.client, "/inbox", 200)
    _assert_security_headers(headers)
    assert headers["Content-Type"].startswith("text/html")


async def test_on_a_redirect(web: Web) -> None:
    headers = await _headers(web.client, "/inbox", 303)
    _assert_security_headers(headers)
    assert headers["Location"] == "/login"


async def test_on_a_404_page(web: Web) -> None:
    await web.login("dby.housing")
    async with web.client.get("/no-such-page") as resp:
        assert resp.status == 404
        assert "There is nothing here." in await resp.text()
        _assert_security_headers(resp.headers)


async def test_on_a_405_page(web: Web) -> None:
    _assert_security_headers(await _headers(web.client, "/logout", 405))


async def test_on_a_static_file(web: Web) -> None:
    async with web.client.get("/static/hub.css") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/css")
        assert len(await resp.read()) > 0
        _assert_security_headers(resp.headers, page=False)
        # Static assets may be cached; pages may not.
        assert resp.headers.get("Cache-Control") != "no-store"


async def test_on_a_missing_static_file(web: Web) -> None:
    headers = await _headers(web.client, "/static/missing.css", 404)
    _assert_security_headers(headers, page=False)


async def test_pages_need_no_inline_script_or_style(web: Web) -> None:
    """The CSP would block them, so the templates must not rely on any."""
    await web.login("dby.police")
    for path in ("/inbox", "/outbox", "/compose"):
        async with web.client.get(path) as resp:
            assert resp.status == 200
            html = (await resp.text()).lower()
        # The scripts are external first-party modules (the inbox has its live updates as
        # well); nothing inline.
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, re.S)
        assert scripts == ([""] * 2 if path == "/inbox" else [""]), path
        assert '<script type="module" src="/static/hub.js">' in html, path
        live = '<script type="module" src="/static/inbox-live.js">'
        assert (live in html) == (path == "/inbox"), path
        assert "<style" not in html, path
        assert " style=" not in html, path
        assert "javascript:" not in html, path
