"""What a share costs the disk on a full database (not a test; prints figures).

    python -m bench.share_writes [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                 [--packets 200000] [--batch 16] [--batches 200]

A national hub stores millions of packets, and each share's rows go into indexes of that size.
This stores ``--packets`` packets (as ``python -m bench`` does for its reads), then sends batches
of ``--batch`` shares at once through ``PacketService.send`` in the hub's own process (policy,
sealing and the log writer's batch as the API gives them, without HTTP), and prints per share:

- SQLite: the bytes the hub's process wrote (the write-ahead log, and the checkpoints copying it
  into the database file) and the read calls it made (pages not in its cache), from
  ``/proc/self/io``;
- PostgreSQL: the bytes of write-ahead log the server wrote (``pg_current_wal_insert_lsn``) and
  its backends' CPU;
- both: the hub's CPU.

These count work rather than time it, so they hold on a machine whose speed wanders. It creates a
database beside the one named and drops it afterwards, or a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.__main__ import World, build_world, bulk_load
from bench.in_process import (
    ServerBackends,
    hub_cpu,
    in_a_world,
    process_cpu,
    sender,
    share_drafts,
)


def _io() -> dict[str, int]:
    """This process's ``/proc/self/io`` counters (bytes written, read calls, ...)."""
    pairs = (line.split(":") for line in Path("/proc/self/io").read_text().splitlines())
    return {name: int(value) for name, value in pairs}


async def _wal_lsn(conn: Any) -> int:
    return int(await conn.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"))


async def _measure(data_dir: Path, url: str | None, packets: int, batch: int, batches: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    from hub.config import PasswordHashing, load_config
    from hub.wiring import Hub

    world: World = await build_world(data_dir, url)
    if packets:
        await bulk_load(world, packets)
    config = load_config(data_dir, url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    admin = await asyncpg.connect(url.replace("+asyncpg", "")) if url else None
    try:
        actor = await sender(hub)
        drafts = share_drafts(world, batch)

        async def one_batch() -> None:
            # Sent together: the log writer takes them in one batch, as under load.
            await asyncio.gather(*(hub.packets.send(actor, d) for d in drafts))

        for _ in range(max(1, batches // 10)):  # warm: keys, policy, statements
            await one_batch()
        async with ServerBackends(url) as backends:
            pids = await backends.pids()
            rounds: dict[str, list[float]] = {
                k: [] for k in ("hub", "server", "written", "reads", "wal")
            }
            for round_ in range(1, 5):
                io0, hub0, server0 = _io(), hub_cpu(), process_cpu(pids)
                wal0 = await _wal_lsn(admin) if admin else 0
                for _ in range(batches):
                    await one_batch()
                shares = batches * batch
                io1 = _io()
                rounds["hub"].append((hub_cpu() - hub0) / shares * 1e6)
                rounds["server"].append((process_cpu(pids) - server0) / shares * 1e6)
                rounds["written"].append((io1["wchar"] - io0["wchar"]) / shares)
                rounds["reads"].append((io1["syscr"] - io0["syscr"]) / shares)
                rounds["wal"].append(((await _wal_lsn(admin)) - wal0) / shares if admin else 0)
                print(
                    f"round {round_}: a share, hub {rounds['hub'][-1]:.0f} µs"
                    + (
                        f", server {rounds['server'][-1]:.0f} µs, WAL {rounds['wal'][-1]:,.0f} B"
                        if admin
                        else f", written {rounds['written'][-1]:,.0f} B,"
                        f" read calls {rounds['reads'][-1]:.1f}"
                    ),
                    file=sys.stderr,
                    flush=True,
                )
        med = {k: statistics.median(v) for k, v in rounds.items()}
        where = f"{packets:,} packets stored, batches of {batch}, median of 4 rounds of {batches}"
        if admin:
            print(
                f"PostgreSQL, {where}: a share writes {med['wal']:,.0f} B of WAL; "
                f"hub {med['hub']:.0f} µs, server {med['server']:.0f} µs of CPU"
            )
        else:
            print(
                f"SQLite, {where}: a share writes {med['written']:,.0f} B and makes "
                f"{med['reads']:.1f} read calls; hub {med['hub']:.0f} µs of CPU"
            )
    finally:
        if admin is not None:
            await admin.close()
        await hub.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL (a database is made beside it)")
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(
        in_a_world(
            args.database_url,
            lambda d, url: _measure(d, url, args.packets, args.batch, args.batches),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
