"""What the in-process benchmarks share (``bench.share_batch``, ``bench.first_read``,
``bench.share_writes``, ``bench.share_instructions``): a world in a temporary directory, on a new
PostgreSQL database beside the one named (dropped afterwards) or on SQLite; the benchmark's
shares and their sender; and the CPU of the hub's own process and of the server's backends."""

from __future__ import annotations

import os
import resource
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import seed as seeding
from bench.__main__ import World, drop_postgresql, fresh_postgresql


def share_drafts(world: World, count: int) -> list[Any]:
    """``count`` drafts of the benchmark's share (a note of ``seeding.BODY_BYTES`` from police to
    housing), on the world's cases in turn, each with its own subject."""
    from hub.model.packets import Draft

    return [
        Draft(
            case_id=world.case_ids[k % len(world.case_ids)],
            recipient_agency_ids=(world.recipient_id,),
            subject=f"Proposed address {k} - suitability check",
            body="Sent by the benchmark. ".ljust(seeding.BODY_BYTES, "x"),
            purpose=seeding.PURPOSE,
            lawful_basis=seeding.LAWFUL_BASIS,
            data_categories=tuple(seeding.CATEGORIES),
            necessity={"why": "Housing must assess the proposed address against the plan."},
        )
        for k in range(count)
    ]


async def sender(hub: Any) -> Any:
    """The benchmark's sender (``seeding.SENDER``) as an actor of the hub's services."""
    from hub.services.actor import Actor

    user = next(u for u in await hub.directory.users() if u.username == seeding.SENDER)
    return Actor(user, await hub.directory.agency(user.agency_id))


def hub_cpu() -> float:
    """Seconds of CPU this process has used (user and system)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def process_cpu(pids: list[int]) -> float:
    """Seconds of CPU these processes have used, from ``/proc`` (one that ended counts nothing)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # a backend that ended
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class ServerBackends:
    """The PostgreSQL backends serving the world's database (none on SQLite, which runs in the
    hub), found through a connection of the benchmark's own, which they do not count."""

    def __init__(self, url: str | None) -> None:
        self._url = url
        self._conn: Any = None

    async def __aenter__(self) -> ServerBackends:
        if self._url:
            import asyncpg  # type: ignore[import-untyped]

            self._conn = await asyncpg.connect(self._url.replace("+asyncpg", ""))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def pids(self) -> list[int]:
        if self._conn is None or not self._url:
            return []
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self._url.rpartition("/")[2],
        )
        return [int(r["pid"]) for r in rows]


async def in_a_world(
    database_url: str | None, measure: Callable[[Path, str | None], Awaitable[None]]
) -> None:
    """``measure(data_dir, url)`` in a temporary directory, on a new database beside
    ``database_url`` (dropped afterwards), or on SQLite (``url`` None) without one."""
    url, admin = (None, None)
    if database_url:
        url, admin = await fresh_postgresql(database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            await measure(Path(tmp), url)
    finally:
        if url and admin:
            await drop_postgresql(admin, url)
