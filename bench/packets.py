"""Packet throughput through the services on a temporary SQLite file (or --database-url).

Prints one JSON line per figure, then a table. Not a test: nothing here asserts a time.

    python -m bench.packets [--sends 2000] [--concurrency 16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hub.config import PasswordHashing, load_config
from hub.demo import seed
from hub.model.packets import Draft
from hub.services.actor import Actor
from hub.wiring import Hub, initialise


def _figure(name: str, value: float, unit: str, **params: object) -> dict[str, object]:
    row = {"name": name, "value": round(value, 2), "unit": unit, "params": params}
    print(json.dumps(row), flush=True)
    return row


async def _actor(hub: Hub, username: str) -> Actor:
    user = next(u for u in await hub.directory.users() if u.username == username)
    return Actor(user, await hub.directory.agency(user.agency_id))


async def main(sends: int, concurrency: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(Path(tmp), database_url, passwords=PasswordHashing(1, 1024, 1))
        await initialise(config)
        hub = await Hub.open(config)
        try:
            await seed(hub)
            police = await _actor(hub, "dby.police")
            housing = await _actor(hub, "dby.housing")
            agencies = {a.code: a.id for a in await hub.directory.agencies()}
            case = next(c for c in await hub.cases.visible_to(police) if c.family_name == "Harlow")
            draft = Draft(
                case_id=case.id,
                recipient_agency_ids=(agencies["DBY-HOUSING"], agencies["DBY-PROBATION"]),
                subject="Benchmark packet",
                body="x" * 2048,
                purpose="risk-management",
                lawful_basis="cja2003-s325",
                data_categories=("address", "risk-summary"),
                necessity={"why": "Housing must assess the proposed address against the plan."},
            )
            latencies: list[float] = []
            queue = iter(range(sends))
            done = 0

            async def worker() -> None:
                nonlocal done
                for _ in queue:
                    t0 = time.perf_counter()
                    await hub.packets.send(police, draft)
                    latencies.append(time.perf_counter() - t0)
                    done += 1
                    if done % 500 == 0:
                        print(f"  sent {done}/{sends}", file=sys.stderr, flush=True)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - t0
            latencies.sort()
            db = "sqlite" if hub.db.is_sqlite else "postgresql"
            rows = [
                _figure(
                    "service_sends_per_second",
                    sends / elapsed,
                    "sends/s",
                    db=db,
                    concurrency=concurrency,
                    recipients=2,
                    body_bytes=2048,
                ),
                _figure(
                    "service_send_p50",
                    statistics.median(latencies) * 1000,
                    "ms",
                    db=db,
                    concurrency=concurrency,
                ),
                _figure(
                    "service_send_p99",
                    latencies[int(len(latencies) * 0.99) - 1] * 1000,
                    "ms",
                    db=db,
                    concurrency=concurrency,
                ),
            ]
            inbox_times = []
            for _ in range(50):
                t0 = time.perf_counter()
                await hub.packets.inbox(housing, limit=50)
                inbox_times.append(time.perf_counter() - t0)
            inbox_times.sort()
            rows.append(
                _figure(
                    "service_inbox_50_p50",
                    statistics.median(inbox_times) * 1000,
                    "ms",
                    db=db,
                    packets=sends,
                )
            )
            print(f"\n{'figure':28} {'value':>10}  unit")
            for r in rows:
                print(f"{r['name']:28} {r['value']:>10}  {r['unit']}")
        finally:
            await hub.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.sends, args.concurrency, args.database_url))
