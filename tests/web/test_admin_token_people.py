"""The admin's token page gives no more than the admin may give, names who issued each token, and
puts issuing and revoking on the log."""

from __future__ import annotations

import re

import pytest

from hub.store import ledger as ledger_store
from tests.web.conftest import Web, fetch, post
from tests.web.test_admin_tokens import issue, issue_form, revoke_csrf, token_count

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_the_page_offers_only_what_the_admin_may_give(web: Web) -> None:
    admin = await web.login("dby.admin")
    status, _, html = await fetch(admin, "/admin/tokens")
    assert status == 200
    options = re.findall(r'<option value="([^"]+)"', html)
    assert options == ["practitioner"]
    assert "delegated decisions" in html  # the page says tokens do not decide
    seq = await web.ledger_seq()
    for fields, message in [
        ({"role": "coordinator"}, "practitioner systems only"),
        ({"role": "coordinator", "scopes": ["disclosures:decide"]}, "practitioner systems only"),
        ({"scopes": ["disclosures:decide"]}, "coordinator"),
    ]:
        async with admin.post(
            "/admin/tokens", data=await issue_form(admin, **fields), allow_redirects=False
        ) as resp:
            page = await resp.text()
        assert resp.status == 400, (fields, page)
        assert 'id="token-error"' in page and message in page, (fields, page)
        assert "token-secret" not in page
    assert await token_count(web) == 0
    assert await web.ledger_seq() == seq


async def test_issuing_and_revoking_through_the_page_are_on_the_log(web: Web) -> None:
    admin_user = next(u for u in await web.hub.directory.users() if u.username == "dby.admin")
    admin = await web.login("dby.admin")
    seq = await web.ledger_seq()
    secret, token_id, page = await issue(web, admin)
    assert "On-Behalf-Of" in page  # the system is told whom it acts for
    status, _, html = await fetch(admin, "/admin/tokens")
    assert status == 200
    row = html[html.index(f'id="token-{token_id}"') :]
    assert re.search(r'token-issuer">dby\.admin<', row[: row.index("</tr>")])
    status, location, _ = await post(
        admin, f"/admin/tokens/{token_id}/revoke", {"_csrf": await revoke_csrf(admin, token_id)}
    )
    assert (status, location) == (303, "/admin/tokens?done=revoked")
    async with web.hub.db.read() as conn:
        rows = [dict(r) async for r in ledger_store.stream_entries(conn)][seq:]
    assert [(r["event"], r["actor_user_id"], r["actor_token_id"]) for r in rows] == [
        ("token-issued", admin_user.id, None),
        ("token-revoked", admin_user.id, None),
    ]
    assert all(secret.split("_", 2)[2].encode() not in bytes(r["entry"]) for r in rows)
    assert (await web.hub.ledger.verify()).entries == seq + 2
