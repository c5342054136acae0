"""``mappa-hub area|agency|user add`` refuse a name with hidden characters (``hub.text``): exit 2,
a message naming the field and the character, and nothing added."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.integration.test_cli import run

HIDDEN = {"right-to-left override": "\u202e", "line separator": "\u2028"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hub for the module (each command here is refused and changes nothing): an area and
    an agency, no people."""
    d = tmp_path_factory.mktemp("hidden") / "var"
    assert run(d, "init").returncode == 0
    assert run(d, "area", "add", "DBY", "Derbyshire").returncode == 0
    assert run(d, "agency", "add", "DBY-POLICE", "Police", "--type", "police",
               "--area", "DBY").returncode == 0  # fmt: skip
    return d


def _count(data_dir: Path, table: str) -> int:
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


@pytest.mark.parametrize(("name", "char"), HIDDEN.items(), ids=HIDDEN.keys())
def test_an_agency_name_with_a_hidden_character_is_refused(
    data_dir: Path, name: str, char: str
) -> None:
    r = run(data_dir, "agency", "add", "DBY-HOUSING", f"Hous{char}ing", "--type", "housing",
            "--area", "DBY")  # fmt: skip
    assert r.returncode == 2
    assert (
        "The agency name must not include hidden characters, such as line breaks or text "
        f"direction controls. It has a {name} (U+{ord(char):04X}). Remove it and try again."
    ) in r.stderr
    assert _count(data_dir, "agencies") == 1


@pytest.mark.parametrize(("name", "char"), HIDDEN.items(), ids=HIDDEN.keys())
def test_an_area_name_with_a_hidden_character_is_refused(
    data_dir: Path, name: str, char: str
) -> None:
    r = run(data_dir, "area", "add", "NTS", f"Notting{char}hamshire")
    assert r.returncode == 2
    assert "The area name must not include hidden characters" in r.stderr
    assert f"It has a {name}" in r.stderr
    assert _count(data_dir, "areas") == 1


@pytest.mark.parametrize(("name", "char"), HIDDEN.items(), ids=HIDDEN.keys())
def test_a_persons_name_with_a_hidden_character_is_refused(
    data_dir: Path, tmp_path: Path, name: str, char: str
) -> None:
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    r = run(data_dir, "user", "add", "dby.police", "--name", f"Sam {char}Lee", "--agency",
            "DBY-POLICE", "--role", "practitioner", "--password-file", str(password))  # fmt: skip
    assert r.returncode == 2
    assert (
        "The person's name must not include hidden characters, such as line breaks or text "
        f"direction controls. It has a {name}"
    ) in r.stderr
    assert _count(data_dir, "users") == 0


def test_a_username_ending_in_a_line_break_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """``$`` matches before a final line break: the username check is a full match."""
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    r = run(data_dir, "user", "add", "dby.police\n", "--agency", "DBY-POLICE", "--role",
            "practitioner", "--password-file", str(password))  # fmt: skip
    assert r.returncode == 2
    assert "usernames are 3-64 lower-case letters" in r.stderr
    assert _count(data_dir, "users") == 0
