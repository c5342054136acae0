"""The hub's CPU for one PostgreSQL write job, by what it runs (not a test; prints figures).

    python -m bench.write_job [--database-url postgresql://postgres@127.0.0.1:5432/test]

A share batch is a write job: BEGIN, its statements, COMMIT, each a round trip on the event loop.
This times, in the hub's own process, a job of one statement on the driver, and a job of one
NOTIFY sent as the hub sends it (``hub.store.notify``) and through SQLAlchemy's execution, to
show what a round trip and SQLAlchemy's execution cost. It creates nothing; NOTIFY goes to a
channel no one listens on.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.database import Database
from hub.store.hot import HotRead
from hub.store.notify import notify

_CHANNEL = "mappa_bench_write_job"
_VIA_SQLALCHEMY = select(func.pg_notify(bindparam("channel"), bindparam("payload")))
_NOW = HotRead(select(func.now().label("now")))


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


async def _one_statement(conn: AsyncConnection) -> None:
    await _NOW.all_in_transaction(conn, {})


async def _notify_as_the_hub(conn: AsyncConnection) -> None:
    await notify(conn, _CHANNEL, "1,2")


async def _notify_through_sqlalchemy(conn: AsyncConnection) -> None:
    await conn.execute(_VIA_SQLALCHEMY, {"channel": _CHANNEL, "payload": "1,2"})


async def _run(url: str, jobs: int, rounds: int) -> None:
    db = Database(url)
    cases: list[tuple[str, Callable[[AsyncConnection], Awaitable[None]]]] = [
        ("BEGIN, one statement on the driver, COMMIT", _one_statement),
        ("BEGIN, NOTIFY as the hub sends it, COMMIT", _notify_as_the_hub),
        ("BEGIN, NOTIFY through SQLAlchemy, COMMIT", _notify_through_sqlalchemy),
    ]
    try:
        for round_ in range(1, rounds + 1):
            for name, job in cases:
                for _ in range(jobs // 10):  # warm: connections kept, statements prepared
                    await db.run_write(job)
                cpu, wall = _cpu(), time.perf_counter()
                for _ in range(jobs):
                    await db.run_write(job)
                cpu_us = 1e6 * (_cpu() - cpu) / jobs
                wall_us = 1e6 * (time.perf_counter() - wall) / jobs
                print(f"round {round_}  {name:45s} cpu {cpu_us:6.1f} µs  wall {wall_us:6.1f} µs")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    if not url.startswith("postgresql+asyncpg://"):
        raise SystemExit("write_job: PostgreSQL only (a SQLite write job has no round trips)")
    asyncio.run(_run(url, args.jobs, args.rounds))


if __name__ == "__main__":
    main()
