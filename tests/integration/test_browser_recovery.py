"""In real Chromium against `mappa-hub demo`: a person without their authenticator app signs in
with a recovery code, sees how many are left, and changes their password, which signs out their
other browser. axe-core finds no WCAG 2.2 A/AA violation on the pages on the way. Screenshots go
to ``$MAPPA_TEST_SHOTS_LOGIN`` (default /tmp/shots_login)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyotp
import pytest

from hub.wiring import Hub
from tests.integration.browser_support import CHROMIUM, CHROMIUM_ARGS, run_demo, sign_in
from tests.integration.test_accessibility import axe_violations, describe

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("MAPPA_TEST_SHOTS_LOGIN", "/tmp/shots_login"))  # noqa: S108
USER = "dby.housing"
NEW_PASSWORD = "four unrelated words here"


def test_sign_in_with_a_recovery_code_then_change_the_password(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with run_demo(tmp_path / "demo") as demo:

        async def codes(hub: Hub) -> tuple[str, ...]:
            return await hub.accounts.recovery_codes_at_enrolment(USER)

        recovery = demo.read(codes)
        login = demo.logins[USER]
        base = demo.base
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # Another browser of theirs, signed in the usual way.
                elsewhere = browser.new_context().new_page()
                sign_in(elsewhere, base, login)

                page = browser.new_context().new_page()
                page.goto(f"{base}/login")
                page.fill("#username", USER)
                page.fill("#password", login[1])
                page.click("#signin")
                expect(page).to_have_url(f"{base}/login/totp")
                page.click("#use-recovery-code")
                expect(page).to_have_url(f"{base}/login/totp?method=recovery")
                expect(page.get_by_role("heading", level=1)).to_have_text("Enter a recovery code")
                assert axe_violations(page) == [], describe(axe_violations(page))
                page.fill("#recovery-code", "wrong-code")
                page.click("#verify-recovery")
                expect(page.locator(".govuk-error-summary")).to_be_visible()
                page.screenshot(path=str(SHOTS / "1-recovery-code-refused.png"), full_page=True)
                page.fill("#recovery-code", recovery[0].upper())
                page.screenshot(path=str(SHOTS / "2-recovery-code.png"), full_page=True)
                page.click("#verify-recovery")

                expect(page).to_have_url(f"{base}/account?signed-in-with=recovery-code")
                expect(page.locator("#recovery-notice")).to_contain_text(
                    "You signed in with a recovery code. You have 9 recovery codes left."
                )
                expect(page.locator("#account-link")).to_have_attribute("aria-current", "page")
                assert axe_violations(page) == [], describe(axe_violations(page))
                page.screenshot(path=str(SHOTS / "3-account-after-recovery.png"), full_page=True)

                # A new password that is too short: the error is on the field, nothing changes.
                page.fill("#current-password", login[1])
                page.fill("#new-password", "too short")
                page.fill("#again-password", "too short")
                page.click("#change-password-button")
                expect(page.locator("#new-password-error")).to_contain_text("12 characters")
                assert axe_violations(page) == [], describe(axe_violations(page))
                page.screenshot(path=str(SHOTS / "4-password-too-short.png"), full_page=True)

                page.fill("#current-password", login[1])
                page.fill("#new-password", NEW_PASSWORD)
                page.fill("#again-password", NEW_PASSWORD)
                page.click("#change-password-button")
                expect(page).to_have_url(f"{base}/account?done=password")
                expect(page.locator("#notice")).to_contain_text("signed out everywhere else")
                page.screenshot(path=str(SHOTS / "5-password-changed.png"), full_page=True)

                # Still signed in here; the other browser is sent to sign in again.
                page.goto(f"{base}/inbox")
                expect(page).to_have_url(f"{base}/inbox")
                elsewhere.goto(f"{base}/inbox")
                expect(elsewhere).to_have_url(re.compile(r"/login"))
                elsewhere.screenshot(path=str(SHOTS / "6-other-browser-signed-out.png"))
            finally:
                browser.close()


def test_setting_up_a_new_authenticator_after_an_admins_reset(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import actor_for

    SHOTS.mkdir(parents=True, exist_ok=True)
    with run_demo(tmp_path / "demo") as demo:

        async def reset(hub: Hub) -> None:
            admin, person = await actor_for(hub, "dby.admin"), await actor_for(hub, "dby.police")
            await hub.accounts.reset_second_factor(admin, person.user.id)

        demo.read(reset)
        login = demo.logins["dby.police"]
        base = demo.base
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"{base}/login")
                page.fill("#username", login[0])
                page.fill("#password", login[1])
                page.click("#signin")
                expect(page).to_have_url(f"{base}/login/totp")
                expect(page.get_by_role("heading", level=1)).to_have_text(
                    "Set up your authenticator app"
                )
                assert axe_violations(page) == [], describe(axe_violations(page))
                page.screenshot(path=str(SHOTS / "7-set-up-authenticator.png"), full_page=True)
                secret = page.locator("#secret").inner_text().replace(" ", "")
                page.fill("#code", pyotp.TOTP(secret).now())
                page.click("#confirm-enrolment")
                expect(page.get_by_role("heading", level=1)).to_have_text(
                    "Your authenticator app is set up"
                )
                expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
                expect(page.locator("#recovery-codes li")).to_have_count(10)
                assert axe_violations(page) == [], describe(axe_violations(page))
                page.screenshot(path=str(SHOTS / "8-new-recovery-codes.png"), full_page=True)
                page.click("#continue")
                expect(page).to_have_url(f"{base}/inbox")
            finally:
                browser.close()
