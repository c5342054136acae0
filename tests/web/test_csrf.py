"""Every POST carries the session's CSRF token and, if the browser names an origin, ours."""

from __future__ import annotations

import pytest

from tests.web.conftest import Web, compose_form, csrf_from, fetch, post

CSRF_REFUSED = "This form has expired or did not come from this site."


async def _compose(web: Web, csrf: str | None, **kwargs: object) -> tuple[int, str, str]:
    form = compose_form(
        csrf,
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
    )
    return await post(web.client, "/compose", form, **kwargs)


@pytest.mark.parametrize("token", [None, "", "not-the-token"], ids=["missing", "empty", "wrong"])
async def test_compose_without_the_right_token_is_refused_and_writes_nothing(
    web: Web, token: str | None
) -> None:
    await web.login("dby.police")
    await web.compose_csrf()
    packets, seq = await web.packet_count(), await web.ledger_seq()

    status, _, html = await _compose(web, token)

    assert status == 403
    assert CSRF_REFUSED in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)


async def test_token_of_another_session_is_refused(web: Web) -> None:
    await web.login("dby.police")
    other = await web.new_client()
    await web.login("dby.probation", other)
    foreign = await web.compose_csrf(other)
    assert foreign != await web.compose_csrf()
    packets = await web.packet_count()

    status, _, html = await _compose(web, foreign)

    assert status == 403
    assert CSRF_REFUSED in html
    assert await web.packet_count() == packets


async def test_cross_site_origin_is_refused_even_with_the_token(web: Web) -> None:
    await web.login("dby.police")
    csrf = await web.compose_csrf()
    packets, seq = await web.packet_count(), await web.ledger_seq()

    status, _, html = await _compose(web, csrf, headers={"Origin": "https://evil.example"})

    assert status == 403
    assert "Cross-site request refused." in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)


async def test_same_origin_with_the_token_is_accepted(web: Web) -> None:
    await web.login("dby.police")
    csrf = await web.compose_csrf()
    packets = await web.packet_count()

    status, location, _ = await _compose(web, csrf, headers={"Origin": web.origin})

    assert status == 303
    assert location.startswith("/packets/")
    assert await web.packet_count() == packets + 1


async def test_token_in_the_header_is_accepted(web: Web) -> None:
    await web.login("dby.housing")
    csrf = await web.compose_csrf()
    status, location, _ = await post(web.client, "/logout", {}, headers={"X-CSRF-Token": csrf})
    assert (status, location) == (303, "/login")
    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")


async def test_login_post_without_a_session_cookie_is_refused(web: Web) -> None:
    bare = await web.new_client(cookies=False)
    _, _, html = await fetch(bare, "/login")
    form = {
        "_csrf": csrf_from(html),  # a real token, but its session cookie is not sent
        "username": "dby.housing",
        "password": web.logins["dby.housing"].password,
    }
    status, _, html = await post(bare, "/login", form)
    assert status == 403
    assert CSRF_REFUSED in html


async def test_logout_without_the_token_does_not_sign_out(web: Web) -> None:
    await web.login("dby.housing")
    status, _, _ = await post(web.client, "/logout", {"_csrf": "forged"})
    assert status == 403
    assert (await fetch(web.client, "/inbox"))[0] == 200
