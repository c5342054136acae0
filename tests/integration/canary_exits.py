"""The canary test's ways out of the hub (tests/integration/test_canary_secrets.py): refused
requests and their error pages, email through a real relay, the operator's commands and the files
they write, the ledger's rows, and ``mappa-hub serve`` as a real process with its log. Each step
keeps what came out as artefacts to search."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pyotp
import pytest

from adapters.email.sender import Sender
from hub.cli.main import main
from hub.config import Config
from hub.crypto import totp
from hub.demo import DemoLogin
from hub.store import ledger as ledger_store
from hub.store.backup import pg_tool
from tests.conftest import NECESSITY, SHARE_CATEGORIES, case_id
from tests.integration.canary_support import (
    BUNDLE,
    CLI,
    EMAIL,
    LEDGER,
    LOG,
    Artefact,
    file_artefacts,
)
from tests.integration.canary_workflow import CSRF_STORED, PAGE_REASON, Workflow, core
from tests.integration.email_support import Relay, email_config, free_port, make_ca
from tests.web.conftest import COOKIE, Client, csrf_from, fetch

# Small enough that a 413 is cheap to provoke, large enough for the workflow's attachments.
MAX_REQUEST_BYTES = 256 * 1024
# The test server's access log records the request line as the client sent it (``mappa-hub
# serve`` keeps no access log); what the hub itself puts in a URL must hold no secret.
AS_SENT = "the request line as the client sent it"


async def refusals(
    flow: Workflow, clients: dict[str, Client], packet_id: str, police: str, housing: str
) -> None:
    """Requests that fail, with canaries in what they send; every response body is kept."""
    web = flow.web
    anyone = await web.new_client(cookies=False)
    sendable = {
        "case_id": await web.case_id("Harlow"),
        "recipient_agencies": ["DBY-HOUSING"],
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "necessity": NECESSITY,
    }

    async def api(
        where: str, method: str, path: str, token: str, expect: int, body: object = None
    ) -> None:
        """An API call as an agency system makes it; ``body`` bytes go as they are, as JSON."""
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with anyone.request(method, path, headers=headers, data=data) as resp:
            text = await resp.read()
            assert resp.status == expect, (where, resp.status, text[:300])
            flow.page(where, text)

    malformed = flow.text("content in malformed JSON")
    await api("400 malformed JSON", "POST", "/api/v1/packets", police, 400,
              f'{{"subject": "{malformed}", "body": '.encode())  # fmt: skip
    wrong_type = flow.text("content in a field of the wrong type")
    await api("400 wrong type", "POST", "/api/v1/packets", police, 400,
              {**sendable, "subject": "s", "case_id": wrong_type, "body": wrong_type})  # fmt: skip
    unknown = flow.text("an extra field's value")
    await api("400 extra field", "POST", "/api/v1/packets", police, 400,
              {**sendable, "subject": "s", "comment": unknown})  # fmt: skip
    refused = flow.text("content sent without the scope")
    await api("403 no scope", "POST", "/api/v1/packets", housing, 403,
              {**sendable, "subject": refused, "body": refused})  # fmt: skip
    bad_token = f"mh_1_CANARYBEARER{core()}"
    flow.canary("presented bearer token", bad_token)
    await api("401 bad token", "GET", "/api/v1/cases", bad_token, 401)
    probe = flow.text("query string probe", control=True, access_log=AS_SENT)
    await api("404 API packet", "GET", f"/api/v1/packets/{uuid.uuid4()}?q={probe}", housing, 404)
    big = flow.text("content of a request too large")
    await api("413 too large", "POST", "/api/v1/packets", police, 413,
              {**sendable, "subject": big, "body": big * (MAX_REQUEST_BYTES // len(big))})  # fmt: skip

    # A forged session cookie and the web's 404 with a canary in the query string.
    cookie = f"CANARY-COOKIE-{core()}"
    flow.canary("forged session cookie", cookie)
    async with anyone.get("/inbox", headers={"Cookie": f"{COOKIE}={cookie}"},
                          allow_redirects=False) as resp:  # fmt: skip
        assert resp.status == 303
    web_probe = flow.text("web query probe", control=True, access_log=AS_SENT)
    status, _, html = await fetch(clients["housing"], f"/packets/{uuid.uuid4()}?q={web_probe}")
    assert status == 404, html
    flow.page("404 web packet", html)

    # An unexpected failure while opening a packet: a bare 500 with a reference, both ways.
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(flow.hub.packets, "open", broken)
        failing = flow.text("query string of a failing request", control=True, access_log=AS_SENT)
        status, _, html = await fetch(clients["housing"], f"/packets/{packet_id}?q={failing}")
        assert status == 500, html
        flow.page("500 web", html)
        await api("500 API", "GET", f"/api/v1/packets/{packet_id}?q={failing}", housing, 500)


async def _cli(
    flow: Workflow, config: Config, capsys: pytest.CaptureFixture[str], *args: str
) -> None:
    """A ``mappa-hub`` command, run by its own entry point (in a thread: it runs its own event
    loop) so that it logs into this process's DEBUG log; what it prints is kept too."""
    argv = [*args, "--data-dir", str(config.data_dir), "--database-url", config.database_url]
    status = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    assert status == 0, (args, err[-2000:])
    kind = LEDGER if args[0] == "ledger" else CLI
    flow.artefacts.append(Artefact(kind, f"mappa-hub {' '.join(args)}", f"{out}\n{err}".encode()))


