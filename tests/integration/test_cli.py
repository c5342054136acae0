"""The operator command line against a real SQLite data directory: exit 0 on success, 1 on a
failed check, 2 on bad usage, with a message on stderr. Commands run through the CLI's entry
point in the test process (tests/cli_runner.py); one test starts ``python -m hub`` itself."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_command


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command([*args, "--data-dir", str(data_dir)])


# Data directories as set-up commands left them, by the commands: one per test process.
_SET_UP: dict[tuple[tuple[str, ...], ...], Path] = {}


def set_up(factory: pytest.TempPathFactory, data_dir: Path, *commands: tuple[str, ...]) -> Path:
    """``data_dir`` as ``commands`` (``init`` first) leave a new data directory. They run once per
    test process; each test then gets a copy (the SQLite file, the KEK and the hub's key). The
    commands a test is about it still runs itself."""
    template = _SET_UP.get(commands)
    if template is None:
        template = factory.mktemp("cli-set-up") / "var"
        for args in commands:
            result = run(template, *args)
            assert result.returncode == 0, result.stderr
        _SET_UP[commands] = template
    shutil.copytree(template, data_dir)
    return data_dir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    result = run(d, "init")
    assert result.returncode == 0, result.stderr
    assert "new key-encryption key" in result.stdout
    return d


def test_directory_cases_keys_and_ledger(data_dir: Path, tmp_path: Path) -> None:
    assert run(data_dir, "area", "add", "DBY", "Derbyshire").returncode == 0
    r = run(
        data_dir,
        "agency",
        "add",
        "DBY-POLICE",
        "Derbyshire Constabulary",
        "--type",
        "police",
        "--area",
        "DBY",
    )
    assert r.returncode == 0, r.stderr
    assert (
        run(
            data_dir, "agency", "add", "DBY-HSG", "Housing", "--type", "housing", "--area", "DBY"
        ).returncode
        == 0
    )
    listing = run(data_dir, "agency", "list").stdout
    assert "DBY-POLICE\tDBY\tpolice\tresponsible-authority" in listing
    assert "DBY-HSG\tDBY\thousing\tduty-to-cooperate" in listing

    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    r = run(
        data_dir,
        "user",
        "add",
        "ds.ellis",
        "--agency",
        "DBY-POLICE",
        "--role",
        "practitioner",
        "--name",
        "DS Ellis",
        "--password-file",
        str(password),
    )
    assert r.returncode == 0, r.stderr
    assert "otpauth://totp/MAPPA%20Hub:ds.ellis?secret=" in r.stdout

    r = run(
        data_dir,
        "case",
        "add",
        "--family-name",
        "Harlow",
        "--given-names",
        "Dean",
        "--category",
        "1",
        "--level",
        "2",
        "--lead",
        "DBY-POLICE",
        "--dob",
        "1979-03-14",
        "--visor",
        "VR-1",
    )
    assert r.returncode == 0, r.stderr
    reference = r.stdout.split()[-1]
    assert reference.startswith("DBY-")
    assert reference in run(data_dir, "case", "list").stdout
    shown = run(data_dir, "case", "show", reference).stdout
    assert "HARLOW, Dean" in shown and "1979-03-14" in shown

    keys_before = run(data_dir, "keys", "list").stdout
    assert keys_before.count("active") == 4
    r = run(data_dir, "keys", "rotate", "--agency", "DBY-HSG")
    assert r.returncode == 0, r.stderr
    keys_after = run(data_dir, "keys", "list").stdout
    assert keys_after.count("active") == 4 and keys_after.count("retired") == 2

    r = run(data_dir, "ledger", "verify")
    assert r.returncode == 0, r.stderr
    assert "9 entries" in r.stdout  # the area added is one of them
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        events = [e for (e,) in db.execute("SELECT event FROM ledger_entries ORDER BY seq")]
    # The area, each agency with its first keys, the person and their recovery codes, the case,
    # the rotation.
    assert events == [
        "area-added", "agency-added", "keys-issued", "agency-added", "keys-issued", "account-created",
        "recovery-codes-issued", "case-created", "keys-issued",
    ]  # fmt: skip


def test_bad_usage_exits_2(data_dir: Path) -> None:
    r = run(data_dir, "agency", "add", "X-1", "Nowhere", "--type", "police", "--area", "ZZZ")
    assert r.returncode == 2
    assert "unknown area ZZZ" in r.stderr
    r = run(data_dir, "agency", "add", "DBY", "x", "--type", "not-a-type", "--area", "DBY")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr
    assert run(data_dir, "case", "show", "NOPE-1").returncode == 2
    assert run(data_dir, "no-such-command").returncode == 2


def test_ledger_verify_fails_on_tampering(data_dir: Path) -> None:
    assert run(data_dir, "area", "add", "DBY", "Derbyshire").returncode == 0
    assert (
        run(
            data_dir, "agency", "add", "DBY-POLICE", "Police", "--type", "police", "--area", "DBY"
        ).returncode
        == 0
    )
    for name in ("One", "Two", "Three"):
        r = run(
            data_dir,
            "case",
            "add",
            "--family-name",
            name,
            "--given-names",
            "A",
            "--category",
            "2",
            "--level",
            "1",
            "--lead",
            "DBY-POLICE",
        )
        assert r.returncode == 0, r.stderr
    assert run(data_dir, "ledger", "verify").returncode == 0
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        db.execute("UPDATE ledger_entries SET purpose = 'crime-prevention' WHERE seq = 2")
    r = run(data_dir, "ledger", "verify")
    assert r.returncode == 1
    assert "ledger entry 2 does not verify" in r.stderr


def test_unmigrated_database_refused(tmp_path: Path) -> None:
    r = run(tmp_path / "fresh", "case", "list")
    assert r.returncode == 1
    assert "mappa-hub init" in r.stderr


def _process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_real_process_exits_and_reports_as_the_in_process_runs_do(tmp_path: Path) -> None:
    """The other tests call the entry point in-process; this one holds the process to the same
    contract: shared options before the subcommand, exits 0, 1 and 2, messages on stderr."""
    d = tmp_path / "before"
    r = _process("--data-dir", str(d), "init")
    assert r.returncode == 0, r.stderr
    assert (d / "hub.sqlite3").exists()
    r = _process("--data-dir", str(d), "case", "show", "NOPE-1")
    assert r.returncode == 2
    assert r.stderr.startswith("mappa-hub: ")
    assert _process("no-such-command").returncode == 2
    r = _process("--data-dir", str(tmp_path / "fresh"), "case", "list")
    assert r.returncode == 1
    assert "mappa-hub init" in r.stderr


def test_missing_policy_dir_is_a_clear_failure(data_dir: Path, tmp_path: Path) -> None:
    r = run(data_dir, "case", "list", "--policy-dir", str(tmp_path / "nowhere"))
    assert r.returncode == 1
    assert "policy file not found" in r.stderr and "MAPPA_HUB_POLICY_DIR" in r.stderr


def test_case_set_level_and_packet_shred_from_the_command_line(data_dir: Path) -> None:
    assert run(data_dir, "area", "add", "DBY", "Derbyshire").returncode == 0
    assert (
        run(
            data_dir, "agency", "add", "DBY-POLICE", "Police", "--type", "police", "--area", "DBY"
        ).returncode
        == 0
    )
    r = run(
        data_dir,
        "case",
        "add",
        "--family-name",
        "Moss",
        "--given-names",
        "C",
        "--category",
        "3",
        "--level",
        "2",
        "--lead",
        "DBY-POLICE",
    )
    reference = r.stdout.split()[-1]
    r = run(data_dir, "case", "set-level", reference, "--level", "3")
    assert r.returncode == 0, r.stderr
    assert "category 3, level 3" in r.stdout
    r = run(data_dir, "packet", "shred", "00000000-0000-0000-0000-000000000000")
    assert r.returncode == 2
    assert "No such packet" in r.stderr
    # Involving an agency makes it active on the case (an alteration on the log); twice is a
    # conflict and an unknown agency is bad usage.
    assert (
        run(
            data_dir, "agency", "add", "DBY-HOUSING", "Housing", "--type", "housing", "--area",
            "DBY",
        ).returncode
        == 0
    )  # fmt: skip
    r = run(data_dir, "case", "involve", reference, "dby-housing")
    assert r.returncode == 0, r.stderr
    assert f"DBY-HOUSING is now active on {reference}" in r.stdout
    r = run(data_dir, "case", "involve", reference, "DBY-HOUSING")
    assert r.returncode == 2 and "already active" in r.stderr
    r = run(data_dir, "case", "involve", reference, "NOWHERE")
    assert r.returncode == 2 and "Unknown agency" in r.stderr
    assert run(data_dir, "ledger", "verify").returncode == 0
