"""Signing in through the browser: password, then a single-use TOTP code, throttled (never locked)."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.web.conftest import COOKIE, LOGIN_FAILED, Client, Web, csrf_from, fetch, session_cookie

# The demo clock starts at 9:00am on 23 November 2026 (GMT). After five failures each attempt
# waits 1 s, then 2 s, 4 s, ... (hub.services.login_throttle).
WAIT_1S = "Too many failed attempts. Wait 1 second, then try again."
WAIT_2S = "Too many failed attempts. Wait 2 seconds, then try again."


def _set_cookie(headers: list[str]) -> tuple[str, set[str]]:
    """The session cookie's value and its lower-cased attributes from Set-Cookie headers."""
    ours = [h for h in headers if h.startswith(f"{COOKIE}=")]
    assert len(ours) == 1, headers
    first, *attrs = (part.strip() for part in ours[0].split(";"))
    return first.split("=", 1)[1], {a.lower() for a in attrs}


def _assert_cookie_flags(attrs: set[str]) -> None:
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= attrs
    assert not any(a.startswith("domain") for a in attrs)  # __Host- forbids a Domain


async def test_full_login_reaches_inbox_with_a_fresh_strict_cookie_at_each_stage(web: Web) -> None:
    client = web.client
    async with client.get("/login") as resp:
        assert resp.status == 200
        anonymous, attrs = _set_cookie(resp.headers.getall("Set-Cookie"))
        csrf = csrf_from(await resp.text())
    _assert_cookie_flags(attrs)
    assert session_cookie(client) == anonymous

    form = {
        "_csrf": csrf,
        "username": "dby.housing",
        "password": web.logins["dby.housing"].password,
    }
    async with client.post("/login", data=form, allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (303, "/login/totp")
        pending, attrs = _set_cookie(resp.headers.getall("Set-Cookie"))
    _assert_cookie_flags(attrs)

    status, _, html = await fetch(client, "/login/totp")
    assert status == 200
    form = {"_csrf": csrf_from(html), "code": web.totp_code("dby.housing")}
    async with client.post("/login/totp", data=form, allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (303, "/")
        active, attrs = _set_cookie(resp.headers.getall("Set-Cookie"))
    _assert_cookie_flags(attrs)

    assert len({anonymous, pending, active}) == 3
    assert session_cookie(client) == active
    status, _, html = await fetch(client, "/inbox")
    assert status == 200
    assert "Proposed address - suitability check before release" in html
    assert "Aisha Khan (Housing Options)" in html
    # Signed in, the login page sends the user on to the inbox.
    assert (await fetch(client, "/login"))[:2] == (303, "/")


async def test_wrong_password_and_unknown_user_get_the_same_generic_refusal(web: Web) -> None:
    wrong = await web.password_step(web.client, "dby.housing", password="not-the-password")
    unknown = await web.password_step(web.client, "no.such.user", password="whatever")
    for status, location, html in (wrong, unknown):
        assert (status, location) == (401, "")
        assert LOGIN_FAILED in html
        assert 'role="alert"' in html
    # Nothing in either page says which of the two was wrong.
    assert "unknown" not in wrong[2].lower()
    assert "unknown" not in unknown[2].lower()
    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")


async def test_wrong_totp_code_is_refused_and_the_right_one_still_works(web: Web) -> None:
    status, location, _ = await web.password_step(web.client, "dby.housing")
    assert (status, location) == (303, "/login/totp")
    valid = {web.totp_code("dby.housing", timedelta(seconds=s)) for s in (-30, 0, 30)}
    wrong = next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in valid)

    status, location, html = await web.totp_step(web.client, wrong)
    assert (status, location) == (401, "")
    assert LOGIN_FAILED in html
    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")

    status, location, _ = await web.totp_step(web.client, web.totp_code("dby.housing"))
    assert (status, location) == (303, "/")


async def test_a_totp_code_works_only_once(web: Web) -> None:
    await web.login("dby.housing")
    await web.logout()
    status, location, _ = await web.password_step(web.client, "dby.housing")
    assert (status, location) == (303, "/login/totp")

    # Same 30-second step: the code already used is refused.
    status, _, html = await web.totp_step(web.client, web.totp_code("dby.housing"))
    assert status == 401
    assert LOGIN_FAILED in html
    assert (await fetch(web.client, "/inbox"))[:2] == (303, "/login")

    # The next step's code is accepted.
    web.clock.advance(timedelta(seconds=30))
    status, location, _ = await web.totp_step(web.client, web.totp_code("dby.housing"))
    assert (status, location) == (303, "/")


async def test_after_five_failures_each_attempt_waits_and_an_early_one_is_not_checked(
    web: Web,
) -> None:
    for _ in range(4):
        status, _, html = await web.password_step(web.client, "dby.housing", password="wrong")
        assert status == 401
        assert LOGIN_FAILED in html and "Too many" not in html
    # The fifth failure is refused as the others; from now on each attempt waits.
    status, _, html = await web.password_step(web.client, "dby.housing", password="wrong")
    assert status == 401 and LOGIN_FAILED in html

    # Too early: even the right password is refused unchecked, saying how long to wait.
    status, location, html = await web.password_step(web.client, "dby.housing")
    assert (status, location) == (401, "")
    assert WAIT_1S in html and LOGIN_FAILED not in html
    # ... and an early attempt is not counted: the wait is still one second, not two.
    status, _, html = await web.password_step(web.client, "dby.housing", password="wrong")
    assert WAIT_1S in html

    web.clock.advance(timedelta(seconds=1))
    status, _, html = await web.password_step(web.client, "dby.housing", password="wrong")
    assert status == 401 and LOGIN_FAILED in html  # checked, and the sixth failure
    status, _, html = await web.password_step(web.client, "dby.housing")
    assert WAIT_2S in html

    web.clock.advance(timedelta(seconds=2))
    await web.login("dby.housing")
    assert (await fetch(web.client, "/inbox"))[0] == 200


async def test_one_username_waiting_does_not_affect_another(web: Web) -> None:
    for _ in range(6):
        assert (await web.password_step(web.client, "dby.housing", password="wrong"))[0] == 401
    other: Client = await web.new_client()
    await web.login("dby.police", other)
    assert (await fetch(other, "/inbox"))[0] == 200


async def test_wrong_codes_count_and_the_one_that_starts_a_wait_ends_the_pending_sign_in(
    web: Web,
) -> None:
    # The password attempt counts until the sign-in completes; each wrong code counts one more.
    assert (await web.password_step(web.client, "dby.housing"))[0] == 303
    valid = {web.totp_code("dby.housing", timedelta(seconds=s)) for s in (-30, 0, 30)}
    wrong = [f"{n:06d}" for n in range(10) if f"{n:06d}" not in valid][:4]
    pending = session_cookie(web.client)
    for code in wrong[:3]:
        status, _, html = await web.totp_step(web.client, code)
        assert status == 401
        assert LOGIN_FAILED in html

    # The fifth failure in all starts a wait: the half-signed-in session is over, and the
    # sign-in page says how long to wait.
    status, _, html = await web.totp_step(web.client, wrong[3])
    assert status == 401
    assert WAIT_1S in html and 'action="/login"' in html
    assert session_cookie(web.client) not in (None, pending)
    assert (await fetch(web.client, "/login/totp"))[:2] == (303, "/login")
    status, _, html = await web.password_step(web.client, "dby.housing")
    assert status == 401 and WAIT_1S in html
    web.clock.advance(timedelta(seconds=1))
    await web.login("dby.housing")


async def test_blank_fields_are_asked_for_by_name_and_count_for_nothing(web: Web) -> None:
    status, _, html = await web.password_step(web.client, "dby.housing", password="")
    assert status == 400
    assert '<a href="#password">Enter your password</a>' in html
    assert "<title>Error: Sign in - MAPPA Hub</title>" in html
    assert 'value="dby.housing"' in html  # what was typed is kept
    status, _, html = await web.password_step(web.client, "  ", password="")
    assert html.index('href="#username"') < html.index('href="#password"')  # in form order
    # Blank submissions are not failed sign-ins: five of them lock nothing.
    for _ in range(5):
        await web.password_step(web.client, "dby.housing", password="")
    status, location, _ = await web.password_step(web.client, "dby.housing")
    assert (status, location) == (303, "/login/totp")
    status, _, html = await web.totp_step(web.client, "")
    assert status == 400 and "Enter the 6-digit code from your authenticator app" in html
    status, _, html = await web.totp_step(web.client, "12ab56")
    assert status == 400 and "Enter the code as 6 numbers" in html
    # A code typed with a space in the middle, as the app shows it, is accepted.
    code = web.totp_code("dby.housing")
    status, location, _ = await web.totp_step(web.client, f"{code[:3]} {code[3:]}")
    assert (status, location) == (303, "/")


async def test_the_sign_in_pages_use_the_design_system_inputs(web: Web) -> None:
    status, _, html = await fetch(web.client, "/login")
    assert status == 200
    assert 'class="govuk-input govuk-!-width-two-thirds" id="username" name="username"' in html
    assert 'autocomplete="username"' in html
    assert 'data-module="govuk-password-input"' in html
    assert 'autocomplete="current-password"' in html
    # The show-password button is hidden until the script runs: the field works without it.
    assert re.search(r"<button[^>]*govuk-password-input__toggle[^>]*hidden", html)
    await web.password_step(web.client, "dby.housing")
    status, _, html = await fetch(web.client, "/login/totp")
    assert status == 200
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    assert '<label class="govuk-label govuk-label--l" for="code">' in html
