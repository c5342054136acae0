"""Crash safety under a steady load of API sends (loopback only, bounded in time).

(a) kill -9 a gateway's helper worker (its server starts another) and the process holding the
    checkpoint lease (another process takes the signing over within the lease's bound);
(b) restart PostgreSQL under the gateways: clients are answered 503 with Retry-After while it is
    away, never 500, never left waiting past REQUEST_TIMEOUT;
(c) kill -9 the single-box SQLite server and start it again.

Afterwards every send acknowledged to its client is present once and readable by its recipient,
every unacknowledged one is either wholly there or wholly absent (a retry under its Idempotency-Key
says which, and then completes it), each packet has its one log entry, and `ledger verify` passes.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import func, select

from hub.config import normalise_database_url
from hub.ledger.entries import Event
from hub.store.database import Database
from hub.store.schema import ledger_entries, packets
from tests.integration.crash_support import (
    REQUEST_TIMEOUT,
    Gateway,
    Outcome,
    SteadyLoad,
    free_port,
    hub_env,
    ledger_entries_verified,
    prepare_world,
    private_postgres,
    run_cli,
    start_gateway,
    wait_listening,
)

LEASE_SECONDS = 2.0  # crash_support.hub_env
# A dead holder's job is taken within its lease plus one poll (a third of it): hub.services.leases.
TAKEOVER_BOUND = LEASE_SECONDS * 4 / 3 + 1.0


async def _settle(load: SteadyLoad, reader: str, url: str, since: datetime) -> dict[str, int]:
    """Retry every send under its key, then check the invariants; the counts for the report."""
    acked = {o.key: o.packet_id for o in load.outcomes if o.status == 201}
    body_sent = load.body["body"]
    connector = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(connector=connector) as session:
        retried = await asyncio.gather(*(load.send(session, o.key) for o in load.outcomes))
        by_key = {o.key: o for o in retried}
        for key, packet_id in acked.items():
            again = by_key[key]
            assert again.status == 200 and again.packet_id == packet_id, (
                f"an acknowledged send came back as {again.status}, not as the packet it was"
            )
        unfinished = [o for o in retried if o.status not in (200, 201)]
        assert not unfinished, f"retries that did not complete: {unfinished[:3]}"
        # Each acknowledged packet is readable by its recipient, with what was sent.
        headers = {"Authorization": f"Bearer {reader}"}
        port = load.ports[0]
        for key, packet_id in acked.items():
            async with session.get(
                f"http://127.0.0.1:{port}/api/v1/packets/{packet_id}", headers=headers
            ) as r:
                assert r.status == 200, await r.text()
                opened = await r.json()
                assert opened["packet"]["subject"] == f"Crash test {key}"
                assert opened["body"] == body_sent
    ids = {o.packet_id for o in retried}
    db = Database(normalise_database_url(url))
    try:
        async with db.read() as conn:
            made = (
                (await conn.execute(select(packets.c.id).where(packets.c.created_at >= since)))
                .scalars()
                .all()
            )
            logged = (
                await conn.execute(
                    select(func.count()).where(
                        ledger_entries.c.packet_id.in_(ids),
                        ledger_entries.c.event == Event.PACKET_SENT.value,
                    )
                )
            ).scalar_one()
    finally:
        await db.dispose()
    # One packet per key: nothing lost, nothing twice, nothing half-made left behind.
    assert set(made) == ids and len(made) == len(load.outcomes)
    assert logged == len(ids), "a packet without its one log entry"
    return {
        "sends": len(load.outcomes),
        "acknowledged": len(acked),
        "completed on retry": len(load.outcomes) - len(acked),
    }


def _unhandled(logs: list[Path]) -> str:
    """The servers' logged tracebacks of unhandled errors (what a 500 was), for the report."""
    found = []
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        # From the log line that names the error to the next line that starts a log record.
        found += re.findall(
            r"^\S+ \S+ ERROR \S+ unhandled error.*?(?=^\d{4}-|\Z)", text, re.M | re.S
        )
    return "\n".join(found)[-6000:]


