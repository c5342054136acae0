"""``mappa-hub token issue|list|revoke`` on a real SQLite data directory
(through the CLI's entry point, tests/cli_runner.py)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import NotAuthenticated
from hub.services.tokens import ledger_digest
from hub.store import ledger as ledger_store
from hub.wiring import Hub
from tests.integration.test_cli import run, set_up


@pytest.fixture
def data_dir(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return set_up(
        tmp_path_factory,
        tmp_path / "var",
        ("init",),
        ("area", "add", "DBY", "Derbyshire"),
        ("agency", "add", "DBY-POLICE", "Derbyshire Constabulary", "--type", "police", "--area", "DBY"),
        ("agency", "add", "DBY-HSG", "Housing", "--type", "housing", "--area", "DBY"),
        ("case", "add", "--family-name", "Harlow", "--given-names", "Dean", "--category", "1",
         "--level", "2", "--lead", "DBY-POLICE", "--reference", "DBY-2026-0001"),
    )  # fmt: skip


def authenticate(data_dir: Path, secret: str) -> str | None:
    """The agency code the hub would act for with this token, or None if it is refused."""

    async def check() -> str | None:
        hub = await Hub.open(load_config(data_dir))
        try:
            caller = await hub.callers.authenticate(secret)
        except NotAuthenticated:
            return None
        finally:
            await hub.close()
        return caller.actor.agency.code

    return asyncio.run(check())


def test_issue_list_revoke_round_trip(data_dir: Path) -> None:
    r = run(
        data_dir,
        "token", "issue", "--agency", "dby-police", "--name", "Records system",
        "--scope", "cases:read", "--scope", "packets:send", "--case", "DBY-2026-0001",
        "--days", "30", "--role", "coordinator",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    # Standard output is the secret alone, so that it can be piped into a secret store.
    match = re.fullmatch(r"(mh_(\d+)_[A-Za-z0-9_-]{40,})\n", r.stdout)
    assert match is not None, r.stdout
    secret, token_id = match.group(1), match.group(2)
    assert "shown only this once" in r.stderr
    assert secret not in r.stderr
    assert authenticate(data_dir, secret) == "DBY-POLICE"
    # The database holds only its hash.
    database = (data_dir / "hub.sqlite3").read_bytes()
    assert secret.split("_", 2)[2].encode() not in database

    r = run(data_dir, "token", "issue", "--agency", "DBY-HSG", "--name", "Housing CRM",
            "--scope", "packets:read")  # fmt: skip
    assert r.returncode == 0, r.stderr
    housing_secret = r.stdout.strip()

    r = run(data_dir, "token", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    fields = lines[0].split("\t")
    assert fields[:5] == [
        token_id,
        "DBY-POLICE",
        "Records system",
        "cases:read,packets:send",
        "DBY-2026-0001",
    ]
    assert fields[7] == "active" and fields[8].startswith("system.dby-police.")
    assert fields[9] == "operator"  # issued here: it acts for nobody unless a call names one
    assert "\tDBY-HSG\tHousing CRM\tpackets:read\t*\t" in lines[1]
    assert secret not in r.stdout

    r = run(data_dir, "token", "list", "--agency", "DBY-HSG")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1 and "Housing CRM" in r.stdout

    r = run(data_dir, "token", "revoke", token_id)
    assert r.returncode == 0, r.stderr
    assert f"revoked token {token_id}" in r.stdout
    assert authenticate(data_dir, secret) is None
    assert authenticate(data_dir, housing_secret) == "DBY-HSG"
    listing = run(data_dir, "token", "list").stdout.splitlines()
    assert listing[0].split("\t")[7].startswith("revoked ")
    assert listing[1].split("\t")[7] == "active"


def test_bad_usage_exits_2(data_dir: Path) -> None:
    base = ["token", "issue", "--agency", "DBY-POLICE", "--name", "Records system"]
    for args, message in [
        ([*base, "--scope", "cases:read", "--scope", "everything"], "Unknown scope"),
        ([*base, "--scope", "disclosures:decide"], "coordinator"),
        # The shipped policy allows no delegated decisions: no token decides.
        ([*base, "--scope", "disclosures:decide", "--role", "coordinator"], "delegated decisions"),
        ([*base, "--scope", "cases:read", "--days", "0"], "--days"),
        ([*base, "--scope", "cases:read", "--days", "99999999999"], "--days"),
        ([*base, "--scope", "cases:read", "--case", "DBY-1999-0009"], "Unknown case"),
        (["token", "issue", "--agency", "NOPE", "--name", "x", "--scope", "cases:read"], "NOPE"),
        (["token", "list", "--agency", "NOPE"], "NOPE"),
        (["token", "revoke", "12345"], "No such token"),
    ]:
        r = run(data_dir, *args)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "mh_" not in r.stdout
    assert run(data_dir, "token", "list").stdout == ""


def ledger_events(data_dir: Path) -> list[tuple[str, str, int | None, str, str | None]]:
    """(action, event, actor user, recipients, content digest) of every log entry."""

    async def read() -> list[tuple[str, str, int | None, str, str | None]]:
        hub = await Hub.open(load_config(data_dir))
        try:
            async with hub.db.read() as conn:
                rows = [r async for r in ledger_store.stream_entries(conn)]
        finally:
            await hub.close()
        return [
            (r["action"], r["event"], r["actor_user_id"], r["recipients"], r["content_digest"])
            for r in rows
        ]

    return asyncio.run(read())


def test_issue_and_revoke_are_on_the_log_and_it_verifies(data_dir: Path) -> None:
    before = ledger_events(data_dir)
    r = run(data_dir, "token", "issue", "--agency", "DBY-HSG", "--name", "Housing CRM",
            "--scope", "packets:read")  # fmt: skip
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip()
    token_id = secret.split("_")[1]
    assert run(data_dir, "token", "revoke", token_id).returncode == 0
    assert run(data_dir, "token", "revoke", token_id).returncode == 0  # again: nothing new
    new = ledger_events(data_dir)[len(before) :]
    assert [(action, event, user) for action, event, user, _, _ in new] == [
        ("alteration", "token-issued", None),  # the operator
        ("alteration", "token-revoked", None),
    ]

    async def tokens_and_agency() -> tuple[list[str], str]:
        hub = await Hub.open(load_config(data_dir))
        try:
            (token,) = await hub.tokens.list(None, "DBY-HSG")
            housing = next(a for a in await hub.directory.agencies() if a.code == "DBY-HSG")
        finally:
            await hub.close()
        return [ledger_digest(token)], str(housing.id)

    digests, housing_id = asyncio.run(tokens_and_agency())
    assert {recipients for *_, recipients, _ in new} == {housing_id}
    assert new[1][4] == digests[0]  # the revoked token, as the table holds it now
    assert all(digest is not None and secret not in digest for *_, digest in new)
    r = run(data_dir, "ledger", "verify")
    assert r.returncode == 0, r.stderr
