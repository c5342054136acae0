"""What the in-process benchmarks share (``bench.share_batch``, ``bench.first_read``): a world in a
temporary directory, on a new PostgreSQL database beside the one named (dropped afterwards) or on
SQLite; and the CPU of the hub's own process and of the server's backends."""

from __future__ import annotations

import os
import resource
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.__main__ import drop_postgresql, fresh_postgresql


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
