"""The hub's and the server's CPU for a share's first two reads, apart and folded (not a test).

    python -m bench.first_read [--database-url postgresql://postgres@127.0.0.1:5432/test]
                               [--rounds 6] [--calls 1000]

Every share through the API reads its token (and on PostgreSQL takes from the token's bucket in
the same statement), then its case. The API's gate now makes both reads together
(``hub.web.api.first_read``). This times the two ways in one process, alternated round by round,
on the same world: "apart", the token's read and then the case's own (``run_read`` of
``case_with_agencies``), as a share made them before; "folded", ``authenticate_taking`` with
the case's read given. The hub's CPU from ``getrusage``; the server's from ``/proc`` for its
backends (PostgreSQL on this machine only; SQLite runs in the hub). Medians per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import timedelta
from pathlib import Path

from bench.__main__ import build_world
from bench.in_process import ServerBackends, hub_cpu, in_a_world, process_cpu


async def _measure(data_dir: Path, url: str | None, rounds: int, calls: int) -> None:
    from hub.config import PasswordHashing, load_config
    from hub.store import cases as case_store
    from hub.store.rate_limits import Bucket
    from hub.wiring import Hub

    world = await build_world(data_dir, url)
    hub = await Hub.open(load_config(data_dir, url, passwords=PasswordHashing(1, 1024, 1)))
    try:
        issued = await hub.tokens.issue(
            None, "DBY-POLICE", "bench", ["packets:send"], lifetime=timedelta(days=1)
        )
        # As the gate asks: PostgreSQL takes from the bucket in the token's statement.
        bucket = Bucket(rate=1e9, burst=10**9) if url else None
        case_id = world.case_ids[0]
        case_read = (case_store.CASE_WITH_AGENCIES, {"id": case_id})

        async def apart() -> None:
            await hub.callers.authenticate_taking(issued.secret, bucket)
            found = await hub.db.run_read(lambda c: case_store.case_with_agencies(c, case_id))
            if found is None:
                raise RuntimeError("the world's case is missing")

        async def folded() -> None:
            _, _, row = await hub.callers.authenticate_taking(issued.secret, bucket, case_read)
            if row is None:
                raise RuntimeError("the world's case is missing")

        ways = {"apart": apart, "folded": folded}
        async with ServerBackends(url) as backends:
            for way in ways.values():  # warm: connections kept, statements prepared
                for _ in range(calls // 4):
                    await way()
            hub_us: dict[str, list[float]] = {name: [] for name in ways}
            server_us: dict[str, list[float]] = {name: [] for name in ways}
            for round_ in range(rounds):
                order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
                for name in order:
                    pids = await backends.pids()
                    hub0, server0 = hub_cpu(), process_cpu(pids)
                    for _ in range(calls):
                        await ways[name]()
                    hub_us[name].append((hub_cpu() - hub0) / calls * 1e6)
                    server_us[name].append((process_cpu(pids) - server0) / calls * 1e6)
                print(
                    f"round {round_ + 1}  "
                    + "  ".join(
                        f"{n}: hub {hub_us[n][-1]:6.1f} µs, server {server_us[n][-1]:6.1f} µs"
                        for n in ways
                    ),
                    file=sys.stderr,
                    flush=True,
                )
            for name in ways:
                print(
                    f"{name}: {calls} calls a round, median of {rounds}: "
                    f"hub {statistics.median(hub_us[name]):.1f} µs, "
                    f"server {statistics.median(server_us[name]):.1f} µs a call"
                )
    finally:
        await hub.close()


async def _run(database_url: str | None, rounds: int, calls: int) -> None:
    await in_a_world(database_url, lambda d, url: _measure(d, url, rounds, calls))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL (a database is made beside it)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(_run(args.database_url, args.rounds, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
