"""Error pages: GOV.UK's patterns in plain words, a way back the user may take, and an unexpected
failure as a bare 500 page with a reference, never a traceback."""

from __future__ import annotations

import logging
import re

import pytest

from hub.web.security import CSP
from tests.web.conftest import Web, csrf_from, fetch, post


async def test_unhandled_error_is_a_500_with_a_reference_only(
    web: Web, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await web.login("dby.auditor")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail: database password is hunter2")

    monkeypatch.setattr(web.hub.access, "overview", broken)
    with caplog.at_level(logging.ERROR, logger="hub.web"):
        async with web.client.get("/audit") as resp:
            assert resp.status == 500
            html = await resp.text()
            assert resp.headers["Content-Security-Policy"] == CSP
            assert resp.headers["Cache-Control"] == "no-store"

    match = re.search(r"Something went wrong on our side\. Reference: ([0-9a-f]{12})\.", html)
    assert match is not None
    assert "<title>Sorry, there is a problem with the service - MAPPA Hub</title>" in html
    assert '<p class="govuk-body">Try again later.</p>' in html
    assert f'<strong id="error-reference">{match.group(1)}</strong>' in html
    assert "hunter2" not in html
    assert "Traceback" not in html
    assert "RuntimeError" not in html
    # The reference ties the page to the full story in the log.
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None


async def test_page_not_found_says_what_to_check_and_leads_to_the_roles_home(web: Web) -> None:
    client = await web.login("dby.auditor")
    status, _, html = await fetch(client, "/no/such/page")
    assert status == 404
    assert "<title>Page not found - MAPPA Hub</title>" in html
    assert "If you typed the web address, check it is correct." in html
    assert '<a class="govuk-link" href="/audit" id="error-back">Go to access reports</a>' in html
    assert "Back to the inbox" not in html and 'href="/inbox"' not in html


async def test_a_refused_action_says_so_in_words_and_who_you_are(web: Web) -> None:
    client = await web.login("dby.police")
    status, _, html = await fetch(client, "/disclosures")
    assert status == 403
    assert "You cannot view this page" in html
    assert "You are signed in as DS Mark Ellis (Practitioner, Derbyshire Constabulary)." in html
    assert '<a class="govuk-link" href="/inbox" id="error-back">Go to your inbox</a>' in html
    # A refused form (a POST) is "You cannot do that", not a page the user tried to view.
    status, _, html = await post(client, "/admin/tokens/1/revoke", {"_csrf": csrf_from(html)})
    assert status == 403 and '<h1 class="govuk-heading-l">You cannot do that</h1>' in html


async def test_signed_out_the_way_back_is_to_sign_in(web: Web) -> None:
    status, _, html = await fetch(web.client, "/login")
    assert status == 200
    # A sign-in form posted without its token: refused before anyone is signed in.
    status, _, html = await post(web.client, "/login", {"username": "x", "password": "y"})
    assert status == 403
    assert '<a class="govuk-link" href="/login" id="error-back">Sign in</a>' in html
    assert "You are signed in as" not in html
