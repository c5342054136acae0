"""The statistics page in real Chromium against `mappa-hub demo` with its year of Derbyshire's
history, as a senior manager on the Strategic Management Board would use it: the annual tables
and the board's indicators, each chart drawn on the server and shown as an image under the page's
CSP, a table beside each, the published view saying what it hides, and the CSV download. A
practitioner has no menu link to it and is refused by the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoServer,
    run_demo,
    sign_in_anywhere,
)

pytestmark = pytest.mark.browser
INDICATORS = (
    "minutes_on_time", "reviews_on_time", "disclosure_considered", "referrals_on_time",
    "requests_on_time", "transfers_on_time", "invited_attending", "emails_delivered",
)  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with run_demo(tmp_path_factory.mktemp("stats") / "demo", history=True) as server:
        yield server


def test_a_board_member_reads_the_year_in_charts_and_tables(demo: DemoServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sign_in_anywhere(page, demo.base, demo.logins["dby.senior"])
            page.click("#statistics-link")
            expect(page.locator("h1")).to_have_text("MAPPA statistics: Derbyshire")
            csp = page.request.get(f"{demo.base}/statistics").headers["content-security-policy"]
            assert "img-src 'self' data:" in csp and "style-src 'self';" in csp
            # The year's history: RSOs on the last day, level 2 and 3 cases, orders granted.
            rso = page.locator("#figure-rso_on_last_day td").inner_text()
            assert int(rso) >= 12
            assert int(page.locator("#figure-level2-total td").inner_text()) > 0
            # Every indicator has a figure from the year, in words and numbers.
            for key in INDICATORS:
                cell = page.locator(f"#indicator-{key} td").last.inner_text()
                assert "%" in cell and " of " in cell, (key, cell)
            # Each chart is an SVG image that the browser decoded, with a text alternative
            # pointing at the table beside it.
            images = page.locator(".hub-chart img")
            assert images.count() == 4
            for i in range(images.count()):
                image = images.nth(i)
                assert image.evaluate("img => img.complete && img.naturalWidth > 0")
                assert "table" in (image.get_attribute("alt") or "")
                assert (image.get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
            quarters = page.locator("#table-quarter tbody tr")
            assert quarters.count() == len(INDICATORS)
            assert page.locator("#table-agency th[scope=row]", has_text="Probation").count() == 1
            page.locator("#by-agency").scroll_into_view_if_needed()
            page.screenshot(path=str(demo.data_dir / "statistics.png"), full_page=True)

            page.check("#view")
            page.click("#show-stats")
            expect(page.locator("#indicator-suppression")).to_contain_text("[c]")
            with page.expect_download() as download:
                page.click("#indicators-csv")
            text = Path(download.value.path()).read_text(encoding="utf-8")
            assert text.startswith("area,from,to,indicator,label,by,group,met,of,percent")
            assert "minutes_on_time" in text and ",agency,Derbyshire Constabulary," in text
            assert errors == []

            police = browser.new_context().new_page()
            sign_in_anywhere(police, demo.base, demo.logins["dby.police"])
            assert police.locator("#statistics-link").count() == 0
            assert police.goto(f"{demo.base}/statistics").status == 403  # type: ignore[union-attr]
        finally:
            browser.close()
