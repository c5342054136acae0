"""``mappa-hub email digest``, ``user set-email`` and ``user add --email`` against a real SQLite
data directory (through the CLI's entry point, tests/cli_runner.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.config import load_config
from hub.services import notices
from hub.services.actor import Actor
from hub.wiring import Hub
from hub.workflows.deadlines import local_date
from tests.integration.test_cli import set_up
from tests.integration.test_email_cli import run

ADDRESS = "aisha.khan@housing.derby.example"


@pytest.fixture
def data_dir(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The same file in every test of a process, so that one set-up serves them all.
    password = tmp_path_factory.getbasetemp() / "cli-password"
    password.write_text("a long initial password for the test\n", encoding="utf-8")
    return set_up(
        tmp_path_factory,
        tmp_path / "var",
        ("init",),
        ("area", "add", "DBY", "Derbyshire"),
        ("agency", "add", "DBY-HSG", "Housing", "--type", "housing", "--area", "DBY"),
        ("user", "add", "dby.housing", "--agency", "DBY-HSG", "--role", "practitioner",
         "--password-file", str(password), "--email", ADDRESS),
    )  # fmt: skip


def _today() -> str:
    """The local day the processes run on (the hub's clock is the system's)."""
    return local_date(datetime.now(UTC)).isoformat()


def _outbox(data_dir: Path) -> list[tuple[int, str, str, str, int | None, str]]:
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        rows = db.execute(
            "SELECT id, kind, status, ref, digest_id, dedupe_key FROM email_outbox ORDER BY id"
        )
        return list(rows)


def _deliver(data_dir: Path, *packet_ids: str) -> int:
    """The person chooses a daily digest for new packets, then packets reach their agency: the
    cause queues each notice for the digest, as a share does."""

    async def body() -> int:
        hub = await Hub.open(load_config(data_dir))
        try:
            user = next(u for u in await hub.directory.users() if u.username == "dby.housing")
            actor = Actor(user, await hub.directory.agency(user.agency_id))
            modes = {g.value: notices.DIGEST for g in notices.Group}
            await hub.notices.save_settings(actor, modes)
            async with hub.db.write() as conn:
                return await notices.packets_delivered(
                    conn, [(p, None, [user.agency_id]) for p in packet_ids], hub.clock.now()
                )
        finally:
            await hub.close()

    return asyncio.run(body())


def test_digest_folds_the_waiting_rows_once_a_day(data_dir: Path) -> None:
    assert _deliver(data_dir, "pkt-one", "pkt-two") == 2
    waiting = _outbox(data_dir)
    assert [(kind, status) for _, kind, status, *_ in waiting] == [("notification", "digest")] * 2
    day = _today()

    # A bad setting stops the command, naming the variable, before anything is folded.
    r = run(data_dir, "email", "digest", env={"MAPPA_HUB_DIGEST_TIME": "25:00"})
    assert r.returncode == 1 and "MAPPA_HUB_DIGEST_TIME must be" in r.stderr
    assert _outbox(data_dir) == waiting

    r = run(data_dir, "email", "digest")
    assert r.returncode == 0, r.stderr
    assert "1 digest(s) queued, folding 2 notice(s)" in r.stderr
    assert ADDRESS not in r.stderr + r.stdout  # counts only
    rows = _outbox(data_dir)
    [digest] = [row for row in rows if row[1] == "digest"]
    digest_id = digest[0]
    assert digest[2] == "pending" and digest[5].endswith(f":{day}")
    assert digest[3] == ",".join(str(row[0]) for row in waiting)
    folded = [(status, did) for _, kind, status, _, did, _ in rows if kind == "notification"]
    assert folded == [("folded", digest_id)] * 2

    # Another notice arrives the same local day: the second run queues nothing more, and the
    # notice waits for tomorrow's digest.
    assert _deliver(data_dir, "pkt-three") == 1
    r = run(data_dir, "email", "digest")
    assert r.returncode == 0, r.stderr
    if _today() != day:
        pytest.skip("the local day changed between the two runs")
    assert "0 digest(s) queued, folding 0 notice(s)" in r.stderr
    rows = _outbox(data_dir)
    assert [row[0] for row in rows if row[1] == "digest"] == [digest_id]
    assert [(row[2], row[4]) for row in rows if row[3] == "pkt-three"] == [("digest", None)]


def _listed(data_dir: Path) -> dict[str, str]:
    r = run(data_dir, "user", "list")
    assert r.returncode == 0, r.stderr
    return {line.split("\t")[0]: line.split("\t")[-1] for line in r.stdout.splitlines() if line}


@pytest.mark.parametrize(
    "bad",
    [
        "not-an-address",
        "officer@housing.example\r\nBcc: someone@elsewhere.example",
        "officer@housing.example\nX-Injected: yes",
    ],
)
def test_set_email_refuses_a_bad_address(data_dir: Path, bad: str) -> None:
    r = run(data_dir, "user", "set-email", "dby.housing", bad)
    assert r.returncode == 2
    assert "Enter an email address in the correct format" in r.stderr
    assert _listed(data_dir)["dby.housing"] == ADDRESS  # unchanged


def test_set_email_and_add_with_email(data_dir: Path, tmp_path: Path) -> None:
    assert _listed(data_dir)["dby.housing"] == ADDRESS  # from user add --email

    r = run(data_dir, "user", "set-email", "dby.housing", "  a.khan@housing.derby.example ")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "dby.housing: a.khan@housing.derby.example"
    assert _listed(data_dir)["dby.housing"] == "a.khan@housing.derby.example"

    r = run(data_dir, "user", "set-email", "dby.housing", "--none")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "dby.housing: no email address"
    assert _listed(data_dir)["dby.housing"] == "-"

    r = run(data_dir, "user", "set-email", "nobody.here", "someone@housing.example")
    assert r.returncode == 2
    assert "unknown user nobody.here" in r.stderr
    # An address or --none, not both and not neither: argparse's usage error.
    assert run(data_dir, "user", "set-email", "dby.housing").returncode == 2

    password = tmp_path / "password"
    password.write_text("another long password for the test\n", encoding="utf-8")
    added = ("user", "add", "dby.housing2", "--agency", "DBY-HSG", "--role", "practitioner",
             "--password-file", str(password))  # fmt: skip
    for bad in ("not-an-address", "officer@housing.example\r\nBcc: someone@elsewhere.example"):
        r = run(data_dir, *added, "--email", bad)
        assert r.returncode == 2
        assert "Enter an email address in the correct format" in r.stderr
        assert "dby.housing2" not in _listed(data_dir)  # refused before the user was added
    r = run(data_dir, *added, "--email", "second@housing.derby.example")
    assert r.returncode == 0, r.stderr
    assert _listed(data_dir)["dby.housing2"] == "second@housing.derby.example"
