"""Profile the share path: a hub under share load, sampled by py-spy (GIL holder only).

    python -m bench.profile_share --out bench/profiles/share-sqlite-gil.svg
    python -m bench.profile_share --database-url postgresql://... --out share-postgresql-gil.svg

Builds the benchmark's world, starts ``mappa-hub serve --workers N``, warms it, then runs
``py-spy record --gil`` (flame graph SVG) over a closed-loop share load. Prints the load's rate
and the hub processes' CPU time per share. Needs py-spy (``pip install py-spy``); not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.__main__ import build_world, hub_env, load, server, share_plan


def _cpu_seconds(pid: int) -> float:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for p in [pid, *(int(c) for c in children)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", default="64")
    parser.add_argument("--seconds", default="8")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("profile_share: py-spy is not installed")
    with tempfile.TemporaryDirectory(prefix="mappa-profile-") as name:
        tmp = Path(name)
        world = asyncio.run(build_world(tmp / "hub", args.database_url, args.workers))
        serve = ["-m", "hub", "serve", "--workers", str(args.workers)]
        with server(serve, tmp / "hub.log", hub_env(world)) as (port, pid):
            plan = share_plan(world)
            load(port, plan, tmp, "--clients", "16", "--seconds", "2", "--warmup", "0")
            record = subprocess.Popen(
                [spy, "record", "-p", str(pid), "-d", args.seconds, "-r", "200", "--gil",
                 "--nonblocking", "--subprocesses", "-f", "flamegraph", "-o", str(args.out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            before = _cpu_seconds(pid)
            r = load(port, plan, tmp, "--clients", args.clients, "--seconds", args.seconds,
                     "--warmup", "0")  # fmt: skip
            used = _cpu_seconds(pid) - before
            record.wait()
    figures = {"rate": r["rate"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
               "hub_cpu_us_per_share": round(used / r["requests"] * 1e6)}  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
