"""`mappa-hub export visor`, `mappa-hub import visor` and `forms schema visor-record`, against a
real SQLite data directory (tests/cli_runner.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from pathlib import Path

from hub.config import load_config
from hub.demo import seed
from hub.wiring import Hub, initialise
from tests.conftest import FAST_PASSWORDS
from tests.integration.test_cli import run


async def _demo(data_dir: Path) -> str:
    config = dataclasses.replace(load_config(data_dir), passwords=FAST_PASSWORDS)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        return next(
            c.reference for c in await hub.cases.visible_to(None) if c.family_name == "Harlow"
        )
    finally:
        await hub.close()


def _events(data_dir: Path, event: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        rows = db.execute(
            "SELECT action, content_digest FROM ledger_entries WHERE event = ? ORDER BY seq",
            (event,),
        )
        return list(rows)


def test_forms_schema_prints_the_record_format(tmp_path: Path) -> None:
    shown = run(tmp_path, "forms", "schema", "visor-record")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["$id"].endswith("/visor-record/v1")
    assert doc["properties"]["schema_version"] == {
        "const": "1",
        "description": "The version of this format. An importer refuses any other.",
    }


async def test_export_then_import_round_trip_and_errors(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    reference = await _demo(data_dir)
    out = tmp_path / "harlow.json"
    done = run(data_dir, "export", "visor", reference, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"exported {reference}" in done.stderr
    assert (out.stat().st_mode & 0o077) == 0
    doc = json.loads(out.read_bytes())
    assert doc["person"]["family_name"] == "Harlow"
    [(action, digest)] = _events(data_dir, "visor-exported")
    assert action == "disclosure" and digest == hashlib.sha256(out.read_bytes()).hexdigest()

    # Unknown case: bad usage.
    missing = run(data_dir, "export", "visor", "DBY-1999-0001")
    assert missing.returncode == 2 and "No such case" in missing.stderr

    # Re-import as it is: an alteration of the same record.
    again = run(data_dir, "import", "visor", str(out))
    assert again.returncode == 0, again.stderr
    assert f"{reference}: case updated, nominal record version 2" in again.stdout
    assert [a for a, _ in _events(data_dir, "visor-imported")] == ["alteration"]

    # Every problem on its own line, by path; exit 1; nothing written.
    doc["offences"][0]["conviction_date"] = "2999-12-31"
    doc["mappa"]["lead_agency"] = "NOWHERE"
    doc["orders"][0]["stage"] = "applied"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    refused = run(data_dir, "import", "visor", str(bad))
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert (
        f"{bad}: /offences/0/conviction_date: The conviction date cannot be in the future "
        "(2999-12-31)." in lines
    )
    assert f"{bad}: /mappa/lead_agency: No agency NOWHERE in this hub's directory." in lines
    assert f"{bad}: /orders/0/granted_on: An order only applied for has no date granted." in lines
    assert len(_events(data_dir, "visor-imported")) == 1

    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"schema_version": "1",')
    broken = run(data_dir, "import", "visor", str(malformed))
    assert broken.returncode == 1 and "line 1, column 24" in broken.stderr

    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (5 * 1024 * 1024 + 1))
    too_big = run(data_dir, "import", "visor", str(huge))
    assert too_big.returncode == 1 and "larger than 5 MB" in too_big.stderr

    absent = run(data_dir, "import", "visor", str(tmp_path / "absent.json"))
    assert absent.returncode == 2
