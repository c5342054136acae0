"""``mappa-hub email list|dead|retry|send-now|test`` against a real relay (tests/cli_runner.py)."""

from __future__ import annotations

import asyncio
import email
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import load_config
from hub.store import email_outbox as store
from hub.wiring import Hub
from tests.cli_runner import run_command
from tests.integration.email_support import LoopbackCA, Relay, make_ca
from tests.integration.test_cli import set_up


def run(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAPPA_HUB_SMTP")}
    environment.update(env or {})
    return run_command([*args, "--data-dir", str(data_dir)], env=environment)


@pytest.fixture
def data_dir(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return set_up(
        tmp_path_factory,
        tmp_path / "var",
        ("init",),
        ("area", "add", "DBY", "Derbyshire"),
        ("agency", "add", "DBY-POLICE", "Derbyshire Constabulary", "--type", "police", "--area", "DBY"),
        ("agency", "add", "DBY-HSG", "Housing", "--type", "housing", "--area", "DBY"),
    )  # fmt: skip


@pytest.fixture
def ca(tmp_path: Path) -> LoopbackCA:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def relay(ca: LoopbackCA) -> Iterator[Relay]:
    running = Relay("starttls", ca).start()
    yield running
    running.stop()


def relay_env(relay: Relay, ca: LoopbackCA) -> dict[str, str]:
    return {
        "MAPPA_HUB_SMTP_HOST": "127.0.0.1",
        "MAPPA_HUB_SMTP_PORT": str(relay.port),
        "MAPPA_HUB_SMTP_CA_FILE": str(ca.ca_file),
        "MAPPA_HUB_SMTP_FROM": "hub@hub.example",
        "MAPPA_HUB_SMTP_TIMEOUT": "2",
        "MAPPA_HUB_BASE_URL": "https://hub.example",
    }


def queue(data_dir: Path, *addresses: str) -> list[int]:
    async def body() -> list[int]:
        hub = await Hub.open(load_config(data_dir))
        try:
            agency = next(a.id for a in await hub.directory.agencies() if a.code == "DBY-HSG")
            ids = []
            async with hub.db.write() as conn:
                for i, address in enumerate(addresses):
                    row_id = await store.enqueue(
                        conn,
                        store.message(
                            dedupe_key=f"cli-test/{i}",
                            message_id=store.new_message_id("hub.example"),
                            kind=store.NOTIFICATION,
                            event="new-packet",
                            channel="email",
                            agency_id=agency,
                            to_address=address,
                            when=hub.clock.now(),
                            link="/inbox",
                        ),
                    )
                    assert row_id is not None
                    ids.append(row_id)
            return ids
        finally:
            await hub.close()

    return asyncio.run(body())


def test_list_send_dead_retry(data_dir: Path, relay: Relay, ca: LoopbackCA) -> None:
    relay.recorder.refuse.add("gone@hsg.example")
    ok, gone = queue(data_dir, "officer@hsg.example", "gone@hsg.example")

    # No relay configured: the messages wait, and the listing says so.
    r = run(data_dir, "email", "list")
    assert r.returncode == 0, r.stderr
    assert "officer@hsg.example" in r.stdout and "pending" in r.stdout
    assert "no SMTP relay is configured" in r.stderr
    assert run(data_dir, "email", "send-now").returncode == 1

    env = relay_env(relay, ca)
    r = run(data_dir, "email", "send-now", env=env)
    assert r.returncode == 1, r.stderr  # one went dead: a failed check
    assert "1 sent, 0 to retry, 1 dead" in r.stdout
    assert len(relay.messages) == 1

    r = run(data_dir, "email", "dead")
    assert r.returncode == 0
    lines = [line for line in r.stdout.splitlines()[1:] if line]
    assert len(lines) == 1 and lines[0].startswith(f"{gone}\tdead\t")
    assert "SMTPRecipientsRefused 550" in lines[0]

    assert run(data_dir, "email", "retry", "9999").returncode == 2
    assert run(data_dir, "email", "retry", str(ok)).returncode == 2  # sent, not dead
    assert run(data_dir, "email", "list", "--status", "bogus").returncode == 2
    assert run(data_dir, "email", "list", "--agency", "NOPE").returncode == 2
    r = run(data_dir, "email", "retry", str(gone))
    assert r.returncode == 0 and "1 message(s) queued again" in r.stdout
    relay.recorder.refuse.clear()
    r = run(data_dir, "email", "send-now", env=env)
    assert r.returncode == 0 and "1 sent" in r.stdout
    assert sorted(m.rcpt_tos[0] for m in relay.messages) == [
        "gone@hsg.example",
        "officer@hsg.example",
    ]
    r = run(data_dir, "email", "list", "--status", "sent", "--agency", "dby-hsg")
    assert r.stdout.count("\tsent\t") == 2


def test_test_message_proves_the_tls_setup(data_dir: Path, relay: Relay, ca: LoopbackCA) -> None:
    r = run(data_dir, "email", "test", "ops@hub.example", env=relay_env(relay, ca))
    assert r.returncode == 0, r.stderr
    [got] = relay.messages
    assert email.message_from_bytes(got.data)["Subject"] == "MAPPA Hub: test message"

    plain = Relay("plain", None).start()
    try:
        env = relay_env(plain, ca)
        r = run(data_dir, "email", "test", "ops@hub.example", env=env)
        assert r.returncode == 1 and "STARTTLS" in r.stderr
        assert plain.messages == []
    finally:
        plain.stop()
    bad = {**relay_env(relay, ca), "MAPPA_HUB_SMTP_TLS": "sometimes"}
    r = run(data_dir, "email", "list", env=bad)
    assert r.returncode == 1 and "MAPPA_HUB_SMTP_TLS" in r.stderr
