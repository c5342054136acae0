"""``mappa-hub user add|deactivate|reset-totp|end-sessions|set-password`` on a real SQLite data
directory (tests/cli_runner.py): recovery codes at set-up, a reset that kills the old
authenticator, clear exits and messages for unknown people, and each change on the log with no
actor (the operator)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.integration.test_cli import run, set_up

_CODE = re.compile(r"^  ([0-9a-z]{5}-[0-9a-z]{5})$", re.M)
# The fixture's area, its agency, and the agency's first keys.
_SET_UP = [("area-added", None), ("agency-added", None), ("keys-issued", None)]


@pytest.fixture
def data_dir(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return set_up(
        tmp_path_factory,
        tmp_path / "var",
        ("init",),
        ("area", "add", "DBY", "Derbyshire"),
        ("agency", "add", "DBY-POLICE", "Police", "--type", "police", "--area", "DBY"),
    )


def _add(data_dir: Path, tmp_path: Path, username: str) -> str:
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    r = run(data_dir, "user", "add", username, "--agency", "DBY-POLICE", "--role",
            "practitioner", "--password-file", str(password))  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def _events(data_dir: Path) -> list[tuple[str, object]]:
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        rows = db.execute(
            "SELECT event, actor_user_id FROM ledger_entries WHERE action = 'alteration' "
            "ORDER BY seq"
        ).fetchall()
    return [(e, a) for e, a in rows]


def test_user_add_prints_recovery_codes_with_the_authenticator(
    data_dir: Path, tmp_path: Path
) -> None:
    out = _add(data_dir, tmp_path, "ds.ellis")
    assert "otpauth://totp/MAPPA%20Hub:ds.ellis?secret=" in out
    assert "Recovery codes (show once, to the user only" in out
    assert len(set(_CODE.findall(out))) == 10
    assert _events(data_dir) == [
        *_SET_UP,
        ("account-created", None),
        ("recovery-codes-issued", None),
    ]


def test_reset_totp_gives_a_new_authenticator_and_codes(data_dir: Path, tmp_path: Path) -> None:
    first = _add(data_dir, tmp_path, "ds.ellis")
    r = run(data_dir, "user", "reset-totp", "--username", "ds.ellis")
    assert r.returncode == 0, r.stderr
    assert "the old app's codes and recovery codes no longer work" in r.stdout
    old_secret = re.search(r"secret=([A-Z2-7]+)", first)
    new_secret = re.search(r"secret=([A-Z2-7]+)", r.stdout)
    assert old_secret and new_secret and old_secret.group(1) != new_secret.group(1)
    assert not set(_CODE.findall(first)) & set(_CODE.findall(r.stdout))
    assert _events(data_dir)[-2:] == [
        ("second-factor-reset", None),
        ("recovery-codes-issued", None),
    ]
    assert run(data_dir, "ledger", "verify").returncode == 0


def test_deactivate_end_sessions_and_set_password(data_dir: Path, tmp_path: Path) -> None:
    _add(data_dir, tmp_path, "ds.ellis")
    r = run(data_dir, "user", "end-sessions", "ds.ellis")
    assert (r.returncode, r.stdout.strip()) == (
        0,
        "signed ds.ellis out everywhere: 0 session(s) ended",
    )

    weak = tmp_path / "weak"
    weak.write_text("password1234\n")
    r = run(data_dir, "user", "set-password", "ds.ellis", "--password-file", str(weak))
    assert r.returncode == 2 and "too easy to guess" in r.stderr
    good = tmp_path / "good"
    good.write_text("four unrelated words here\n")
    r = run(data_dir, "user", "set-password", "ds.ellis", "--password-file", str(good))
    assert r.returncode == 0 and "set a new password for ds.ellis" in r.stdout

    r = run(data_dir, "user", "deactivate", "ds.ellis")
    assert r.returncode == 0, r.stderr
    assert "deactivated ds.ellis: they can no longer sign in; 0 session(s) ended" in r.stdout
    assert "0 API token(s) they issued, which stay in force" in r.stdout
    r = run(data_dir, "user", "deactivate", "ds.ellis")
    assert r.returncode == 2 and "already deactivated" in r.stderr
    assert [e for e, _ in _events(data_dir)][len(_SET_UP) :] == [
        "account-created", "recovery-codes-issued", "sign-out-forced", "password-changed", "account-deactivated",
    ]  # fmt: skip


def test_an_unknown_user_is_bad_usage_and_changes_nothing(data_dir: Path) -> None:
    for action in ("deactivate", "reset-totp", "end-sessions", "set-password"):
        r = run(data_dir, "user", action, "no.such.person")
        assert r.returncode == 2, action
        assert r.stderr.strip() == "mappa-hub: unknown user no.such.person"
        assert r.stdout == ""
        r = run(data_dir, "user", action)
        assert r.returncode == 2 and f"name one user: mappa-hub user {action} USERNAME" in r.stderr
    assert _events(data_dir) == _SET_UP
