"""End to end in real Chromium against `mappa-hub demo` run as a real process: sign in with a
password and a TOTP code, compose a packet with an attachment, sign out, and read it as a user of
the recipient agency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.browser_support import CHROMIUM, CHROMIUM_ARGS, run_demo, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, list[str]]]]:
    with run_demo(tmp_path / "demo") as server:
        yield server.base, server.logins


def test_compose_and_read_in_chromium(
    demo: tuple[str, dict[str, list[str]]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, logins = demo
    attachment = tmp_path / "risk-plan.txt"
    attachment.write_text("Exclusion zone: 500 m around Example Primary School.\n")
    subject = "<script>alert(1)</script> New address for <b>Harlow</b>"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            console_errors: list[str] = []
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            sign_in(page, base, logins["dby.police"])
            expect(page.locator("#who")).to_contain_text("Derbyshire Constabulary")
            page.click("#compose-link")
            page.select_option(
                "#case", label=page.locator("#case option", has_text="HARLOW").inner_text()
            )
            page.check("input[name=recipients][data-code=DBY-HOUSING]")
            page.select_option("#purpose", "risk-management")
            page.select_option("#lawful_basis", "cja2003-s325")
            page.fill("#subject", subject)
            page.fill("#body", "Moving to <i>12 Example Road</i> on Monday.\nPlease review.")
            page.check("input[name=categories][value=address]")
            page.check("input[name=categories][value=risk-summary]")
            page.fill(
                "#necessity_why",
                "Housing must assess the new address against the exclusion zone before Monday.",
            )
            # Ask the policy first: the decision shows, the form keeps what was typed.
            page.click("#check")
            expect(page.locator("#decision-outcome")).to_have_text("Allowed")
            expect(page.locator("#subject")).to_have_value(subject)
            page.set_input_files("#attachments", str(attachment))
            page.click("#send")
            expect(page.locator("#subject")).to_have_text(subject)
            expect(page.locator("#to")).to_contain_text("Derby City Council Housing Options")
            packet_url = page.url.split("?", 1)[0]
            page.click("#logout")
            expect(page).to_have_url(f"{base}/login")

            # A user of another agency is refused, with a clear message.
            sign_in(page, base, logins["dby.csc"])
            page.goto(packet_url)
            expect(page.locator("#error-message")).to_contain_text("not sent to your agency")
            page.click("#logout")

            sign_in(page, base, logins["dby.housing"])
            row = page.locator("#inbox a.subject", has_text="New address for")
            expect(row).to_have_text(subject)  # shown as text, not markup
            row.click()
            expect(page.locator("#body")).to_contain_text("Moving to <i>12 Example Road</i>")
            expect(page.locator("#from")).to_contain_text("Derbyshire Constabulary (dby.police)")
            with page.expect_download() as download_info:
                page.click("#attachments a")
            download = download_info.value
            assert download.suggested_filename == "risk-plan.txt"
            saved = tmp_path / "downloaded.txt"
            download.save_as(saved)
            assert saved.read_text() == attachment.read_text()
            page.screenshot(path=str(tmp_path / "read.png"), full_page=True)

            assert dialogs == []  # no script ran
            assert page.locator("b", has_text="Harlow").count() == 0
            assert not [e for e in console_errors if "Content Security Policy" in e]
        finally:
            browser.close()