async def operator(
    flow: Workflow, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A transfer bundle, a ViSOR export, a backup and ledger verification, as an operator runs
    them."""
    harlow = await case_id(flow.hub, "Harlow")
    reference = (await flow.hub.cases.get(None, harlow)).reference
    bundle, visor, backup = tmp_path / "bundle.tar", tmp_path / "visor.json", tmp_path / "backup"
    cli = functools.partial(_cli, flow, config, capsys)
    await cli("transfer", "export", reference, "--out", str(bundle), "--to-area", "NTS")
    await cli("export", "visor", reference, "--out", str(visor))
    await cli("backup", "--out", str(backup))
    await cli("ledger", "verify")
    for root in (bundle, visor, backup):
        found = file_artefacts(BUNDLE, root)
        assert found, root
        flow.artefacts.extend(found)
    for dump in backup.glob("*.pgdump"):
        # pg_dump's custom format is compressed: search what it restores, as SQL.
        proc = await asyncio.create_subprocess_exec(
            pg_tool("pg_restore"), "--file=-", str(dump), stdout=asyncio.subprocess.PIPE
        )
        sql, _ = await proc.communicate()
        assert proc.returncode == 0 and b"COPY public.packet_parts" in sql
        flow.artefacts.append(Artefact(BUNDLE, f"{dump} (restored as SQL)", sql))


async def ledger_rows(flow: Workflow) -> None:
    async with flow.hub.db.read() as conn:
        async for row in ledger_store.stream_entries(conn):
            fields = {k: v for k, v in row.items() if k != "entry"}
            flow.artefacts.append(
                Artefact(LEDGER, f"ledger entry {row['seq']}", repr(fields).encode())
            )
            flow.artefacts.append(
                Artefact(LEDGER, f"ledger entry {row['seq']} bytes", row["entry"])
            )


async def send_email(flow: Workflow, tmp_path: Path) -> dict[str, list[bytes]]:
    """The outbox drained through a real relay on loopback (STARTTLS, a test CA); every
    message is kept. Returns the messages by recipient."""
    ca = make_ca(tmp_path / "ca")
    relay = Relay("starttls", ca).start()
    try:
        hub = flow.hub
        config = email_config(relay.port, ca)
        summary = await Sender(hub.db, hub.clock, hub.keyring, hub.policy, config).drain()
    finally:
        relay.stop()
    assert summary.dead == 0 and summary.retrying == 0
    received: dict[str, list[bytes]] = {}
    for n, message in enumerate(relay.messages):
        flow.artefacts.append(Artefact(EMAIL, f"message {n} to {message.rcpt_tos}", message.data))
        for to in message.rcpt_tos:
            received.setdefault(to, []).append(message.data)
    return received


async def served(flow: Workflow, config: Config, tmp_path: Path, packet_id: str) -> None:
    """The same data served by ``mappa-hub serve`` at ``MAPPA_HUB_LOG_LEVEL=DEBUG``, as an
    operator runs it: its standard error is the real log. canary.housing signs in (after a wrong
    password) on the real clock, reads the packet, and a page and an API call are refused."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "MAPPA_HUB_LOG_LEVEL": "DEBUG"}
    argv = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
            str(config.data_dir), "--database-url", config.database_url]  # fmt: skip
    login = flow.web.logins["canary.housing"]
    with log_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub", *argv, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            banner = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert b"listening" in banner, log_path.read_text()[-2000:]
            jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
            async with aiohttp.ClientSession(origin, cookie_jar=jar) as browser:
                await _served_sign_in(flow, browser, login)
                async with browser.get(f"/packets/{packet_id}") as resp:
                    assert resp.status == 200
                    await resp.read()
                # `serve` keeps no access log: the query string must be nowhere.
                probe = flow.text("query probe (served)")
                async with browser.get(f"/packets/{uuid.uuid4()}?q={probe}") as resp:
                    assert resp.status == 404
                    flow.page("404 web (served)", await resp.read())
                broken = flow.text("content in malformed JSON (served)")
                async with browser.post(
                    "/api/v1/packets",
                    data=f'{{"subject": "{broken}"'.encode(),
                    headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
                ) as resp:
                    assert resp.status == 401
                    flow.page("401 API (served)", await resp.read())
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    flow.artefacts.append(Artefact(LOG, "mappa-hub serve (standard error)", log_path.read_bytes()))


async def _served_sign_in(flow: Workflow, browser: aiohttp.ClientSession, login: DemoLogin) -> None:
    async def form(path: str) -> str:
        async with browser.get(path, allow_redirects=False) as resp:
            assert resp.status == 200, path
            token = csrf_from(await resp.text())
        flow.canary("CSRF token (served)", token, page=PAGE_REASON, database=CSRF_STORED,
                    bundle=CSRF_STORED)  # fmt: skip
        return token

    wrong = flow.text("wrong password (served)")
    for password, expect in ((wrong, 401), (login.password, 303)):
        data = {"_csrf": await form("/login"), "username": login.username, "password": password}
        async with browser.post("/login", data=data, allow_redirects=False) as resp:
            assert resp.status == expect, await resp.text()
            if expect == 401:
                flow.page("sign-in refused (served)", await resp.read())
    # The real clock: this server's time, not the test's manual one.
    code = totp.code_at(pyotp.parse_uri(login.totp_uri).secret, datetime.now(UTC))
    data = {"_csrf": await form("/login/totp"), "code": code}
    async with browser.post("/login/totp", data=data, allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
    assert COOKIE in {cookie.key for cookie in browser.cookie_jar}
    for cookie in browser.cookie_jar:  # the session's, and the device cookie
        flow.canary(f"{cookie.key} cookie (served)", cookie.value)
