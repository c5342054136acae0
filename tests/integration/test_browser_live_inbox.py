"""The live inbox in real Chromium, against `mappa-hub serve` run as real processes.

On PostgreSQL two gateway processes on two ports share one database: a packet sent through the
API of one appears, without a reload and within a second of the send's acknowledgement, in an
inbox open in Chromium on the other (LISTEN/NOTIFY). On SQLite one process does both (its
in-process signal). Screen readers are told how many arrived; focus and scroll stay where they
were; text being selected holds the update back; after every gateway's LISTEN connection is
killed nothing is lost; the page passes axe-core with the new row; nothing breaks the CSP; and
with JavaScript off the page is the same page, brought up to date by reloading. Screenshots before and after, at
desktop width and at 390 px, go to ``$MAPPA_TEST_SHOTS`` (default /tmp/shots).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from hub.demo import seed
from hub.store.inbox_events import APPLICATION_NAME
from hub.wiring import Hub, initialise
from tests.conftest import (
    NECESSITY,
    SHARE_CATEGORIES,
    _drop_pg_database,
    _pg_database,
    case_id,
    make_config,
)
from tests.integration.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    need_chromium,
    sign_in,
)
from tests.integration.test_accessibility import axe_violations, describe

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("MAPPA_TEST_SHOTS", "/tmp/shots"))  # noqa: S108 - a place to look
WITHIN = 1.0  # seconds from the send's acknowledgement to the row on the open page


@dataclass(frozen=True)
class Gateways:
    bases: list[str]
    logins: dict[str, list[str]]
    token: str
    case_id: int
    database_url: str


async def _prepare(data: Path, url: str) -> tuple[str, int, dict[str, list[str]]]:
    config = make_config(data, url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        logins = {
            x.username: [x.username, x.password, x.role, x.agency, x.totp_uri]
            for x in await seed(hub)
        }
        issued = await hub.tokens.issue(None, "DBY-POLICE", "Case system", ["packets:send"])
        return issued.secret, await case_id(hub, "Harlow"), logins
    finally:
        await hub.close()


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "a gateway exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("a gateway did not start")


def _stopped(proc: subprocess.Popen[bytes]) -> tuple[bool, bytes]:
    """Whether a gateway told to stop did so within 30 s (as long as systemd gives it), and its
    stderr; one still running then is asked for every thread's stack (SIGUSR1) and killed."""
    try:
        return True, proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.kill()
        return False, proc.communicate()[1]


@contextmanager
def gateways(tmp_path: Path, kind: str, count: int) -> Iterator[Gateways]:
    """``count`` `mappa-hub serve` processes, each on its own port, on one database."""
    need_chromium()
    data, name = tmp_path / "data", None
    if kind == "postgres":
        url, name = asyncio.run(_pg_database())
    else:
        url = f"sqlite:///{data / 'hub.sqlite3'}"
    try:
        token, case, logins = asyncio.run(_prepare(data, url))
        env = {**os.environ, "MAPPA_HUB_DATABASE_URL": url, "MAPPA_HUB_LOG_LEVEL": "WARNING"}
        ports = [free_port() for _ in range(count)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--data-dir", str(data), "--port", str(p)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for p in ports
        ]
        try:
            for port, proc in zip(ports, procs, strict=True):
                _wait_for(port, proc)
            yield Gateways([f"http://127.0.0.1:{p}" for p in ports], logins, token, case, url)
        finally:
            for proc in procs:
                proc.terminate()
            stops = [_stopped(proc) for proc in procs]  # every one reaped, whatever happens
            for proc, (in_time, stderr) in zip(procs, stops, strict=True):
                # Stopped cleanly with a stream open: in time, no traceback, exit 0.
                assert in_time, "a gateway did not stop within 30 s:\n" + stderr.decode()
                assert proc.returncode == 0, stderr.decode()
                assert b"Traceback" not in stderr, stderr.decode()
    finally:
        if name is not None:
            asyncio.run(_drop_pg_database(name))


