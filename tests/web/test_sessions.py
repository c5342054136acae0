"""The one login gate, session lifetimes (idle, absolute, TOTP-pending) and signing out."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from hub.store import directory as directory_store
from tests.conftest import actor_for
from tests.web.conftest import (
    COOKIE,
    LOGIN_FAILED,
    Web,
    csrf_from,
    fetch,
    post,
    session_cookie,
)

EXPIRED_NOTICE = "Your session has expired. Please sign in again."


@pytest.mark.parametrize("path", ["/inbox", "/outbox", "/compose", "/", "/packets/anything"])
async def test_pages_need_a_signed_in_user(web: Web, path: str) -> None:
    status, location, _ = await fetch(web.client, path)
    assert (status, location) == (303, "/login")


async def test_idle_session_expires_after_thirty_minutes(web: Web) -> None:
    await web.login("dby.housing")
    # Activity keeps it alive: two 29-minute gaps, each under the idle limit.
    for _ in range(2):
        web.clock.advance(timedelta(minutes=29))
        assert (await fetch(web.client, "/inbox"))[0] == 200

    web.clock.advance(timedelta(minutes=31))
    status, location, _ = await fetch(web.client, "/inbox")
    assert (status, location) == (303, "/login?expired=1")
    status, _, html = await fetch(web.client, location)
    assert status == 200
    assert EXPIRED_NOTICE in html
    # Without the flag the login page carries no notice.
    assert EXPIRED_NOTICE not in (await fetch(web.client, "/login"))[2]


async def test_session_ends_after_ten_hours_however_active(web: Web) -> None:
    await web.login("dby.housing")
    for step in range(1, 31):
        web.clock.advance(timedelta(minutes=20))
        status, location, _ = await fetch(web.client, "/inbox")
        if step * 20 < 10 * 60:
            assert status == 200, f"refused at {step * 20} minutes"
        else:
            assert (status, location) == (303, "/login?expired=1")


async def test_totp_pending_session_lapses_after_five_minutes(web: Web) -> None:
    status, location, _ = await web.password_step(web.client, "dby.housing")
    assert (status, location) == (303, "/login/totp")
    status, _, html = await fetch(web.client, "/login/totp")
    assert status == 200
    csrf = csrf_from(html)

    web.clock.advance(timedelta(minutes=5, seconds=1))
    assert (await fetch(web.client, "/login/totp"))[:2] == (303, "/login")
    # The lapsed session's form no longer works, even with a valid code.
    status, _, _ = await post(
        web.client, "/login/totp", {"_csrf": csrf, "code": web.totp_code("dby.housing")}
    )
    assert status == 403
    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")


async def test_totp_pending_session_within_five_minutes_completes(web: Web) -> None:
    assert (await web.password_step(web.client, "dby.housing"))[0] == 303
    web.clock.advance(timedelta(minutes=4))
    status, location, _ = await web.totp_step(web.client, web.totp_code("dby.housing"))
    assert (status, location) == (303, "/")


async def test_logout_is_post_only(web: Web) -> None:
    await web.login("dby.housing")
    status, _, html = await fetch(web.client, "/logout")
    assert status == 405
    assert "That method is not allowed here." in html
    # The GET did not sign the user out.
    assert (await fetch(web.client, "/inbox"))[0] == 200


async def test_logout_kills_the_session_server_side(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.auth")
    await web.login("dby.housing")
    user_id = (await actor_for(web.hub, "dby.housing")).user.id
    old = session_cookie(web.client)
    assert old is not None
    replay = await web.new_client(cookies=False)
    headers = {"Cookie": f"{COOKIE}={old}"}
    # Control: the copied cookie works while the session lives.
    assert (await fetch(replay, "/inbox", headers=headers))[0] == 200

    await web.logout()
    assert session_cookie(web.client) is None
    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")
    assert (await fetch(replay, "/inbox", headers=headers))[:2] == (303, "/login")
    # Both ends of the session are in the application log, by account id (ASVS V7.1.3).
    said = [r.getMessage() for r in caplog.records if r.name == "hub.auth"]
    assert f"signed in user_id={user_id}" in said and f"signed out user_id={user_id}" in said


async def test_deactivated_user_is_signed_out_without_a_redirect_loop(web: Web) -> None:
    await web.login("dby.housing")
    old = session_cookie(web.client)
    user_id = (await actor_for(web.hub, "dby.housing")).user.id
    async with web.hub.db.write() as conn:
        await directory_store.update_user(conn, user_id, active=False)

    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")
    status, _, html = await fetch(web.client, "/login")
    assert status == 200  # not a redirect to itself
    status, _, html = await web.password_step(web.client, "dby.housing")
    assert status == 401
    assert LOGIN_FAILED in html

    # The session was ended, not just refused: reactivating the user does not revive it.
    async with web.hub.db.write() as conn:
        await directory_store.update_user(conn, user_id, active=True)
    replay = await web.new_client(cookies=False)
    status, location, _ = await fetch(replay, "/inbox", headers={"Cookie": f"{COOKIE}={old}"})
    assert (status, location) == (303, "/login")
