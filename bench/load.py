"""The load process: drives a server over HTTP/1.1 keep-alive connections on loopback.

Run by ``python -m bench`` as a separate process, so that the server measured shares no event loop
(and no GIL) with the client. A small client written on asyncio's transport layer rather than an
HTTP library: the client's own cost per request (tens of microseconds) must stay well below the
server's, or the figure measures the client.

    python -m bench.load --port P --plan plan.json --clients 64 --seconds 10
    python -m bench.load --port P --plan plan.json --rate 500 --seconds 10

A plan is a JSON list of requests ({"method", "path", "headers", "body"}; "body" is a string and
may contain ``{n}``, replaced by a per-request counter so that no two bodies are the same). Each
client takes the next request of the plan in turn. Closed loop (``--clients``): each connection
sends its next request when the last one is answered. Open loop (``--rate``): requests start on a
fixed schedule whatever the server's pace, spread over ``--connections`` connections, and latency
counts from the scheduled start, so a server that falls behind cannot hide it (no coordinated
omission). Prints one JSON object: requests, errors by status, seconds, rate, p50/p99/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ProtocolFailure(Exception):
    pass


@dataclass(frozen=True)
class Template:
    head: bytes
    body: str
    varies: bool

    def render(self, n: int) -> bytes:
        body = (self.body.replace("{n}", str(n)) if self.varies else self.body).encode()
        return self.head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def templates(plan: list[dict[str, Any]], host: str) -> list[Template]:
    out = []
    for item in plan:
        lines = [f"{item['method']} {item['path']} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in item.get("headers", {}).items()]
        body = item.get("body", "")
        out.append(Template(("\r\n".join(lines) + "\r\n").encode(), body, "{n}" in body))
    return out


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ProtocolFailure("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"content-length:")
        if start < 0:
            self.waiter.set_exception(ProtocolFailure("response without Content-Length"))
            return
        stop = head.find(b"\r\n", start)
        length = int(head[start + 15 : stop if stop >= 0 else None])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        self.waiter.set_result((status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.lost or self.transport is None:
            raise ProtocolFailure("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


async def _connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Connection, host, port)
    return conn


@dataclass
class Tally:
    latencies: list[float]
    statuses: Counter[int]
    samples: list[str]

    def record(self, seconds: float, status: int, body: bytes) -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1
        if status >= 400 and len(self.samples) < 3:
            self.samples.append(body[:300].decode(errors="replace"))


def summary(tally: Tally, elapsed: float, **params: Any) -> dict[str, Any]:
    lat = sorted(tally.latencies)
    n = len(lat)

    def pct(p: float) -> float:
        return round(lat[min(n - 1, int(n * p))] * 1000, 3) if n else 0.0

    ok = sum(c for s, c in tally.statuses.items() if s < 400)
    return {
        "requests": n,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "error_samples": tally.samples,
        "seconds": round(elapsed, 3),
        "rate": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 3) if n else 0.0,
        **params,
    }


async def closed_loop(
    host: str, port: int, plan: list[Template], clients: int, seconds: float, warmup: float
) -> dict[str, Any]:
    conns = [await _connect(host, port) for _ in range(clients)]
    counter = itertools.count()
    tally = Tally([], Counter(), [])
    measuring = False
    stop_at = time.perf_counter() + warmup + seconds

    async def client(conn: Connection, offset: int) -> None:
        for i in itertools.count(offset):
            if time.perf_counter() >= stop_at:
                return
            data = plan[i % len(plan)].render(next(counter))
            t0 = time.perf_counter()
            status, body = await conn.request(data)
            if measuring:
                tally.record(time.perf_counter() - t0, status, body)

    tasks = [asyncio.create_task(client(c, k)) for k, c in enumerate(conns)]
    await asyncio.sleep(warmup)
    measuring = True
    t0 = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return summary(tally, elapsed, mode="closed", clients=clients)


async def open_loop(
    host: str, port: int, plan: list[Template], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await _connect(host, port))
    tally = Tally([], Counter(), [])
    counter = itertools.count()
    interval = 1.0 / rate
    total = int(rate * seconds)
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float, n: int) -> None:
        conn = await idle.get()  # waiting for a free connection counts as latency
        status, body = await conn.request(plan[n % len(plan)].render(n))
        tally.record(time.perf_counter() - scheduled, status, body)
        idle.put_nowait(conn)

    start = time.perf_counter()
    for k in range(total):
        scheduled = start + k * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled, next(counter)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return summary(tally, elapsed, mode="open", offered_rate=rate, connections=connections)


def _plan(path: Path) -> list[dict[str, Any]]:
    plan = json.loads(path.read_text())
    if not isinstance(plan, list) or not plan:
        raise SystemExit("bench.load: the plan is a non-empty JSON list of requests")
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--clients", type=int, help="closed loop: this many connections")
    group.add_argument("--rate", type=float, help="open loop: requests started per second")
    parser.add_argument("--connections", type=int, default=128, help="open loop: pool size")
    args = parser.parse_args(argv)
    plan = templates(_plan(args.plan), f"{args.host}:{args.port}")
    try:
        if args.clients:
            result = asyncio.run(
                closed_loop(args.host, args.port, plan, args.clients, args.seconds, args.warmup)
            )
        else:
            result = asyncio.run(
                open_loop(args.host, args.port, plan, args.rate, args.seconds, args.connections)
            )
    except (OSError, ProtocolFailure) as exc:
        print(f"bench.load: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


def iter_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


if __name__ == "__main__":
    raise SystemExit(main())
