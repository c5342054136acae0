"""Shared parts of the Chromium tests: the browser's launch arguments, `mappa-hub demo` run as a
real process on SQLite, signing in through the real login and TOTP pages, and reading the demo's
database through the services (in a thread of its own, away from Playwright's event loop)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pyotp
import pytest

from hub.config import load_config
from hub.wiring import Hub

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("MAPPA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

T = TypeVar("T")


def need_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required on CI but {CHROMIUM} is missing")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class DemoServer:
    base: str
    # username -> (username, password, role, agency, TOTP URI), as in demo-logins.txt
    logins: dict[str, list[str]]
    data_dir: Path

    def read(self, body: Callable[[Hub], Awaitable[T]]) -> T:
        """Run ``body`` against the demo's database through the services, as the server sees it.

        A thread of its own: Playwright's sync API keeps an event loop on the test's thread."""

        async def run() -> T:
            hub = await Hub.open(load_config(self.data_dir))
            try:
                return await body(hub)
            finally:
                await hub.close()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, run()).result(timeout=60)


@contextmanager
def run_demo(data_dir: Path, *, history: bool = False) -> Iterator[DemoServer]:
    """`mappa-hub demo` as a real process on a free port, stopped on exit. ``history``: with the
    year of Derbyshire's history (what a newcomer gets); the tests that count what the demo
    seeded today leave it out."""
    need_chromium()
    port = free_port()
    extra = [] if history else ["--no-history"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub",
            "demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        banner = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.startswith("Ctrl-C stops the demo"):
                break
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}/" in text, text
        logins = {
            fields[0]: fields
            for fields in (
                line.split("\t") for line in (data_dir / "demo-logins.txt").read_text().splitlines()
            )
        }
        yield DemoServer(f"http://127.0.0.1:{port}", logins, data_dir)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def sign_in(page: Page, base: str, login: list[str]) -> None:
    """Password, then the current TOTP code, through the real pages. A code is accepted once, so
    sign each user in once per server and keep the browser context."""
    from playwright.sync_api import expect

    page.goto(f"{base}/inbox")
    expect(page).to_have_url(f"{base}/login")
    page.fill("#username", login[0])
    page.fill("#password", login[1])
    page.click("#signin")
    expect(page).to_have_url(f"{base}/login/totp")
    page.fill("#code", pyotp.parse_uri(login[4].strip()).now())
    page.click("#verify")
    expect(page).to_have_url(f"{base}/inbox")


def sign_in_anywhere(page: Page, base: str, login: list[str]) -> None:
    """As ``sign_in``, for any role: lands on the role's own first page, whatever it is."""
    from playwright.sync_api import expect

    page.goto(f"{base}/login")
    page.fill("#username", login[0])
    page.fill("#password", login[1])
    page.click("#signin")
    expect(page).to_have_url(f"{base}/login/totp")
    page.fill("#code", pyotp.parse_uri(login[4].strip()).now())
    page.click("#verify")
    expect(page).not_to_have_url(re.compile(r"/login"))
