"""`mappa-hub transfer propose|accept|decline|list|show`, against a real SQLite data
directory (tests/cli_runner.py): each names the coordinator it is for, and bad usage exits 2, a refusal 1."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

from hub.config import load_config
from hub.demo import seed
from hub.model.cases import MappaCategory, MappaLevel
from hub.services.cases import NewCase
from hub.wiring import Hub, initialise
from tests.conftest import FAST_PASSWORDS, actor_for
from tests.integration.test_cli import run


async def _case_with_meeting(data_dir: Path) -> str:
    config = dataclasses.replace(load_config(data_dir), passwords=FAST_PASSWORDS)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        dby = await actor_for(hub, "dby.coordinator")
        case = await hub.cases.add(
            dby,
            NewCase("Pemberton", "Test", MappaCategory(2), MappaLevel(2), "DBY-PROBATION"),
        )
        today = hub.clock.now().date()
        await hub.casework.record_meeting(dby, case.id, today - timedelta(days=1), 2)
        return case.reference
    finally:
        await hub.close()


async def test_propose_accept_list_show_and_refusals(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    reference = await _case_with_meeting(data_dir)
    when = (date.today() + timedelta(days=7)).isoformat()
    args = ("transfer", "propose", reference, "--to", "NTS", "--reason", "Moving.")
    proposed = run(data_dir, *args, "--date", when, "--as", "dby.coordinator")
    assert proposed.returncode == 0, proposed.stderr
    assert "state: proposed" in proposed.stdout
    tid = proposed.stdout.split()[1].rstrip(":")

    # The proposer cannot accept (refused: 1); an unknown person is bad usage (2).
    own = run(data_dir, "transfer", "accept", tid, "--reasons", "Yes", "--lead", "NTS-PROBATION",
              "--as", "dby.coordinator")  # fmt: skip
    assert own.returncode == 1 and "receiving area" in own.stderr
    nobody = run(data_dir, "transfer", "show", tid, "--as", "no.such.person")
    assert nobody.returncode == 2 and "No active user" in nobody.stderr

    accepted = run(data_dir, "transfer", "accept", tid, "--reasons", "Place confirmed.",
                   "--lead", "NTS-PROBATION", "--as", "nts.coordinator")  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert "new lead agency: NTS-PROBATION" in accepted.stdout
    again = run(data_dir, "transfer", "decline", tid, "--reasons", "No.", "--as", "nts.coordinator")
    assert again.returncode == 1 and "already been decided" in again.stderr
    listed = run(data_dir, "transfer", "list", "--as", "nts.coordinator")
    assert listed.returncode == 0 and f"{tid}\t{reference}\tDBY->NTS\taccepted" in listed.stdout
    shown = run(data_dir, "transfer", "show", tid, "--as", "dby.coordinator")
    assert shown.returncode == 0 and "decision reasons: Place confirmed." in shown.stdout

    # Sending: only the sending area's coordinator (refused: 1); then the signed bundle is
    # built, verified and imported, and the transfer is sent; the receiving coordinator confirms.
    wrong = run(data_dir, "transfer", "send", tid, "--as", "nts.coordinator")
    assert wrong.returncode == 1 and "sending area" in wrong.stderr
    missing = run(data_dir, "transfer", "send", "999", "--as", "dby.coordinator")
    assert missing.returncode == 2 and "No such transfer" in missing.stderr
    sent = run(data_dir, "transfer", "send", tid, "--as", "dby.coordinator")
    assert sent.returncode == 0, sent.stderr
    assert f"transfer {tid}: {reference} sent to NTS as bundle" in sent.stdout
    assert "lacks: Minutes of the last MAPPA meeting" in sent.stderr
    twice = run(data_dir, "transfer", "send", tid, "--as", "dby.coordinator")
    assert twice.returncode == 1 and "not yet sent" in twice.stderr
    received = run(data_dir, "transfer", "receive", tid, "--as", "nts.coordinator")
    assert received.returncode == 0, received.stderr
    assert "state: completed" in received.stdout
