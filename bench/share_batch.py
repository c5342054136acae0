"""The hub's and the server's CPU for one share batch of one share (not a test; prints figures).

    python -m bench.share_batch [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                [--rounds 8] [--batches 500] [--told N]

At a steady rate a share batch holds one share, so every statement of the batch is paid for by
that share. This times ``hub.services.log_writer.write`` of one real share (sealed and decided
once through ``PacketService.send``, then written again under a new packet id each time), in the
hub's own process, without the HTTP layer, the sealing or the load process: the hub's CPU from
``getrusage``, the server's from ``/proc`` for its backends (PostgreSQL on this machine only).
A CPU time per process is steadier than a throughput on a busy machine, so two commits can be
told apart by a few percent in alternated runs. It creates a database beside the one named
(``--database-url``) and drops it afterwards; without one, a SQLite file in a temporary
directory (the server's figure is then 0: SQLite runs in the hub). ``--told N``: the recipient
agency has N people with an e-mail address, so each share queues N messages (``add_readers``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import seed as seeding
from bench.__main__ import add_readers, build_world
from bench.in_process import ServerBackends, hub_cpu, in_a_world, process_cpu


async def _measure(data_dir: Path, url: str | None, rounds: int, batches: int, told: int) -> None:
    from hub import ids
    from hub.config import PasswordHashing, load_config
    from hub.model.packets import Draft
    from hub.services import log_writer
    from hub.services.actor import Actor
    from hub.services.log_writer import PendingWrite
    from hub.wiring import Hub

    world = await build_world(data_dir, url)
    if told:
        print(f"each share tells {await add_readers(world, told)} people", file=sys.stderr)
    config = load_config(data_dir, url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    try:
        user = next(u for u in await hub.directory.users() if u.username == "dby.police")
        police = Actor(user, await hub.directory.agency(user.agency_id))
        draft = Draft(
            case_id=world.case_ids[0],
            recipient_agency_ids=(world.recipient_id,),
            subject="Proposed address - suitability check",
            body="Seeded by the benchmark. ".ljust(seeding.BODY_BYTES, "x"),
            purpose=seeding.PURPOSE,
            lawful_basis=seeding.LAWFUL_BASIS,
            data_categories=tuple(seeding.CATEGORIES),
            necessity={"why": "Housing must assess the proposed address against the plan."},
        )
        # The share's own pending write, as the packet service hands it to the log writer.
        writer: Any = hub.packets._log  # the log writer: where a share joins its batch
        captured: list[PendingWrite] = []
        submit = writer.submit

        async def keep(item: PendingWrite) -> Any:
            captured.append(item)
            return await submit(item)

        writer.submit = keep
        await hub.packets.send(police, draft)
        writer.submit = submit
        # The writer's forecast of whom a batch tells (where its log entries go on PostgreSQL),
        # on the commits that have one, so that this times a batch as the writer runs it.
        forecast = getattr(writer, "_forecast", None)
        share = captured[0]
        assert share.packet is not None and share.record.packet_id is not None

        def again() -> list[PendingWrite]:
            packet_id = ids.packet_id(datetime.now(UTC))
            assert share.packet is not None
            packet = replace(share.packet, row=share.packet.row._replace(id=packet_id))
            return [
                replace(share, record=replace(share.record, packet_id=packet_id), packet=packet)
            ]

        extra = () if forecast is None else (forecast,)
        async with ServerBackends(url) as backends:
            for _ in range(batches // 4):  # warm: connections kept, statements prepared
                await hub.db.run_write(lambda conn: log_writer.write(conn, again(), *extra))
            hub_us, server_us = [], []
            for round_ in range(1, rounds + 1):
                pids = await backends.pids()
                hub0, server0 = hub_cpu(), process_cpu(pids)
                for _ in range(batches):
                    await hub.db.run_write(lambda conn: log_writer.write(conn, again(), *extra))
                hub_us.append((hub_cpu() - hub0) / batches * 1e6)
                server_us.append((process_cpu(pids) - server0) / batches * 1e6)
                print(
                    f"round {round_}  hub {hub_us[-1]:7.1f} µs  server {server_us[-1]:7.1f} µs a batch",
                    file=sys.stderr,
                    flush=True,
                )
            print(
                f"share batch of one share, {batches} a round, median of {rounds}: "
                f"hub {statistics.median(hub_us):.1f} µs, server {statistics.median(server_us):.1f} µs"
            )
    finally:
        await hub.close()


async def _run(database_url: str | None, rounds: int, batches: int, told: int) -> None:
    await in_a_world(database_url, lambda d, url: _measure(d, url, rounds, batches, told))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL (a database is made beside it)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--told", type=int, default=0, help="people each share tells by e-mail")
    args = parser.parse_args()
    asyncio.run(_run(args.database_url, args.rounds, args.batches, args.told))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