def _check_answers(outcomes: list[Outcome], logs: list[Path]) -> None:
    """While things fail: 201, or 503 with Retry-After, or a dropped connection (the process
    that held it was killed). Never a 500, never a request left hanging."""
    for o in outcomes:
        assert o.status in (201, 503, None), (
            f"answered {o.status} during the failures\n{_unhandled(logs)}"
        )
        if o.status == 503:
            assert o.retry_after and int(o.retry_after) >= 1
        if o.status is None:
            assert o.error != "TimeoutError", "a request hung past REQUEST_TIMEOUT"
        assert o.elapsed < REQUEST_TIMEOUT


async def _lease(url: str, name: str) -> tuple[int, int]:
    """(pid of the holder, epoch) of a job's lease."""
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"), timeout=5)
    try:
        row = await conn.fetchrow("SELECT holder, epoch FROM leases WHERE name = $1", name)
    finally:
        await conn.close()
    assert row is not None
    return int(row["holder"].split(":")[-2]), int(row["epoch"])


async def _latest_checkpoint(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return int(
            await conn.fetchval("SELECT coalesce(max(tree_size), 0) FROM ledger_checkpoints")
        )
    finally:
        await conn.close()


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within} s")


def _kill_holder(pid: int, gateways: list[Gateway]) -> list[Gateway]:
    """kill -9 the holder; a gateway whose server process it was is gone as a whole (its
    helpers follow it): the gateways still serving."""
    for gateway in gateways:
        if gateway.proc.pid == pid:
            gateway.kill()
            return [g for g in gateways if g is not gateway]
    os.kill(pid, signal.SIGKILL)
    return gateways


@pytest.mark.postgres
async def test_gateways_on_postgres_survive_kills_and_a_restart(tmp_path: Path) -> None:
    with private_postgres() as pg:
        data = tmp_path / "data"
        sender, reader, body = await prepare_world(data, pg.url)
        env = hub_env(data, pg.url)
        since = datetime.now(UTC)
        a = start_gateway(env, free_port(), 2, tmp_path / "gateway-a.log")
        b = start_gateway(env, free_port(), 1, tmp_path / "gateway-b.log")
        gateways = [a, b]
        try:
            wait_listening(a)
            wait_listening(b)
            load = SteadyLoad([a.port, b.port], sender, body)
            running = asyncio.create_task(load.run())
            await asyncio.sleep(3)

            # (a) A helper worker dies: its server starts another.
            helper = a.pids()[1]
            os.kill(helper, signal.SIGKILL)

            async def replaced() -> bool:
                return len(a.pids()) == 2 and helper not in a.pids()

            await _until(replaced, 10)

            # (a) The checkpoint signer dies: another process signs within the bound.
            holder, epoch = await _lease(pg.url, "checkpoints")
            signed = await _latest_checkpoint(pg.url)
            killed = time.monotonic()
            gateways = _kill_holder(holder, gateways)

            async def taken_over() -> bool:
                now_holder, now_epoch = await _lease(pg.url, "checkpoints")
                return now_epoch > epoch and now_holder != holder

            await _until(taken_over, TAKEOVER_BOUND + 2)
            takeover = time.monotonic() - killed

            async def signing_again() -> bool:
                return await _latest_checkpoint(pg.url) > signed

            await _until(signing_again, 10)
            load.ports = [g.port for g in gateways]

            # (b) PostgreSQL restarts under the load.
            await asyncio.sleep(2)
            restart_began = time.monotonic()
            await asyncio.to_thread(pg.restart)
            restarted = time.monotonic()
            await asyncio.sleep(4)
            load.stop()
            await running
            during = load.since(restart_began - 1)
            _check_answers(load.outcomes, [g.log for g in (a, b)])
            first_503 = min((o.started for o in during if o.status == 503), default=None)
            back = min(
                (
                    o.started + o.elapsed
                    for o in during
                    if o.status == 201 and o.started >= restarted
                ),
                default=None,
            )
            assert back is not None, "no send succeeded after the restart"
            counts = await _settle(load, reader, pg.url, since)
        finally:
            for gateway in gateways:
                gateway.stop()
        entries = ledger_entries_verified(env)
    unavailable = sum(1 for o in load.outcomes if o.status == 503)
    print(
        f"\ncrash (PostgreSQL): {counts}; takeover {takeover:.1f} s after the kill; "
        f"PostgreSQL restart took {restarted - restart_began:.1f} s, {unavailable} sends "
        f"answered 503, sends succeeded again {back - restart_began:.1f} s after it began"
        + (f" (first 503 {first_503 - restart_began:+.1f} s)" if first_503 else "")
        + f"; ledger verified: {entries} entries"
    )
    assert takeover <= TAKEOVER_BOUND


