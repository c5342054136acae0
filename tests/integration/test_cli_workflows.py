"""`mappa-hub forms` and `mappa-hub deadlines remind` (tests/cli_runner.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from hub.clock import ManualClock
from hub.config import load_config
from hub.demo import seed
from hub.wiring import Hub, initialise
from tests.conftest import FAST_PASSWORDS
from tests.integration.test_cli import run


def test_forms_list_and_schema(tmp_path: Path) -> None:
    listing = run(tmp_path, "forms", "list")
    assert listing.returncode == 0, listing.stderr
    assert "minutes\tmappa-hub/form/minutes/v1" in listing.stdout
    assert "referral\tmappa-hub/form/referral/v1" in listing.stdout

    schema = run(tmp_path, "forms", "schema", "minutes")
    assert schema.returncode == 0, schema.stderr
    doc = json.loads(schema.stdout)
    assert doc["$id"].endswith("mappa-hub/form/minutes/v1.json")
    assert {"attendance", "risk_management_plan", "next_review_date"} <= set(doc["required"])
    pillars = doc["$defs"]["FourPillars"]["required"]
    assert pillars == [
        "supervision",
        "monitoring_and_control",
        "interventions_and_treatment",
        "victim_safety_planning",
    ]

    bad = run(tmp_path, "forms", "schema", "no-such-type")
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr


async def test_deadlines_remind_raises_each_overdue_item_once(tmp_path: Path) -> None:
    # The demo world seeded as of January 2026: by now its minutes, actions and request are late.
    data_dir = tmp_path / "var"
    config = dataclasses.replace(load_config(data_dir), passwords=FAST_PASSWORDS)
    await initialise(config)
    hub = await Hub.open(config, clock=ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)))
    try:
        await seed(hub)
    finally:
        await hub.close()

    first = run(data_dir, "deadlines", "remind")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    kinds = {line.split("\t")[1] for line in lines}
    assert {"minutes", "review", "request", "action"} <= kinds
    assert f"{len(lines)} new reminder(s)" in first.stderr
    assert all("overdue by" in line for line in lines)

    again = run(data_dir, "deadlines", "remind")
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert "0 new reminder(s)" in again.stderr