def _send(g: Gateways, base: str, to: str, subject: str) -> str:
    """POST /api/v1/packets; the packet's id once the gateway has acknowledged it (201)."""
    body = {
        "case_id": g.case_id,
        "recipient_agencies": [to],
        "subject": subject,
        "body": "Is the proposed address suitable?",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "necessity": NECESSITY,
    }
    request = urllib.request.Request(  # noqa: S310 - loopback, a test's own server
        f"{base}/api/v1/packets",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {g.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        assert resp.status == 201
        return str(json.loads(resp.read())["id"])


def _open_inbox(page: Page, base: str) -> None:
    """The inbox, loaded afresh, once its stream is open (so nothing sent next is missed)."""
    with page.expect_response(lambda r: r.url == f"{base}/inbox/events"):
        page.goto(f"{base}/inbox")


def _arrives(page: Page, g: Gateways, via: str, subject: str) -> tuple[str, float]:
    """Send through ``via``; wait for the row on the open page; (packet id, seconds taken)."""
    packet_id = _send(g, via, "DBY-HOUSING", subject)
    acknowledged = time.monotonic()
    page.wait_for_selector(f"#row-{packet_id}", state="attached", timeout=5000)
    return packet_id, time.monotonic() - acknowledged


def _shot(page: Page, kind: str, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"live-inbox-{kind}-{name}.png"), full_page=True)


def _live_inbox(browser: Browser, g: Gateways, kind: str) -> list[Any]:
    """Returns the reader's cookies (a TOTP code signs in once: the next page reuses them)."""
    from playwright.sync_api import expect

    viewing, sending = g.bases[-1], g.bases[0]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, viewing, g.logins["dby.housing"])
    _open_inbox(page, viewing)
    rows = page.locator("#inbox tbody tr").count()
    _shot(page, kind, "desktop-before")

    packet_id, took = _arrives(page, g, sending, "Harlow: proposed address, live")
    print(f"live inbox ({kind}): row shown {took * 1000:.0f} ms after the send's 201")
    assert took < WITHIN
    expect(page.locator("#live-status")).to_have_text("1 new packet")
    expect(page.locator("#inbox tbody tr")).to_have_count(rows + 1)
    expect(page.locator(f"#row-{packet_id}")).to_have_class("govuk-table__row hub-row--new")
    expect(page.locator("#inbox tbody tr").first).to_have_id(f"row-{packet_id}")
    expect(page.locator("#unread-count")).to_contain_text("unread packet")
    assert page.url == f"{viewing}/inbox"  # no reload, no navigation
    violations = axe_violations(page)
    assert not violations, describe(violations)
    _shot(page, kind, "desktop-after")

    # A phone: the reader has a packet link focused and has scrolled down the list.
    page.set_viewport_size({"width": 390, "height": 844})
    _open_inbox(page, viewing)
    _shot(page, kind, "390-before")
    focused = page.locator("#inbox a.subject").last
    focused.focus()
    href = focused.get_attribute("href")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    anchor = page.locator("#inbox tbody tr").last
    anchor_id = anchor.get_attribute("id")
    top = page.evaluate(f"document.getElementById('{anchor_id}').getBoundingClientRect().top")
    assert page.evaluate("window.scrollY") > 0

    _, took = _arrives(page, g, sending, "Harlow: second address, live")
    assert took < WITHIN
    expect(page.locator("#live-status")).to_have_text("1 new packet")
    assert page.evaluate("document.activeElement.getAttribute('href')") == href
    moved = page.evaluate(f"document.getElementById('{anchor_id}').getBoundingClientRect().top")
    assert abs(moved - top) < 2, (top, moved)
    _shot(page, kind, "390-after")
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, kind, "390-after-top")
    _waits_for_a_selection(page, g)
    if kind == "postgres":
        _after_the_listeners_are_killed(page, g)
        # The same session, served by the other gateway process: sessions live in the database.
        page.goto(f"{sending}/inbox")
        expect(page).to_have_url(f"{sending}/inbox")
        expect(page.locator(f"#row-{packet_id}")).to_have_count(1)
    assert errors == []
    cookies = page.context.cookies()
    page.close()
    return cookies


def _waits_for_a_selection(page: Page, g: Gateways) -> None:
    """Text being selected in the listing is not pulled from under the reader: the new row
    waits until the selection is let go."""
    from playwright.sync_api import expect

    page.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector("#inbox tbody td.hub-stack__lead"));
            document.getSelection().removeAllRanges();
            document.getSelection().addRange(range);
        }"""
    )
    packet_id = _send(g, g.bases[0], "DBY-HOUSING", "Harlow: after the selection")
    page.wait_for_timeout(1000)
    expect(page.locator(f"#row-{packet_id}")).to_have_count(0)
    page.evaluate("document.getSelection().removeAllRanges()")
    page.wait_for_selector(f"#row-{packet_id}", state="attached", timeout=2000)


def _after_the_listeners_are_killed(page: Page, g: Gateways) -> None:
    """Every gateway's LISTEN connection is terminated and a packet sent at once: whether its
    notification is heard by the new connection or lost before it, the page shows the packet
    (after a reconnection each page is told to fetch again)."""

    async def terminate() -> int:
        conn = await asyncpg.connect(g.database_url)
        try:
            killed = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                APPLICATION_NAME,
            )
            return len(killed)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:  # away from Playwright's event loop
        assert pool.submit(asyncio.run, terminate()).result(timeout=30) == len(g.bases)
    packet_id = _send(g, g.bases[0], "DBY-HOUSING", "Harlow: sent while reconnecting")
    page.wait_for_selector(f"#row-{packet_id}", state="attached", timeout=5000)


def _without_javascript(browser: Browser, g: Gateways, cookies: list[Any]) -> None:
    """The same page, with nothing live: a reload shows what arrived."""
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    context.add_cookies(cookies)
    page = context.new_page()
    base = g.bases[0]
    page.goto(f"{base}/inbox")
    expect(page.locator("#live-status")).to_be_empty()
    packet_id = _send(g, base, "DBY-HOUSING", "Harlow: seen after a reload")
    page.wait_for_timeout(1500)
    expect(page.locator(f"#row-{packet_id}")).to_have_count(0)
    page.reload()
    expect(page.locator(f"#row-{packet_id}")).to_be_visible()
    context.close()


@pytest.mark.parametrize(
    ("kind", "count"),
    [pytest.param("postgres", 2, marks=pytest.mark.postgres), ("sqlite", 1)],
)
def test_a_packet_sent_through_one_gateway_appears_live_in_an_inbox_on_another(
    tmp_path: Path, kind: str, count: int
) -> None:
    from playwright.sync_api import sync_playwright

    with gateways(tmp_path, kind, count) as g, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            cookies = _live_inbox(browser, g, kind)
            _without_javascript(browser, g, cookies)
        finally:
            browser.close()
