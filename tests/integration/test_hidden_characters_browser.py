"""A packet whose body holds text direction controls, read in real Chromium: the controls are
shown as boxed markers in place, reorder nothing, are announced to screen readers, and the page
passes axe-core. The screenshot is kept as a test artefact for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hub.model.packets import Draft
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id
from tests.integration.browser_support import CHROMIUM, CHROMIUM_ARGS, run_demo, sign_in
from tests.integration.test_accessibility import ARTEFACTS, axe_violations, describe

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

BODY = "Pay the deposit into account \u202e4321\u202c today.\nRef: \u2067ABC\u2069 (isolate)."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_hidden_characters_in_a_body_are_shown_in_chromium(
    tmp_path_factory: pytest.TempPathFactory, browser: Browser
) -> None:
    with run_demo(tmp_path_factory.mktemp("hidden") / "demo") as demo:

        async def send(hub: Hub) -> str:
            police = await actor_for(hub, "dby.police")
            sent = await hub.packets.send(
                police,
                Draft(
                    case_id=await case_id(hub, "Harlow"),
                    recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
                    subject="Deposit account",
                    body=BODY,
                    purpose="risk-management",
                    lawful_basis="cja2003-s325",
                    data_categories=SHARE_CATEGORIES,
                    necessity=NECESSITY,
                ),
            )
            return str(sent.id)

        packet_id = demo.read(send)
        context = browser.new_context(viewport={"width": 1024, "height": 900})
        page = context.new_page()
        sign_in(page, demo.base, demo.logins["dby.housing"])
        page.goto(f"{demo.base}/packets/{packet_id}")
        body = page.locator("#body")
        # The text in order, markers in place of the controls (the hidden prefixes included).
        assert body.text_content() == (
            "Pay the deposit into account hidden character: [right-to-left override U+202E]4321"
            "hidden character: [pop directional formatting U+202C] today.\n"
            "Ref: hidden character: [right-to-left isolate U+2067]ABC"
            "hidden character: [pop directional isolate U+2069] (isolate)."
        )
        marker = page.locator(".hub-hidden-char").first
        assert marker.is_visible()
        assert page.locator("#hidden-characters").is_visible()  # the warning above the message
        # The words a screen reader gets: the visually hidden prefix is in the accessibility tree.
        assert "hidden character:" in (marker.text_content() or "")
        assert not axe_violations(page), describe(axe_violations(page))
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("main").screenshot(path=str(ARTEFACTS / "hidden-characters.png"))
        context.close()
