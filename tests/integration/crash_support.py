"""What the crash tests drive: a PostgreSQL server of their own, gateway processes, and a client
that keeps a steady load of API sends going and writes down what each was answered.

The PostgreSQL server is the test's own (initdb on a loopback port), so that the test may restart
it without disturbing the shared server every other test uses. initdb refuses to run as root: as
root the server runs as the ``postgres`` account; otherwise the test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from hub.demo import seed
from hub.wiring import Hub, initialise
from tests.cli_runner import run_command
from tests.conftest import make_config

# A request that takes longer than this has hung (the gateways wait at most 10 s for a pooled
# connection and 5 s to open one: hub.store.database).
REQUEST_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A PostgreSQL server on 127.0.0.1, in a directory of its own, fsync on (as deployed)."""

    def __init__(
        self, bindir: Path, root: Path, port: int, as_user: list[str], name: str = "data"
    ) -> None:
        self.bindir, self.root, self.port, self._as = bindir, root, port, as_user
        self.data = root / name
        self.settings: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/hub"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self._as, *args], check=True, timeout=timeout, capture_output=True)

    def _ctl(self, *args: str) -> None:
        options = " ".join(
            [f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", *self.settings]
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.data) + ".log",
            "-o", options, "-w", "-t", "60", *args,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """A fast restart: open connections are cut, the server is away for its restart time."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def crash(self) -> None:
        """Stop at once, without a shutdown checkpoint, as a failed machine does."""
        self._ctl("stop", "-m", "immediate")

    def standby(self) -> PrivatePostgres:
        """A streaming-replication standby of this server, started, on a port of its own."""
        other = PrivatePostgres(self.bindir, self.root, free_port(), self._as, "standby")
        self._run(str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "-D", str(other.data), "-R", "-X", "stream", "-c", "fast",
                  "--no-sync")  # fmt: skip
        other.start()
        return other

    def promote(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "promote")

    def create_database(self) -> None:
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "hub")  # fmt: skip


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres account to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    else:
        account, as_user = None, []
    root = Path(tempfile.mkdtemp(prefix="mappa-crash-pg-"))
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PrivatePostgres(bindir, root, free_port(), as_user)
    try:
        server._run(str(bindir / "initdb"), "-D", str(server.data), "-A", "trust", "-U",
                    "postgres", "--no-sync", "-E", "UTF8")  # fmt: skip
        server.start()
        server.create_database()
        yield server
    finally:
        for data in (root / "standby", server.data):
            with suppress(subprocess.SubprocessError, OSError):  # already stopped, or never made
                server._run(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Gateway:
    """One ``mappa-hub serve`` process group: a machine's gateway, with its helper workers."""

    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        helpers = [int(c) for c in children.read_text().split()] if children.exists() else []
        return [self.proc.pid, *helpers]

    def kill(self) -> None:
        """kill -9 the whole group, as when its machine loses power."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def hub_env(data: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "MAPPA_HUB_DATA_DIR": str(data),
        "MAPPA_HUB_DATABASE_URL": url,
        "MAPPA_HUB_LOG_LEVEL": "INFO",
        # Short leases and frequent checkpoints: takeovers within seconds, in a bounded test.
        "MAPPA_HUB_LEASE_SECONDS": "2",
        "MAPPA_HUB_CHECKPOINT_SECONDS": "1",
        "MAPPA_HUB_API_RATE_PER_SECOND": "1000",
        "MAPPA_HUB_API_BURST": "1000",
    }


def start_gateway(env: dict[str, str], port: int, workers: int, log: Path) -> Gateway:
    command = [sys.executable, "-m", "hub", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=True)
    return Gateway(port, proc, log)


def wait_listening(gateway: Gateway, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert gateway.proc.poll() is None, gateway.log.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", gateway.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the gateway on {gateway.port} did not start")


def run_cli(env: dict[str, str], *args: str) -> str:
    done = run_command(list(args), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ledger_entries_verified(env: dict[str, str]) -> int:
    found = re.search(r"ledger verified: (\d+) entries", run_cli(env, "ledger", "verify"))
    assert found is not None
    return int(found.group(1))


async def prepare_world(data: Path, url: str) -> tuple[str, str, dict[str, object]]:
    """The demo world, a police system that sends and a housing system that reads."""
    config = make_config(data, url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        sender = await hub.tokens.issue(None, "DBY-POLICE", "Case system", ["packets:send"])
        reader = await hub.tokens.issue(None, "DBY-HOUSING", "Housing system", ["packets:read"])
        police = next(a for a in await hub.directory.agencies() if a.code == "DBY-POLICE")
        case = next(c for c in await hub.cases.visible_to(None) if c.area_id == police.area_id)
    finally:
        await hub.close()
    body: dict[str, object] = {
        "case_id": case.id,
        "recipient_agencies": ["DBY-HOUSING"],
        "body": "Is the proposed address suitable?",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": ["address"],
        "necessity": {"why": "Housing must assess the proposed address against the plan."},
    }
    return sender.secret, reader.secret, body


@dataclass
class Outcome:
    key: str
    status: int | None  # None: no answer (the connection dropped, or the client's timeout)
    started: float
    elapsed: float
    packet_id: str | None = None
    retry_after: str | None = None
    error: str | None = None


@dataclass
class SteadyLoad:
    """API sends at a fixed rate, spread over the gateways as a reverse proxy would: a gateway
    that refuses the connection (nothing sent) is skipped for the next; any other failure is
    written down as it is, for the client to retry under the same Idempotency-Key later."""

    ports: list[int]
    token: str
    body: dict[str, object]
    rate: float = 15.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, session: aiohttp.ClientSession, key: str, first_port: int = 0) -> Outcome:
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        body = {**self.body, "subject": f"Crash test {key}"}
        last_error = ""
        for i in range(len(self.ports)):
            port = self.ports[(first_port + i) % len(self.ports)]
            try:
                async with session.post(
                    f"http://127.0.0.1:{port}/api/v1/packets", json=body, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                ) as r:  # fmt: skip
                    doc = await r.json(content_type=None)
                    return Outcome(
                        key, r.status, started, time.monotonic() - started,
                        doc.get("id") if r.status in (200, 201) else None,
                        r.headers.get("Retry-After"),
                    )  # fmt: skip
            except aiohttp.ClientConnectorError as exc:  # refused: nothing was sent
                last_error = type(exc).__name__
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                return Outcome(key, None, started, time.monotonic() - started,
                               error=type(exc).__name__)  # fmt: skip
        return Outcome(key, None, started, time.monotonic() - started, error=last_error)

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(force_close=True)  # spread over each gateway's workers
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks: set[asyncio.Task[None]] = set()
            n = 0
            while not self._stop.is_set():
                n += 1

                async def one(key: str, first: int) -> None:
                    self.outcomes.append(await self.send(session, key, first))

                task = asyncio.create_task(one(uuid.uuid4().hex, n % len(self.ports)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1 / self.rate)
            await asyncio.gather(*tasks)

    def stop(self) -> None:
        self._stop.set()

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]
