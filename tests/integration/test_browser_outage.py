"""A person at the inbox while PostgreSQL restarts: a clear page saying nothing was saved and when
to try again (503 with Retry-After), never "something went wrong"; the same session works again
once the database is back. Real Chromium, a real gateway process, a PostgreSQL of the test's own.
Screenshots go to ``$MAPPA_TEST_SHOTS`` (default /tmp/shots)."""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hub.demo import seed
from hub.wiring import Hub, initialise
from tests.conftest import make_config
from tests.integration.browser_support import CHROMIUM, CHROMIUM_ARGS, need_chromium, sign_in
from tests.integration.crash_support import (
    free_port,
    hub_env,
    private_postgres,
    start_gateway,
    wait_listening,
)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

SHOTS = Path(os.environ.get("MAPPA_TEST_SHOTS", "/tmp/shots"))  # noqa: S108 - a place to look


async def _seeded(data: Path, url: str) -> list[str]:
    config = make_config(data, url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        login = next(x for x in await seed(hub) if x.role == "practitioner")
    finally:
        await hub.close()
    return [login.username, login.password, login.role, login.agency, login.totp_uri]


def _health(base: str) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:  # noqa: S310 - loopback
            return r.status, r.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")


def test_the_inbox_while_the_database_restarts(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    need_chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with private_postgres() as pg:
        data = tmp_path / "data"
        login = asyncio.run(_seeded(data, pg.url))
        gateway = start_gateway(hub_env(data, pg.url), free_port(), 1, tmp_path / "gateway.log")
        try:
            wait_listening(gateway)
            base = f"http://127.0.0.1:{gateway.port}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                sign_in(page, base, login)
                assert _health(base) == (200, None)
                pg.stop()
                try:
                    status, retry_after = _health(base)  # the proxy's check: out of rotation
                    assert status == 503 and retry_after is not None and int(retry_after) >= 1
                    response = page.goto(f"{base}/outbox?page=1")
                    assert response is not None and response.status == 503
                    assert int(response.headers["retry-after"]) >= 1
                    expect(page.get_by_role("heading", level=1)).to_be_visible()
                    expect(page.locator("main")).to_contain_text("cannot reach its records")
                    expect(page.locator("main")).to_contain_text("Nothing was saved")
                    expect(page.locator("main")).not_to_contain_text("Something went wrong")
                    # The session could not be read, not ended: no "Sign in", a way to retry.
                    expect(page.locator("main")).not_to_contain_text("Sign in")
                    page.screenshot(path=str(SHOTS / "outage-503.png"), full_page=True)
                finally:
                    pg.start()
                assert _health(base) == (200, None)
                page.click("#error-back")  # "Try this page again", once it is back
                expect(page).to_have_url(f"{base}/outbox?page=1")  # still signed in
                expect(page.get_by_role("heading", level=1)).to_contain_text("Sent")
                browser.close()
        finally:
            gateway.stop()
