"""Canary secrets: one full workflow with canary values in passwords, TOTP secrets, keys, tokens,
cookies, packet content and a disclosure, and none of them found - in any likely encoding - in the
log at DEBUG, the access log, error pages, the ledger, email, exports, bundles, the backup or the
database files. Runs on a real SQLite file and on PostgreSQL.

The workflow (canary_workflow.py, then canary_exits.py): an admin issues an API token on the web
page; people sign in with a wrong password, a wrong code, a mistyped username and a throttled
account on the way; a packet goes by the compose page and another by the API, both with attachments;
the recipient reads both ways, gets recovery codes, changes password and signs in with a recovery
code (each after a refusal); a third-party disclosure is proposed by the API, approved on the web
and made as a letter; notifications and the letter go to a real SMTP relay on loopback; requests
that fail (400, 401, 403, 404, 413, 500) carry canaries in bodies, query strings, headers and
cookies; the commands an operator runs (transfer export, ViSOR export, backup, ledger verify) run by
the command line's entry point; and last ``mappa-hub serve`` runs as a real process at DEBUG on the
same data, its standard error kept as its log.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.cli import logs as cli_logs
from hub.config import Config, Limits
from hub.demo import DemoLogin
from hub.web.app import build_app
from hub.wiring import Hub
from tests.conftest import TickingClock, make_config
from tests.integration import canary_exits as exits
from tests.integration import canary_workflow as steps
from tests.integration.canary_support import (
    ACCESS_LOG,
    BUNDLE,
    CLI,
    DATABASE,
    EMAIL,
    LEDGER,
    LOG,
    PAGE,
    Artefact,
    leaks,
    unused_allowances,
)
from tests.integration.test_visor_no_plaintext import _database_bytes
from tests.web.conftest import Web

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    """The conftest's config, with a request limit small enough to provoke a 413 cheaply."""
    made = make_config(tmp_path / "data", database_url)
    limits = dataclasses.replace(Limits(), max_request_bytes=exits.MAX_REQUEST_BYTES)
    return dataclasses.replace(made, limits=limits)


@dataclasses.dataclass(frozen=True)
class Logs:
    hub: Path
    access: Path


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Logs]:
    """Everything logged in this process as ``MAPPA_HUB_LOG_LEVEL=DEBUG`` has the command line
    log it (hub.cli.logs: the root logger at DEBUG, the database drivers held back), in files:
    aiohttp.access apart from the rest. The SMTP relay's own log (aiosmtpd's ``mail.log``) is the
    test's, not the hub's."""
    made = Logs(tmp_path / "hub.log", tmp_path / "access.log")
    main = logging.FileHandler(made.hub, encoding="utf-8")
    main.addFilter(lambda r: not r.name.startswith(("aiohttp.access", "mail.log")))
    access = logging.FileHandler(made.access, encoding="utf-8")
    access.addFilter(lambda r: r.name == "aiohttp.access")
    root = logging.getLogger()
    held = {name: logging.getLogger(name).level for name in cli_logs.DATA_LOGGERS}
    level = root.level
    for handler in (main, access):
        handler.setFormatter(logging.Formatter(cli_logs.LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    cli_logs.hold_data_loggers()
    try:
        yield made
    finally:
        root.setLevel(level)
        for name, was in held.items():
            logging.getLogger(name).setLevel(was)
        for handler in (main, access):
            root.removeHandler(handler)
            handler.close()


def _text_of(message: bytes) -> str:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    body = parsed.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def test_no_canary_leaves_the_hub(
    logs: Logs,
    hub: Hub,
    logins: dict[str, DemoLogin],
    clock: TickingClock,
    config: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with AsyncExitStack() as stack:
        server = TestServer(build_app(hub))
        await server.start_server()
        stack.push_async_callback(server.close)
        people = dict(logins)
        web = Web(hub, clock, people, server, client=None, _stack=stack)  # type: ignore[arg-type]
        flow = steps.Workflow(hub, clock, web)
        for username, agency in (
            ("canary.police", "DBY-POLICE"),
            ("canary.housing", "DBY-HOUSING"),
            ("canary.locked", "DBY-POLICE"),
        ):
            password = flow.text(f"password of {username}")
            secret = steps.totp_secret(flow, username)
            address = f"{username}@{agency.lower()}.example"
            people[username] = await steps.person(hub, username, agency, password, secret, address)
        await steps.key_canaries(flow, config)

        clients = await steps.sign_in(flow, people)
        web_packet = await steps.web_share(flow, clients)
        api_packet, police, housing = await steps.api_share(flow, clients)
        await steps.account(flow, clients)
        await steps.disclosure(flow, police)
        await exits.refusals(flow, clients, api_packet, police, housing)
        received = await exits.send_email(flow, tmp_path)
        await exits.operator(flow, config, tmp_path, capsys)
        await exits.ledger_rows(flow)
        for n, blob in enumerate(await _database_bytes(hub)):
            flow.artefacts.append(Artefact(DATABASE, f"database file {n}", blob))
        # Last: the server's jobs run on the real clock, to which every session above (made on
        # the test's clock, days earlier) has expired and is swept away.
        await exits.served(flow, config, tmp_path, web_packet)

    # Each path was really taken: a notification for each packet, the letter with its text.
    assert len(received["canary.housing@dby-housing.example"]) == 2
    [letter] = received[steps.THIRD_PARTY]
    letter_text = next(c.value for c in flow.canaries if c.name == "letter text")
    assert isinstance(letter_text, str) and letter_text in _text_of(letter)
    flow.artefacts.append(Artefact(LOG, str(logs.hub), logs.hub.read_bytes()))
    flow.artefacts.append(Artefact(ACCESS_LOG, str(logs.access), logs.access.read_bytes()))
    hub_log, access_log = logs.hub.read_text(), logs.access.read_text()
    assert "hub.auth" in hub_log and "RuntimeError: injected failure" in hub_log
    assert "POST /api/v1/packets" in access_log and "GET /packets/" in access_log
    served_log = next(a.data for a in flow.artefacts if a.where.startswith("mappa-hub serve"))
    assert b"DEBUG" in served_log and b"hub.auth" in served_log
    assert {a.kind for a in flow.artefacts} == {
        LOG, ACCESS_LOG, PAGE, EMAIL, LEDGER, BUNDLE, CLI, DATABASE
    }  # fmt: skip

    found = leaks(flow.canaries, flow.artefacts)
    assert not found, f"{len(found)} canary leak(s):\n" + "\n".join(found)
    unused = unused_allowances(flow.canaries, flow.artefacts)
    assert not unused, "\n".join(unused)
