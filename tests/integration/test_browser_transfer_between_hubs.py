"""A case transferred between two hubs, done in Chromium by the two coordinators.

North is ``mappa-hub demo`` (Derbyshire); south is another hub, its own process, database and
keys, with Leicestershire. Each pins the other; north holds south's signed directory. North's
coordinator proposes the transfer of Harlow to Leicestershire on south from the case page; the
proposal reaches south, whose coordinator reads the reason and accepts in south's inbox; the
decision reaches north, whose coordinator sends the case file; south verifies, imports and
acknowledges it, and the transfer is complete on both hubs. Screenshots go to
``MAPPA_TEST_SHOTS`` when it is set.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hub.client.peer import PeerClient
from hub.config import Config
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.transfers import TransferState
from hub.store import directory as directory_store
from hub.store import transfers as transfer_store
from hub.wiring import Hub, initialise
from tests.conftest import case_id, make_config
from tests.integration.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoServer,
    free_port,
    need_chromium,
    run_demo,
    sign_in_anywhere,
)
from tests.integration.test_federation import ENV, _wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser
REASON = "Harlow moves to his sister's address in Leicester; approved premises place offered."


@dataclass(frozen=True)
class South:
    base: str
    config: Config
    # The coordinator's (username, password, role, agency, TOTP URI), as demo-logins.txt has it.
    login: list[str]


async def _prepare_south(config: Config) -> list[str]:
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await hub.directory.add_area("LEI", "Leicestershire", Jurisdiction.ENGLAND_AND_WALES)
        await hub.directory.add_agency("LEI-POLICE", "Leics Police", AgencyType.POLICE, "LEI")
        await hub.directory.add_agency(
            "LEI-PROBATION", "Probation Service Leicestershire", AgencyType.PROBATION, "LEI"
        )
        password = "a long test passphrase 44"
        made = await hub.directory.add_user(
            "lei.coordinator", "Kim Lowe", "LEI-POLICE", Role.COORDINATOR, password
        )
        return ["lei.coordinator", password, "coordinator", "LEI-POLICE", made.totp_uri]
    finally:
        await hub.close()


async def _pin_both(north: Path, south: Config, south_url: str, north_url: str) -> None:
    from hub.config import load_config

    n = await Hub.open(load_config(north))
    s = await Hub.open(south)
    try:
        await n.peers.add(None, "south", south_url, (await s.peers.hub_key()).public)
        await s.peers.add(None, "north", north_url, (await n.peers.hub_key()).public)
        # North's operator fetches south's signed directory: its areas are offered in the form.
        async with PeerClient(await n.peers.hub_key(), n.clock) as client:
            data = await client.fetch_directory(await n.peers.get("south"))
        await n.peers.store_directory("south", data)
    finally:
        await n.close()
        await s.close()


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, South]]:
    need_chromium()
    root = tmp_path_factory.mktemp("two-hubs")
    data = root / "south"
    config = make_config(data, f"sqlite:///{data / 'hub.sqlite3'}")
    login = asyncio.run(_prepare_south(config))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--data-dir", str(data), "--port", str(port)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(port, proc)
        south = South(f"http://127.0.0.1:{port}", config, login)
        with run_demo(root / "north") as north:
            asyncio.run(_pin_both(north.data_dir, config, south.base, north.base))
            yield north, south
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _page(chromium: Browser, base: str, login: list[str]) -> Page:
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in_anywhere(page, base, login)
    return page


def _shot(page: Page, name: str) -> None:
    where = os.environ.get("MAPPA_TEST_SHOTS")
    if where:
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


def _south_transfer(south: South) -> tuple[int, TransferState, int | None]:
    async def body() -> tuple[int, TransferState, int | None]:
        hub = await Hub.open(south.config)
        try:
            async with hub.db.read() as conn:
                area = await directory_store.area_by_code(conn, "LEI")
                assert area is not None
                (t,) = await transfer_store.for_area(conn, area.id)
            return t.id, t.state, t.case_id
        finally:
            await hub.close()

    # A thread of its own: Playwright's sync API keeps an event loop on the test's thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, body()).result(timeout=60)


def test_two_coordinators_on_two_hubs_move_a_case(
    hubs: tuple[DemoServer, South], chromium: Browser
) -> None:
    from playwright.sync_api import expect

    north, south = hubs
    harlow = north.read(lambda hub: case_id(hub, "Harlow"))

    # North: the coordinator proposes from the case page; south's area is offered by name.
    dby = _page(chromium, north.base, north.logins["dby.coordinator"])
    dby.goto(f"{north.base}/cases/{harlow}/transfer")
    option = dby.locator("#receiving_area option[value='south/LEI']")
    expect(option).to_have_text("Leicestershire (England and Wales), on hub south")
    dby.select_option("#receiving_area", "south/LEI")
    dby.fill("#proposed_date", (date.today() + timedelta(days=14)).isoformat())
    dby.fill("#reason", REASON)
    _shot(dby, "peer-1-north-proposes")
    dby.click("#propose")
    expect(dby.locator("#notice")).to_contain_text("The transfer is proposed")
    expect(dby.locator("#peer-delivery")).to_contain_text("Told of every step so far")
    north_url = dby.url.split("?")[0]
    _shot(dby, "peer-2-north-proposed")

    # South: the proposal is waiting for its coordinator, with the reason, from hub north.
    lei = _page(chromium, south.base, south.login)
    lei.goto(f"{south.base}/transfers")
    _shot(lei, "peer-3-south-transfers")
    south_id, state, case_there = _south_transfer(south)
    assert (state, case_there) == (TransferState.PROPOSED, None)
    lei.goto(f"{south.base}/transfers/{south_id}")
    expect(lei.locator("#transfer-reason")).to_have_text(REASON)
    expect(lei.locator("#transfer-summary")).to_contain_text("hub north")
    # Who proposed it, as north names them: someone south's coordinator can call.
    expect(lei.locator("#transfer-summary")).to_contain_text("By Priya Shah")
    expect(lei.locator("#transfer-case")).to_have_count(0)  # no case here until the bundle
    lei.select_option("#lead_agency", "LEI-PROBATION")
    lei.fill("#reasons", "Approved premises place confirmed; MAPPA level 2 meeting booked.")
    _shot(lei, "peer-4-south-decides")
    lei.click("#accept")
    expect(lei.locator("#notice")).to_contain_text("You accepted the transfer")
    expect(lei.locator("#peer-delivery")).to_contain_text("Told of every step so far")

    # North: the decision is there, by name; the coordinator sends the case file.
    dby.goto(north_url)
    expect(dby.locator("#transfer-decision")).to_contain_text("Accepted by Kim Lowe")
    # The lead agency in words, as south's signed directory names it.
    expect(dby.locator("#transfer-lead")).to_have_text("Probation Service Leicestershire")
    expect(dby.locator("#send-form")).to_contain_text("hub south")
    _shot(dby, "peer-5-north-accepted")
    dby.click("#send")
    expect(dby.locator("#notice")).to_contain_text("acknowledged it: the transfer is complete")
    expect(dby.locator("#transfer-state")).to_contain_text("Completed")
    _shot(dby, "peer-6-north-completed")

    # South: the same transfer, completed, with the case imported and led by its probation.
    lei.goto(f"{south.base}/transfers/{south_id}")
    expect(lei.locator("#transfer-state")).to_contain_text("Completed")
    _shot(lei, "peer-7-south-completed")
    lei.click("#transfer-case")
    expect(lei.locator("#case-title")).to_have_text("HARLOW, Dean Anthony")
    _shot(lei, "peer-8-south-case")
    same_id, state, case_there = _south_transfer(south)
    assert (same_id, state) == (south_id, TransferState.COMPLETED) and case_there is not None
