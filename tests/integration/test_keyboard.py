"""Keyboard only, in real Chromium: sign in, compose and send a packet, and decide a disclosure
with Tab, Shift+Tab, arrow keys, Space and Enter alone - no mouse, no programmatic fill or click.
Each control is reached by tabbing, which also proves the focus order reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyotp
import pytest

from tests.integration.browser_support import CHROMIUM, CHROMIUM_ARGS, DemoServer, run_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with run_demo(tmp_path_factory.mktemp("keyboard") / "demo") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def focused(page: Page, selector: str) -> bool:
    return bool(page.evaluate("s => document.activeElement?.matches(s) ?? false", selector))


def tab_to(page: Page, selector: str, limit: int = 250) -> None:
    """Press Tab until ``selector`` has the focus; fail if the focus order never reaches it."""
    for _ in range(limit):
        if focused(page, selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def choose(page: Page, selector: str, value: str, limit: int = 80) -> None:
    """A <select> set with the arrow keys, as a keyboard user does."""
    tab_to(page, selector)
    for _ in range(limit):
        if page.eval_on_selector(selector, "e => e.value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value} not reachable with the arrow keys in {selector}")


def tick(page: Page, selector: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Space")
    assert page.eval_on_selector(selector, "e => e.checked"), selector


def sign_in_by_keyboard(page: Page, demo: DemoServer, username: str) -> None:
    login = demo.logins[username]
    page.goto(f"{demo.base}/login")
    type_into(page, "#username", login[0])
    type_into(page, "#password", login[1])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{demo.base}/login/totp")
    type_into(page, "#code", pyotp.parse_uri(login[4].strip()).now())
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_skip_link_is_the_first_stop_and_moves_to_the_content(
    demo: DemoServer, browser: Browser
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{demo.base}/login")
        page.keyboard.press("Tab")
        assert focused(page, "a.govuk-skip-link")
        page.keyboard.press("Enter")
        # Following the link is a navigation of its own: wait for it rather than race it.
        page.wait_for_url(lambda url: url.endswith("#main-content"), timeout=5000)
    finally:
        page.close()


def test_sign_in_and_send_a_packet_by_keyboard_alone(demo: DemoServer, browser: Browser) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in_by_keyboard(page, demo, "dby.police")
        expect(page.locator("#who")).to_contain_text("Derbyshire Constabulary")
        tab_to(page, "#compose-link")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{demo.base}/compose")
        harlow = page.eval_on_selector(
            "#case", "s => [...s.options].find(o => o.text.includes('HARLOW')).value"
        )
        choose(page, "#case", harlow)
        tick(page, "input[name=recipients][data-code=DBY-HOUSING]")
        choose(page, "#purpose", "risk-management")
        choose(page, "#lawful_basis", "cja2003-s325")
        tick(page, "input[name=categories][value=address]")
        type_into(
            page,
            "#necessity_why",
            "Housing must check the proposed address against the exclusion zone before Monday.",
        )
        type_into(page, "#subject", "Proposed address: exclusion zone check")
        type_into(page, "#body", "Please confirm by Friday whether 12 Example Road is suitable.")
        tab_to(page, "#send")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/packets/" in url and "sent=1" in url)
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Sent")
    finally:
        context.close()


def test_decide_a_disclosure_by_keyboard_alone(demo: DemoServer, browser: Browser) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in_by_keyboard(page, demo, "dby.coordinator")
        tab_to(page, "#disclosures-link")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{demo.base}/disclosures")
        tab_to(page, "main a[href^='/disclosures/']")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/disclosures/" in url)
        # The first radio of the group takes the focus; Space chooses it (Approve).
        tab_to(page, "input[name=decision]")
        page.keyboard.press("Space")
        assert page.eval_on_selector("input[name=decision]:checked", "e => e.value") == "approve"
        type_into(
            page,
            "#reasons",
            "Necessary: the employer runs a nursery; disclosure of the risk to children is "
            "proportionate and limited to what the manager needs to supervise him.",
        )
        tab_to(page, "#decide")
        page.keyboard.press("Enter")
        expect(page.locator("#decisions")).to_contain_text("Approve")
    finally:
        context.close()
