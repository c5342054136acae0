"""`mappa-hub serve --workers N`: processes sharing one port and one database.

Concurrent shares through two workers on one SQLite file must all land, each once, with a log that
verifies; SIGHUP reaches every worker; SIGUSR1 writes the stacks and serving goes on; SIGTERM stops
them all.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from hub.demo import seed
from hub.wiring import Hub, initialise
from tests.conftest import make_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(data: Path, url: str) -> tuple[str, int]:
    config = make_config(data, url)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        issued = await hub.tokens.issue(None, "DBY-POLICE", "Case system", ["packets:send"])
        police = next(a for a in await hub.directory.agencies() if a.code == "DBY-POLICE")
        case = next(c for c in await hub.cases.visible_to(None) if c.area_id == police.area_id)
        return issued.secret, case.id
    finally:
        await hub.close()


def _verified_entries(data: Path, env: dict[str, str]) -> int:
    verify = subprocess.run(
        [sys.executable, "-m", "hub", "ledger", "verify", "--data-dir", str(data)],
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    found = re.search(r"ledger verified: (\d+) entries", verify.stdout)
    assert found is not None, verify.stdout
    return int(found.group(1))


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_for(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


async def _send_many(port: int, token: str, case_id: int, count: int) -> list[int]:
    body = {
        "case_id": case_id,
        "recipient_agencies": ["DBY-HOUSING"],
        "subject": "Address check",
        "body": "Is the proposed address suitable?",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": ["address"],
        "necessity": {"why": "Housing must assess the proposed address against the plan."},
    }
    headers = {"Authorization": f"Bearer {token}"}
    # A new connection per request, so that the kernel spreads them over the workers.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            url = f"http://127.0.0.1:{port}/api/v1/packets"
            async with session.post(url, json=body, headers=headers) as r:
                return r.status

        return await asyncio.gather(*(one() for _ in range(count)))


@pytest.mark.parametrize("workers", [2])
async def test_workers_share_the_port_and_the_log(tmp_path: Path, workers: int) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'hub.sqlite3'}"
    token, case_id = await _prepare(data, url)
    port = _free_port()
    env = {**os.environ, "MAPPA_HUB_LOG_LEVEL": "WARNING", "MAPPA_HUB_API_BURST": "1000"}
    before = _verified_entries(data, env)
    cmd = [sys.executable, "-m", "hub", "serve", "--data-dir", str(data), "--port", str(port)]
    server = subprocess.Popen(  # noqa: ASYNC220 - the test drives it from outside
        [*cmd, "--workers", str(workers)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(port, server)
        helpers = _children(server.pid)
        assert len(helpers) == workers - 1
        statuses = await _send_many(port, token, case_id, 60)
        assert statuses == [201] * 60
        server.send_signal(signal.SIGHUP)
        await asyncio.sleep(2)
        # SIGUSR1: every thread's stack to stderr (for a process that will not stop), and on.
        server.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.5)
        assert await _send_many(port, token, case_id, 1) == [201]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0
    for pid in helpers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    # Every worker re-read the policy.
    assert stderr.count("policy in force:") == workers
    assert re.search(r"[Tt]hread 0x[0-9a-f]+ \(most recent call first\):", stderr)
    assert 'asyncio/base_events.py", line' in stderr  # the loop, waiting
    # The demo's entries and one per share: none lost, none twice, the chain intact.
    assert _verified_entries(data, env) == before + 61


def test_workers_must_be_a_sensible_number(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hub", "serve", "--data-dir", str(tmp_path), "--workers", "0"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert "--workers is between 1 and 64" in r.stderr


def _cpus_of(pid: int) -> dict[int, set[int]]:
    """The CPUs each thread of ``pid`` may run on, by thread id."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = os.sched_getaffinity(int(task.name))
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
    return found


def _serve(data: Path, port: int, workers: int, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "hub", "serve", "--data-dir", str(data), "--port", str(port)]
    return subprocess.Popen(
        [*cmd, "--workers", str(workers), *extra],
        env={**os.environ, "MAPPA_HUB_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _one_cpu_each(server: int, helpers: list[int]) -> list[int]:
    """The CPU each process is kept on, asserting that all its threads are kept there."""
    kept = []
    for pid in [server, *helpers]:
        threads = _cpus_of(pid)
        assert len(threads) > 1  # the writer's and the checkpointer's threads with the loop's
        assert all(len(cpus) == 1 for cpus in threads.values()), threads
        assert len(set(map(frozenset, threads.values()))) == 1, threads
        kept.append(next(iter(next(iter(threads.values())))))
    return kept


async def test_one_worker_per_cpu_on_sqlite_keeps_each_on_a_cpu_of_its_own(
    tmp_path: Path,
) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if not 2 <= len(cpus) <= 8:
        pytest.skip(f"{len(cpus)} CPUs: one worker each would be too few or too many here")
    data = tmp_path / "data"
    token, case_id = await _prepare(data, f"sqlite:///{data / 'hub.sqlite3'}")
    port = _free_port()
    server = _serve(data, port, len(cpus))
    try:
        _wait_for(port, server)
        assert await _send_many(port, token, case_id, 10) == [201] * 10  # threads at work
        helpers = _children(server.pid)
        kept = _one_cpu_each(server.pid, helpers)
        assert sorted(kept) == cpus
        # A helper started again after it died is kept on the CPU of the one it replaces.
        os.kill(helpers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            again = [pid for pid in _children(server.pid) if pid not in helpers]
            if again and len(_cpus_of(again[0])) > 1:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the helper was not started again")
        await asyncio.sleep(1)  # its threads start as it opens the hub
        assert _one_cpu_each(again[0], []) == [kept[1]]
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert server.returncode == 0


async def test_no_cpu_affinity_leaves_the_workers_where_the_kernel_puts_them(
    tmp_path: Path,
) -> None:
    cpus = os.sched_getaffinity(0)
    data = tmp_path / "data"
    await _prepare(data, f"sqlite:///{data / 'hub.sqlite3'}")
    port = _free_port()
    server = _serve(data, port, max(len(cpus), 2), "--no-cpu-affinity")
    try:
        _wait_for(port, server)
        for pid in [server.pid, *_children(server.pid)]:
            assert all(allowed == cpus for allowed in _cpus_of(pid).values())
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert server.returncode == 0