async def test_single_box_sqlite_survives_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'hub.sqlite3'}"
    sender, reader, body = await prepare_world(data, url)
    env = hub_env(data, url)
    since = datetime.now(UTC)
    port = free_port()
    box = start_gateway(env, port, 1, tmp_path / "box.log")
    try:
        wait_listening(box)
        load = SteadyLoad([port], sender, body)
        running = asyncio.create_task(load.run())
        await asyncio.sleep(3)
        # The operator's view: every job held by the one server process.
        jobs = await asyncio.to_thread(run_cli, env, "jobs")
        for job in ("checkpoints", "reminders", "peer-delivery"):
            assert re.search(rf"^{job}\s+\S+:{box.proc.pid}:\w+\s+1\s+\d+ s left", jobs, re.M), jobs
        box.kill()  # (c) kill -9, mid-load
        box = start_gateway(env, port, 1, tmp_path / "box.log")
        await asyncio.to_thread(wait_listening, box)
        await asyncio.sleep(3)
        load.stop()
        await running
        _check_answers(load.outcomes, [box.log])
        counts = await _settle(load, reader, url, since)
    finally:
        box.stop()
    entries = ledger_entries_verified(env)
    print(f"\ncrash (SQLite): {counts}; ledger verified: {entries} entries")


# What the operator (or Patroni) takes to decide the primary is gone and promote the standby:
# the figure printed counts from the crash, this included.
PROMOTE_AFTER = 1.0


async def _synchronous(url: str) -> None:
    """Make the primary wait for the standby's flush before it acknowledges a commit."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        await conn.execute("SELECT pg_reload_conf()")
        for _ in range(100):
            state = await conn.fetchval("SELECT sync_state FROM pg_stat_replication LIMIT 1")
            if state == "sync":
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("the standby never became synchronous")


@pytest.mark.postgres
async def test_failover_to_a_synchronous_standby_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    """The primary fails under load and the standby is promoted: the gateways, given both hosts
    with target_session_attrs=read-write, answer 503 meanwhile and then write to the new
    primary, and every send acknowledged before the failure is on it."""
    with private_postgres() as pg:
        data = tmp_path / "data"
        sender, reader, body = await prepare_world(data, pg.url)
        standby = await asyncio.to_thread(pg.standby)
        await _synchronous(pg.url)
        url = (
            f"postgresql://postgres@/hub?host=127.0.0.1:{pg.port}&host=127.0.0.1:{standby.port}"
            "&target_session_attrs=read-write"
        )
        env = hub_env(data, url)
        since = datetime.now(UTC)
        gateways = [
            start_gateway(env, free_port(), 2, tmp_path / "gateway-a.log"),
            start_gateway(env, free_port(), 1, tmp_path / "gateway-b.log"),
        ]
        try:
            for gateway in gateways:
                wait_listening(gateway)
            load = SteadyLoad([g.port for g in gateways], sender, body)
            running = asyncio.create_task(load.run())
            await asyncio.sleep(3)
            crashed = time.monotonic()
            await asyncio.to_thread(pg.crash)
            await asyncio.sleep(PROMOTE_AFTER)
            await asyncio.to_thread(standby.promote)
            promoted = time.monotonic()
            await asyncio.sleep(4)
            load.stop()
            await running
            _check_answers(load.outcomes, [g.log for g in gateways])
            back = min(
                (o.started + o.elapsed for o in load.since(promoted) if o.status == 201),
                default=None,
            )
            assert back is not None, "no send succeeded on the promoted standby"
            counts = await _settle(load, reader, url, since)
        finally:
            for gateway in gateways:
                gateway.stop()
        entries = ledger_entries_verified(env)
    unavailable = sum(1 for o in load.outcomes if o.status == 503)
    print(
        f"\nfailover (PostgreSQL, synchronous standby): {counts}; primary crashed, standby "
        f"promoted {promoted - crashed:.1f} s later; {unavailable} sends answered 503; sends "
        f"succeeded again {back - crashed:.1f} s after the crash ({back - promoted:.1f} s after "
        f"the promotion); ledger verified: {entries} entries"
    )
