"""The sign-in pages' recovery-code path and the account page: a recovery code signs in once and
says how many are left; a password change (current password, new twice) rotates this session's
cookie and ends every other; new recovery codes are shown once, for the current password."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.web.conftest import Web, csrf_from, fetch, post, session_cookie

HOUSING = "dby.housing"
NEW_PASSWORD = "four unrelated words here"


async def _codes(web: Web, username: str = HOUSING) -> tuple[str, ...]:
    return await web.hub.accounts.recovery_codes_at_enrolment(username)


async def test_signing_in_with_a_recovery_code(web: Web) -> None:
    codes = await _codes(web)
    client = web.client
    assert (await web.password_step(client, HOUSING))[:2] == (303, "/login/totp")
    status, _, html = await fetch(client, "/login/totp")
    assert 'href="/login/totp?method=recovery"' in html
    status, _, html = await fetch(client, "/login/totp?method=recovery")
    assert status == 200 and 'name="recovery_code"' in html and 'value="recovery"' in html
    csrf = csrf_from(html)

    status, _, html = await post(
        client, "/login/totp", {"_csrf": csrf, "method": "recovery", "recovery_code": ""}
    )
    assert status == 400 and '<a href="#recovery-code">Enter a recovery code</a>' in html
    status, _, html = await post(
        client, "/login/totp", {"_csrf": csrf, "method": "recovery", "recovery_code": "nope"}
    )
    assert status == 401 and 'name="recovery_code"' in html  # still the recovery page

    form = {"_csrf": csrf, "method": "recovery", "recovery_code": codes[0]}
    status, location, _ = await post(client, "/login/totp", form)
    assert (status, location) == (303, "/account?signed-in-with=recovery-code")
    status, _, html = await fetch(client, location)
    assert status == 200
    assert "You signed in with a recovery code. You have 9 recovery codes left." in html

    # The code is spent: a second sign-in with it is refused.
    await web.logout(client)
    await web.password_step(client, HOUSING)
    status, _, html = await fetch(client, "/login/totp?method=recovery")
    form = {"_csrf": csrf_from(html), "method": "recovery", "recovery_code": codes[0]}
    status, _, html = await post(client, "/login/totp", form)
    assert status == 401


async def test_changing_the_password_ends_other_sessions_and_rotates_this_one(web: Web) -> None:
    here = await web.login(HOUSING, await web.new_client())
    web.clock.advance(timedelta(seconds=30))
    there = await web.login(HOUSING, await web.new_client())
    status, _, html = await fetch(here, "/account")
    assert status == 200 and 'id="account-link"' in html
    csrf = csrf_from(html)
    before = session_cookie(here)

    bad = {"_csrf": csrf, "current": "wrong", "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    status, _, html = await post(here, "/account/password", bad)
    assert status == 400
    assert '<a href="#current-password">Your current password is not right</a>' in html
    short = {"_csrf": csrf, "current": web.logins[HOUSING].password, "new": "short"}
    status, _, html = await post(here, "/account/password", {**short, "again": "short"})
    assert status == 400 and 'href="#new-password"' in html and "12 characters" in html
    differ = {**short, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "x"}
    status, _, html = await post(here, "/account/password", differ)
    assert status == 400 and '<a href="#again-password">The passwords do not match</a>' in html

    good = {**differ, "again": NEW_PASSWORD}
    status, location, _ = await post(here, "/account/password", good)
    assert (status, location) == (303, "/account?done=password")
    assert session_cookie(here) not in (None, before)
    status, _, html = await fetch(here, location)
    assert status == 200 and "You have been signed out everywhere else." in html
    # The other browser is signed out; the new password signs in.
    assert (await fetch(there, "/inbox"))[:2] == (303, "/login")
    web.clock.advance(timedelta(seconds=30))
    status, location, _ = await web.password_step(there, HOUSING, NEW_PASSWORD)
    assert (status, location) == (303, "/login/totp")


async def test_new_recovery_codes_are_shown_once_for_the_current_password(web: Web) -> None:
    old = await _codes(web)
    client = await web.login(HOUSING)
    status, _, html = await fetch(client, "/account")
    assert re.search(r"Recovery codes left\s*</dt>\s*<dd[^>]*>\s*10 of 10", html)
    csrf = csrf_from(html)
    status, _, html = await post(client, "/account/recovery-codes", {"_csrf": csrf, "current": ""})
    assert status == 400 and '<a href="#codes-current-password">Enter your current password' in html
    form = {"_csrf": csrf, "current": web.logins[HOUSING].password}
    status, _, html = await post(client, "/account/recovery-codes", form)
    assert status == 200
    shown = re.findall(r"<code>([0-9a-z]{5}-[0-9a-z]{5})</code>", html)
    assert len(shown) == 10 and not set(shown) & set(old)
    async with client.get("/account") as resp:
        assert resp.headers["Cache-Control"] == "no-store"
        assert not set(shown) & set(re.findall(r"[0-9a-z]{5}-[0-9a-z]{5}", await resp.text()))
    # The old set no longer signs in.
    await web.logout(client)
    await web.password_step(client, HOUSING)
    status, _, html = await fetch(client, "/login/totp?method=recovery")
    form = {"_csrf": csrf_from(html), "method": "recovery", "recovery_code": old[1]}
    assert (await post(client, "/login/totp", form))[0] == 401


async def test_the_account_page_needs_a_signed_in_person_and_a_csrf_token(web: Web) -> None:
    assert (await fetch(web.client, "/account"))[:2] == (303, "/login")
    client = await web.login(HOUSING)
    form = {"current": "x", "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert (await post(client, "/account/password", form))[0] == 403


async def test_a_person_without_recovery_codes_is_warned_and_offered_them(web: Web) -> None:
    client = await web.login("dby.probation")  # never given codes: the demo's people start so
    status, _, html = await fetch(client, "/account")
    assert status == 200 and 'id="no-codes-warning"' in html
    assert "You have no recovery codes" in html and ">\n  Get recovery codes\n</button>" in html
    form = {"_csrf": csrf_from(html), "current": web.logins["dby.probation"].password}
    assert (await post(client, "/account/recovery-codes", form))[0] == 200
    _, _, html = await fetch(client, "/account")
    assert 'id="no-codes-warning"' not in html and "Get new recovery codes" in html
