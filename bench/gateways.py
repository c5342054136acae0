"""Two gateway machines against one PostgreSQL, simulated as two process groups on this box.

Each group is its own ``mappa-hub serve`` (its own port, its own helpers, as on its own host);
64 clients are split between them, 32 each, as a proxy would spread them. Beside the one-group
figure of the same run (``shares_per_second`` at 64 clients, ``--workers`` processes), this shows
what spreading the same processes over two "machines" costs: the sessions, idempotency keys, rate
limits and leases they now share through the database. On SQLite there is one box by design, so
this runs on PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

Server = Callable[[list[str], Path, dict[str, str] | None], AbstractContextManager[tuple[int, int]]]
Load = Callable[..., dict[str, Any]]


def two_groups(
    server: Server,
    load: Load,
    env: dict[str, str],
    plan: list[dict[str, Any]],
    tmp: Path,
    *,
    workers: int,
    seconds: float,
    warmup: float,
    clients: int = 64,
) -> dict[str, float]:
    """Shares per second through two gateway groups at once, and each group's latency."""
    each = max(1, workers // 2)
    for name in ("warm-1", "warm-2", "load-1", "load-2"):
        (tmp / name).mkdir(exist_ok=True)
    with ExitStack() as stack:
        ports = [
            stack.enter_context(
                server(
                    ["-m", "hub", "serve", "--workers", str(each)], tmp / f"gateway-{g}.log", env
                )
            )[0]
            for g in (1, 2)
        ]
        options = ("--clients", str(clients // 2), "--seconds", str(seconds),
                   "--warmup", str(warmup))  # fmt: skip
        for g, port in enumerate(ports, 1):  # warm both (caches, policy, pools) first
            load(port, plan, tmp / f"warm-{g}", "--clients", "8", "--seconds", str(warmup))
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(load, port, plan, tmp / f"load-{g}", *options)
                    for g, port in enumerate(ports, 1)]  # fmt: skip
            results = [run.result() for run in runs]
    return {
        "rate": sum(r["rate"] for r in results),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["requests"] - r["ok"] for r in results),
        "processes_each": each,
    }
