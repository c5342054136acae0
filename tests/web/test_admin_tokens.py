"""The agency admin's API token page: issue (secret shown once), list, revoke; for admins only."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from hub.demo import DemoLogin
from hub.model.directory import Role
from hub.store.schema import api_tokens
from tests.web.conftest import Client, Web, csrf_from, fetch, post

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

_SECRET = re.compile(r'id="token-secret"[^>]*value="(mh_(\d+)_[A-Za-z0-9_-]+)"')


async def issue_form(client: Client, **fields: object) -> aiohttp.FormData:
    status, _, html = await fetch(client, "/admin/tokens")
    assert status == 200, html
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf_from(html))
    form.add_field("name", str(fields.get("name", "Records management system")))
    for scope in fields.get("scopes", ["cases:read", "packets:read"]):  # type: ignore[attr-defined]
        form.add_field("scopes", scope)
    form.add_field("cases", str(fields.get("cases", "")))
    form.add_field("days", str(fields.get("days", "30")))
    form.add_field("role", str(fields.get("role", "practitioner")))
    return form


async def issue(web: Web, client: Client, **fields: object) -> tuple[str, int, str]:
    """Issue through the page: (secret, token id, the result page)."""
    async with client.post(
        "/admin/tokens", data=await issue_form(client, **fields), allow_redirects=False
    ) as resp:
        html = await resp.text()
        assert resp.status == 200, html
        assert resp.headers["Cache-Control"] == "no-store"
    match = _SECRET.search(html)
    assert match is not None, html
    return match.group(1), int(match.group(2)), html


async def api_status(web: Web, secret: str, path: str = "/api/v1/cases") -> int:
    """Call the API as an agency system would: a bearer token and no cookie."""
    client = await web.new_client(cookies=False)
    async with client.get(path, headers={"Authorization": f"Bearer {secret}"}) as resp:
        await resp.read()
        return resp.status


async def token_count(web: Web) -> int:
    async with web.hub.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(api_tokens))).scalar_one())


async def revoke_csrf(client: Client, token_id: int) -> str:
    status, _, html = await fetch(client, "/admin/tokens")
    assert status == 200
    match = re.search(
        rf'action="/admin/tokens/{token_id}/revoke"[^>]*>\s*<input type="hidden" name="_csrf" '
        r'value="([^"]+)"',
        html,
    )
    assert match is not None, html
    return match.group(1)


async def test_issue_use_and_revoke_through_the_page(web: Web) -> None:
    admin = await web.login("dby.admin")
    assert (await fetch(admin, "/"))[1] == "/admin/tokens"  # an admin lands on the tokens
    status, _, html = await fetch(admin, "/admin/tokens")
    assert status == 200 and 'href="/admin/tokens"' in html and 'id="no-tokens"' in html

    harlow = await web.case_id("Harlow")
    reference = next(c.reference for c in await web.hub.cases.visible_to(None) if c.id == harlow)
    secret, token_id, page = await issue(web, admin, cases=f" {reference} ,")
    random_part = secret.split("_", 2)[2]
    assert "shown only this once" in page
    assert await api_status(web, secret) == 200
    client = await web.new_client(cookies=False)
    async with client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}) as resp:
        cases = (await resp.json())["cases"]
    assert [c["id"] for c in cases] == [harlow]  # the case limit from the form

    # The list shows the token, never its secret.
    status, _, html = await fetch(admin, "/admin/tokens")
    assert status == 200
    assert f'id="token-{token_id}"' in html
    assert "Records management system" in html and reference in html
    assert "cases:read" in html and "Read the area&#39;s cases" in html
    assert f'id="token-status-{token_id}">Active<' in html
    assert secret not in html and random_part not in html
    (token,) = await web.hub.tokens.list(None, "DBY-POLICE")
    account = next(u for u in await web.hub.directory.users() if u.id == token.user_id)
    assert account.username in html

    # Revoke: the page says so, and the API refuses the token at once.
    status, location, _ = await post(
        admin, f"/admin/tokens/{token_id}/revoke", {"_csrf": await revoke_csrf(admin, token_id)}
    )
    assert (status, location) == (303, "/admin/tokens?done=revoked")
    status, _, html = await fetch(admin, location)
    assert status == 200 and 'id="notice"' in html and "The token was revoked" in html
    assert f'id="token-status-{token_id}">Revoked<' in html
    assert f'action="/admin/tokens/{token_id}/revoke"' not in html
    assert await api_status(web, secret) == 401


async def test_the_secret_is_shown_once_and_never_logged(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    admin = await web.login("dby.admin")
    with caplog.at_level("DEBUG"):
        secret, token_id, _ = await issue(web, admin)
        status, _, html = await fetch(admin, "/admin/tokens")
    assert status == 200 and f'id="token-{token_id}"' in html
    random_part = secret.split("_", 2)[2]
    assert random_part not in caplog.text
    assert random_part not in html
    assert "issued" in caplog.text  # it is logged, without the secret


async def test_bad_input_shows_the_form_again_and_writes_nothing(web: Web) -> None:
    admin = await web.login("dby.admin")
    for fields, message in [
        ({"scopes": []}, "at least one scope"),
        ({"scopes": ["cases:read", "root"]}, "Unknown scope"),
        ({"days": "0"}, "1 to 365 days"),
        ({"days": "366"}, "1 to 365 days"),
        ({"days": "99999999999999999999"}, "1 to 365 days"),
        ({"days": "-5"}, "1 to 365 days"),
        ({"days": "½"}, "1 to 365 days"),
        ({"name": "   "}, "Name the system"),
        ({"name": "x" * 101}, "Name the system"),
        ({"cases": "NO-SUCH-CASE"}, "Unknown case"),
        ({"role": "agency-admin"}, "practitioner or a coordinator"),
        ({"scopes": ["disclosures:decide"]}, "coordinator"),
    ]:
        async with admin.post(
            "/admin/tokens", data=await issue_form(admin, **fields), allow_redirects=False
        ) as resp:
            html = await resp.text()
        assert resp.status == 400, (fields, html)
        assert 'id="token-error"' in html and message in html, (fields, html)
        assert "token-secret" not in html
    assert await token_count(web) == 0
    # An agency admin cannot issue a token with a role they could not hold, nor one that decides
    # disclosures while the policy allows no delegated decisions.
    for fields in (
        {"role": "coordinator"},
        {"scopes": ["disclosures:decide"], "role": "coordinator"},
    ):
        async with admin.post(
            "/admin/tokens", data=await issue_form(admin, **fields), allow_redirects=False
        ) as resp:
            html = await resp.text()
        assert resp.status == 400 and 'id="token-error"' in html, (fields, html)
    assert await token_count(web) == 0


async def test_html_in_the_name_is_shown_as_text(web: Web) -> None:
    admin = await web.login("dby.admin")
    name = '<script>alert("x")</script><b>bold</b>'
    _, _, page = await issue(web, admin, name=name)
    status, _, html = await fetch(admin, "/admin/tokens")
    assert status == 200
    for text in (page, html):
        assert "<script>alert" not in text and "<b>bold</b>" not in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in text
    # Shown again in the form after an error, escaped too.
    async with admin.post(
        "/admin/tokens", data=await issue_form(admin, name=name, scopes=[]), allow_redirects=False
    ) as resp:
        text = await resp.text()
    assert resp.status == 400 and "<script>alert" not in text


async def test_others_than_an_agency_admin_are_refused(web: Web) -> None:
    admin = await web.login("dby.admin", await web.new_client())
    _, token_id, _ = await issue(web, admin)
    for username in ("dby.police", "dby.coordinator", "dby.auditor"):
        client = await web.login(username, await web.new_client())
        status, _, html = await fetch(client, "/inbox" if username != "dby.auditor" else "/audit")
        assert status == 200 and "/admin/tokens" not in html  # no link in the navigation
        status, _, html = await fetch(client, "/admin/tokens")
        assert status == 403, html
        assert "token-" not in html
        csrf = csrf_from(html)  # the error page's sign-out form: a valid token for the session
        form = aiohttp.FormData()  # a well-formed form, with this user's own CSRF token
        for key, value in {
            "_csrf": csrf,
            "name": "Sneaky",
            "scopes": "cases:read",
            "days": "30",
            "role": "practitioner",
        }.items():
            form.add_field(key, value)
        status, _, _ = await post(client, "/admin/tokens", form)
        assert status == 403
        status, _, _ = await post(client, f"/admin/tokens/{token_id}/revoke", {"_csrf": csrf})
        assert status == 403
    assert await token_count(web) == 1
    (token,) = await web.hub.tokens.list(None)
    assert token.revoked_at is None


async def test_another_agency_admin_cannot_revoke(web: Web) -> None:
    admin = await web.login("dby.admin", await web.new_client())
    _, token_id, _ = await issue(web, admin)
    password = "a long enough password here"
    enrolment = await web.hub.directory.add_user(
        "dby.prob.admin", "Probation admin", "DBY-PROBATION", Role.AGENCY_ADMIN, password
    )
    web.logins["dby.prob.admin"] = DemoLogin(
        "dby.prob.admin",
        "Probation admin",
        "DBY-PROBATION",
        "agency-admin",
        password,
        enrolment.totp_uri,
    )
    other = await web.login("dby.prob.admin", await web.new_client())
    status, _, html = await fetch(other, "/admin/tokens")
    assert status == 200 and f'id="token-{token_id}"' not in html
    status, _, _ = await post(other, f"/admin/tokens/{token_id}/revoke", {"_csrf": csrf_from(html)})
    assert status == 404
    (token,) = await web.hub.tokens.list(None)
    assert token.revoked_at is None


async def test_csrf_is_required_to_issue_and_to_revoke(web: Web) -> None:
    admin = await web.login("dby.admin")
    secret, token_id, _ = await issue(web, admin)
    seq = await web.ledger_seq()
    form = await issue_form(admin, name="Without CSRF")
    stripped = aiohttp.FormData()
    for fields, _headers, value in form._fields:
        if fields["name"] != "_csrf":
            stripped.add_field(fields["name"], value)
    for data in (stripped, {"name": "x", "scopes": "cases:read", "days": "30", "_csrf": "forged"}):
        status, _, html = await post(admin, "/admin/tokens", data)
        assert status == 403, html
        assert "token-secret" not in html
    for data in ({}, {"_csrf": "forged"}):
        status, _, _ = await post(admin, f"/admin/tokens/{token_id}/revoke", data)
        assert status == 403
    # A cross-site post is refused even with the right token.
    csrf = await revoke_csrf(admin, token_id)
    status, _, _ = await post(
        admin,
        f"/admin/tokens/{token_id}/revoke",
        {"_csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert status == 403
    assert await token_count(web) == 1
    assert await web.ledger_seq() == seq
    assert await api_status(web, secret) == 200
    (token,) = await web.hub.tokens.list(None)
    assert token.revoked_at is None


async def test_the_agency_keys_page_shows_current_and_past_keys_read_only(web: Web) -> None:
    police = next(a for a in await web.hub.directory.agencies() if a.code == "DBY-POLICE")
    first = await web.hub.keyring.active(police.id)
    web.clock.advance(timedelta(days=1))
    rotated = await web.hub.keyring.issue(police.id)  # what `mappa-hub keys rotate` does
    admin = await web.login("dby.admin")
    status, _, html = await fetch(admin, "/admin/keys")
    assert status == 200
    current = html[html.index('id="current-keys"') : html.index("Past keys")]
    past = html[html.index('id="past-keys"') :]
    for key in (rotated.encryption, rotated.signing):
        assert f'id="key-{key.key_id}"' in current
        grouped = " ".join(key.key_id[i : i + 4] for i in range(0, 32, 4))
        assert grouped in current  # the fingerprint, in groups of four
        assert base64.b64encode(key.public_key).decode() in current
    for key in (first.encryption, first.signing):
        assert f'id="key-{key.key_id}"' in past and f'id="key-{key.key_id}"' not in current
    assert "Encryption (X25519)" in current and "Signing (Ed25519)" in current
    assert "24 November 2026" in past  # retired when rotated, a day after the demo began
    assert "mappa-hub keys rotate --agency DBY-POLICE" in html
    assert "<form" not in html[html.index("<main") : html.index("</main>")]  # read-only
    # Another agency's keys are not shown.
    housing = next(a for a in await web.hub.directory.agencies() if a.code == "DBY-HOUSING")
    assert (await web.hub.keyring.active(housing.id)).encryption.key_id not in html


async def test_the_agency_keys_page_is_for_admins_only(web: Web) -> None:
    for username in ("dby.police", "dby.coordinator", "dby.auditor"):
        client = await web.login(username, await web.new_client())
        status, _, html = await fetch(client, "/admin/keys")
        assert status == 403, username
        assert "Only an agency admin sees the agency&#39;s keys." in html
        assert 'href="/admin/keys"' not in html
