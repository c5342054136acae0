"""The live inbox: from a share's acknowledgement to the event on an inbox stream open elsewhere.

    python -m bench.live_inbox [--database-url postgresql://...] [--sends 300] [--streams 100]

On PostgreSQL (``--database-url``: a new database beside the one named, dropped afterwards) two
``mappa-hub serve`` processes share the database: shares go to one (``POST /api/v1/packets``, a
note from police to housing, with a bearer token) and the measured reader listens on the other
(``GET /inbox/events`` as a signed-in housing user), so every event crosses processes by LISTEN/
NOTIFY. On SQLite (no URL) one process does both: its in-process signal. ``--streams`` more housing
inboxes stay open on the listening process, so that each event fans out to them as well. The
sessions are made in the database as set-up; the shares go one at a time, each waiting for its
event, a few milliseconds apart. One JSON line per figure on stdout, progress on stderr. Not a
test: nothing here asserts a time.

Figures: ``live_inbox_after_ack_*``, from the moment the sender has its 201 to the moment the
event is read off the other stream (negative when the event is there first: the notification goes
out at commit, the acknowledgement after it); ``live_inbox_after_send_*``, from the start of the
send; ``live_inbox_share_ack_*``, the send itself, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench import seed as seeding
from bench.__main__ import (
    World,
    build_world,
    drop_postgresql,
    fresh_postgresql,
    hub_env,
    server,
)

COOKIE = "__Host-mappa-session"


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _figure(name: str, value: float, unit: str, **params: object) -> None:
    row = {"name": name, "value": round(value, 3), "unit": unit, "params": params}
    print(json.dumps(row), flush=True)


async def _sessions(world: World, count: int) -> list[str]:
    """``count`` signed-in sessions of the housing reader, made directly (set-up, not a figure)."""
    from hub.config import PasswordHashing, load_config
    from hub.crypto.secrets import random_token, token_digest
    from hub.services.auth import Stage
    from hub.store import sessions as session_store
    from hub.store.sessions import SessionRow
    from hub.wiring import Hub

    config = load_config(world.data_dir, world.database_url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    try:
        user = next(u for u in await hub.directory.users() if u.username == "dby.housing")
        now = hub.clock.now()
        tokens = [random_token() for _ in range(count)]
        async with hub.db.write() as conn:
            for token in tokens:
                await session_store.insert_session(conn, SessionRow(
                    token_hash=token_digest(token), user_id=user.id, stage=Stage.ACTIVE.value,
                    csrf_token=random_token(), created_at=now, last_seen_at=now,
                    expires_at=now + timedelta(hours=2),
                ))  # fmt: skip
        return tokens
    finally:
        await hub.close()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _events(stream: aiohttp.ClientResponse, arrivals: asyncio.Queue[float] | None) -> None:
    """Read a stream to its end; note when each ``inbox`` event arrives."""
    while True:
        block = await stream.content.readuntil(b"\n\n")
        if not block:
            return
        if arrivals is not None and block.startswith(b"event: inbox"):
            arrivals.put_nowait(time.perf_counter())


async def measure(
    world: World, send_port: int, listen_port: int, tokens: list[str], sends: int
) -> dict[str, list[float]]:
    body = {
        "case_id": world.case_ids[0],
        "packet_type": "note",
        "recipient_agencies": [seeding.RECIPIENT],
        "subject": "Proposed address - suitability check",
        "body": "Seeded by the benchmark. ".ljust(seeding.BODY_BYTES, "x"),
        "purpose": seeding.PURPOSE,
        "lawful_basis": seeding.LAWFUL_BASIS,
        "data_categories": list(seeding.CATEGORIES),
        "necessity": {"why": "Housing must assess the proposed address against the plan."},
    }
    auth = {"Authorization": f"Bearer {world.send_token}"}
    events_url = f"http://127.0.0.1:{listen_port}/inbox/events"
    send_url = f"http://127.0.0.1:{send_port}/api/v1/packets"
    arrivals: asyncio.Queue[float] = asyncio.Queue()
    readers: list[asyncio.Task[None]] = []
    streams: list[aiohttp.ClientResponse] = []
    found: dict[str, list[float]] = {"after_ack": [], "after_send": [], "ack": []}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            for k, token in enumerate(tokens):
                stream = await http.get(events_url, headers={"Cookie": f"{COOKIE}={token}"})
                if stream.status != 200 or stream.content_type != "text/event-stream":
                    raise SystemExit(f"bench: no event stream ({stream.status})")
                streams.append(stream)
                task = asyncio.create_task(_events(stream, arrivals if k == 0 else None))
                readers.append(task)
            for n in range(sends + 10):  # the first ten warm the path
                began = time.perf_counter()
                async with http.post(send_url, json=body, headers=auth) as resp:
                    await resp.read()
                    if resp.status != 201:
                        raise SystemExit(f"bench: the send answered {resp.status}")
                acked = time.perf_counter()
                arrived = await asyncio.wait_for(arrivals.get(), 10)
                if n >= 10:
                    found["after_ack"].append(arrived - acked)
                    found["after_send"].append(arrived - began)
                    found["ack"].append(acked - began)
                if n % 50 == 0:
                    _progress(f"{n}/{sends + 10} sends")
                await asyncio.sleep(0.005)
        finally:
            for task in readers:
                task.cancel()
            for stream in streams:
                stream.close()
    return found


async def run(args: argparse.Namespace) -> None:
    fresh: tuple[str, str] | None = None
    if args.database_url:
        fresh = await fresh_postgresql(args.database_url)
    try:
        with tempfile.TemporaryDirectory(prefix="mappa-bench-live-") as tmp_name:
            tmp = Path(tmp_name)
            _progress("setting up the hub")
            world = await build_world(tmp / "hub", fresh[0] if fresh else None, workers=1)
            tokens = await _sessions(world, 1 + args.streams)
            db = "postgresql" if fresh else "sqlite"
            env = {**hub_env(world), "MAPPA_HUB_LOG_LEVEL": "WARNING"}
            command = ["-m", "hub", "serve"]
            with server(command, tmp / "hub.log", env) as (send_port, _):
                if fresh:
                    with server(command, tmp / "hub.log", env) as (listen_port, _):
                        found = await measure(world, send_port, listen_port, tokens, args.sends)
                else:
                    found = await measure(world, send_port, send_port, tokens, args.sends)
    finally:
        if fresh is not None:
            await drop_postgresql(fresh[1], fresh[0])
    params: dict[str, Any] = {
        "db": db,
        "processes": 2 if fresh else 1,
        "streams": 1 + args.streams,
        "sends": args.sends,
    }
    for key, name in (
        ("after_ack", "live_inbox_after_ack"),
        ("after_send", "live_inbox_after_send"),
        ("ack", "live_inbox_share_ack"),
    ):
        ms = [v * 1000 for v in found[key]]
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            _figure(f"{name}_{label}", _quantile(ms, q), "ms", **params)
    early = sum(1 for v in found["after_ack"] if v <= 0) / len(found["after_ack"])
    _figure("live_inbox_before_ack", 100 * early, "%", **params)
    _figure("live_inbox_after_ack_max", max(found["after_ack"]) * 1000, "ms", **params)
    _progress(f"median after the ack {statistics.median(found['after_ack']) * 1000:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live_inbox", description=__doc__)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a database on")
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--streams", type=int, default=100,
                        help="more housing inboxes open on the listening process")  # fmt: skip
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
