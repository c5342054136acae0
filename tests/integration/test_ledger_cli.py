"""`mappa-hub ledger checkpoint|verify|check-receipt` (tests/cli_runner.py), and the web receipt."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from hub.store import ledger as ledger_store
from hub.wiring import Hub, initialise
from tests.cli_runner import run_command
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id, make_config


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(["--data-dir", str(data_dir), *args])


async def test_checkpoint_export_verify_and_receipt(tmp_path: Path, sqlite_url: str) -> None:
    from hub.demo import seed
    from hub.model.packets import Draft

    data = tmp_path / "data"
    config = make_config(data, sqlite_url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        police = await actor_for(hub, "dby.police")
        sent = await hub.packets.send(
            police,
            Draft(
                case_id=await case_id(hub, "Harlow"),
                recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
                subject="s", body="b", purpose="risk-management", lawful_basis="cja2003-s325",
                data_categories=SHARE_CATEGORIES, necessity=NECESSITY,
            ),
        )  # fmt: skip
        receipt = await hub.ledger.receipt(police, sent.id)
    finally:
        await hub.close()
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_bytes(receipt.to_bytes())
    pins = data / "keys" / "hub-signing.pub"
    assert pins.exists()

    r = cli(data, "ledger", "check-receipt", str(receipt_file), "--hub-key", str(pins))
    assert r.returncode == 0, r.stderr
    assert f"entry {receipt.seq} (disclosure, packet-sent" in r.stdout
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(receipt.to_bytes().replace(b'"seq":', b'"seq":1', 1))
    assert cli(data, "ledger", "check-receipt", str(tampered)).returncode == 1
    assert cli(data, "ledger", "check-receipt", str(tmp_path / "missing.json")).returncode == 2

    held = tmp_path / "board-checkpoint.json"
    r = cli(data, "ledger", "checkpoint", "--out", str(held))
    assert r.returncode == 0, r.stderr
    r = cli(data, "ledger", "verify", "--checkpoint", str(held))
    assert r.returncode == 0, r.stderr
    assert "1 exported checkpoints consistent" in r.stdout

    with sqlite3.connect(data / "hub.sqlite3") as db:
        db.execute("UPDATE ledger_entries SET lawful_basis = 'common-law' WHERE seq = 3")
    r = cli(data, "ledger", "verify", "--checkpoint", str(held))
    assert r.returncode == 1
    assert "ledger entry 3 does not verify" in r.stderr


async def test_verify_names_an_email_entry_whose_address_was_edited(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Entry v4 (issue 14): an email's entry names its channel and address, and the column that
    holds the address for queries is checked against the signed-over bytes."""
    from hub.ledger.entries import Action, Event, Record
    from hub.services import ledger

    data = tmp_path / "data"
    config = make_config(data, sqlite_url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        now = hub.clock.now()

        def sent(address: str | None, channel: str | None) -> Record:
            return Record(
                action=Action.DISCLOSURE, event=Event.EMAIL_SENT, recorded_at=now,
                actor_user_id=None, actor_agency_id=None, purpose="risk-management",
                lawful_basis="cja2003-s325", content_digest="ab" * 32, channel=channel,
                recipient_address=address,
            )  # fmt: skip

        async with hub.db.write() as conn:
            head, _ = await ledger_store.head(conn)
            await ledger.append_many(
                conn,
                [
                    sent("a.person@agency.example", "email"),
                    sent("b.person@agency.example", "email"),
                    sent(None, "letter"),
                ],
            )
    finally:
        await hub.close()

    r = cli(data, "ledger", "verify")
    assert r.returncode == 0, r.stderr
    assert f"ledger verified: {head + 3} entries" in r.stdout
    with sqlite3.connect(data / "hub.sqlite3") as db:
        stored = db.execute(
            "SELECT channel, recipient_address, entry FROM ledger_entries WHERE seq = ?",
            (head + 2,),
        ).fetchone()
        assert stored[:2] == ("email", "b.person@agency.example")
        assert b'"channel":"email"' in stored[2] and b'"to":"b.person@agency.example"' in stored[2]
        db.execute(
            "UPDATE ledger_entries SET recipient_address = 'x.person@agency.example' WHERE seq = ?",
            (head + 2,),
        )
    r = cli(data, "ledger", "verify")
    assert r.returncode == 1
    assert f"ledger entry {head + 2} does not verify: columns disagree" in r.stderr


async def test_verify_names_an_entry_whose_column_cannot_be_read(
    tmp_path: Path, sqlite_url: str
) -> None:
    """SQLite keeps text that is not UTF-8: the officer running the check is told which entry
    fails, not shown a traceback quoting the value."""
    from hub.ledger.entries import Action, Event, Record
    from hub.services import ledger

    data = tmp_path / "data"
    config = make_config(data, sqlite_url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        opened = Record(
            action=Action.CONSULTATION, event=Event.PACKET_OPENED, recorded_at=hub.clock.now(),
            actor_user_id=None, actor_agency_id=None, purpose="risk-management",
            lawful_basis="cja2003-s325",
        )  # fmt: skip
        async with hub.db.write() as conn:
            await ledger.append_many(conn, [opened] * 3)
    finally:
        await hub.close()
    assert cli(data, "ledger", "verify").returncode == 0
    with sqlite3.connect(data / "hub.sqlite3") as db:
        db.execute(
            "UPDATE ledger_entries SET purpose = CAST(X'C3' AS TEXT) || 'secret' WHERE seq = 2"
        )
    r = cli(data, "ledger", "verify")
    assert r.returncode == 1
    assert "ledger entry 2 does not verify: a column holds a value that cannot be read" in r.stderr
    assert "Traceback" not in r.stderr and "secret" not in r.stderr
