"""The demo's year of history (hub.demo_history) is built relative to the day the demo starts,
so its timetable falls differently on each day: build it for a few awkward days (a bank holiday,
the end of the MAPPA year, a leap day) through the services, and check that the statistics then
have something in every table the year should fill, and that the log verifies."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from hub.demo import seed_directory
from hub.demo_history import add_history
from hub.wiring import Hub
from tests.conftest import TickingClock


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("today", [date(2027, 8, 30), date(2027, 3, 31), date(2028, 2, 29)])
async def test_the_history_builds_on_any_day(hub: Hub, clock: TickingClock, today: date) -> None:
    clock.set(datetime.combine(today - timedelta(days=401), time(9), tzinfo=UTC))
    await seed_directory(hub)
    steps = await add_history(hub, clock, today)
    assert steps > 100
    clock.set(datetime.combine(today, time(9), tzinfo=UTC))
    first, last = today - timedelta(days=365), today - timedelta(days=1)
    annual = await hub.stats.annual_report(None, "DBY", first, last)
    assert annual.value("rso_on_last_day") == 12  # Oakes's management ended: a category 2
    assert annual.value("level2.total") and annual.value("level3.total")
    assert annual.value("sexual-harm-prevention-order.applied") == 4
    board = await hub.stats.board_indicators(None, "DBY", first, last)
    for indicator in board.indicators:
        if indicator.key != "emails_delivered":  # the past has no email addresses set
            assert indicator.total.of > 0, indicator.key
    transfers = {i.key: i for i in board.indicators}["transfers_on_time"]
    assert transfers.total.met == transfers.total.of == 1
    await hub.ledger.verify()
