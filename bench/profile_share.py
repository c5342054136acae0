"""Profile the share path or the inbox listing: a hub under load, sampled by py-spy (GIL holder).

    python -m bench.profile_share --out bench/profiles/share-sqlite-gil.svg
    python -m bench.profile_share --database-url postgresql://... --out share-postgresql-gil.svg
    python -m bench.profile_share --listing --packets 1000000 --keep /tmp/listing \
        --clients 16 --out bench/profiles/listing-sqlite-gil.svg

Builds the benchmark's world, starts ``mappa-hub serve --workers N``, warms it, then runs
``py-spy record --gil`` (flame graph SVG) over a closed-loop load: shares, or (``--listing``) the
inbox pages the benchmark lists, after loading ``--packets`` packets (shares too: a national
hub's shares go into indexes of millions). ``--keep DIR`` keeps the
world in DIR (with ``--database-url``, its new database too, named in DIR/world.json) and
reuses it on the next run, so a large load is paid once. Prints the
load's rate, latencies and the hub processes' CPU time per request; ``--rate R`` offers R requests
a second instead (open loop), and without ``--out`` nothing is sampled. ``--told N`` gives the
recipient agency N more readers, each practitioner there an e-mail address, so that every share
queues their e-mails as a real agency's would (the benchmark's own people have none). Needs py-spy
(``pip install py-spy``) for a profile; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.__main__ import (
    World,
    add_readers,
    build_world,
    bulk_load,
    drop_postgresql,
    fresh_postgresql,
    hub_env,
    load,
    read_plan,
    server,
    share_plan,
)


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, kernel) CPU seconds of the server and its worker processes so far."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    user = kernel = 0
    for p in [pid, *(int(c) for c in children)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        user, kernel = user + int(fields[11]), kernel + int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, kernel / tick


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", default="64")
    parser.add_argument("--seconds", default="8")
    parser.add_argument("--out", type=Path, help="the flame graph (none: no profile)")
    parser.add_argument("--rate", help="offer this many requests/s (open loop), not --clients")
    parser.add_argument("--runs", type=int, default=1, help="loads one after another")
    parser.add_argument("--listing", action="store_true", help="profile the inbox listing")
    parser.add_argument(
        "--packets",
        type=int,
        help="stored before the load (default: 100,000 with --listing, none for shares)",
    )
    parser.add_argument("--keep", type=Path,
                        help="keep (or reuse) the world here; with --database-url its new "
                             "database is kept too (drop it by hand)")  # fmt: skip
    parser.add_argument("--told", type=int, default=0,
                        help="give the recipient agency this many more readers, each with an "
                             "e-mail address, so that each share queues their e-mails")  # fmt: skip
    parser.add_argument("--no-cpu-affinity", action="store_true",
                        help="serve with --no-cpu-affinity (an A/B of hub.cli.affinity)")  # fmt: skip
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None and args.out:
        raise SystemExit("profile_share: py-spy is not installed")
    shape = ["--rate", args.rate] if args.rate else ["--clients", args.clients]
    url, admin = None, None
    kept = args.keep is not None and (args.keep / "world.json").exists()
    if args.database_url and not kept:  # a new database beside the one named, as bench does
        url, admin = asyncio.run(fresh_postgresql(args.database_url))
    try:
        _profile(args, spy, shape, url)
    finally:
        if url and admin and args.keep is None:
            asyncio.run(drop_postgresql(admin, url))
        elif url:
            print(f"  kept the database {url.rsplit('/', 1)[1]}", file=sys.stderr, flush=True)
    return 0


def _profile(args: argparse.Namespace, spy: str | None, shape: list[str], url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="mappa-profile-") as name:
        tmp = Path(name)
        stored = args.packets if args.packets is not None else 100_000 if args.listing else 0
        world = _world(args.keep or tmp, url, args.workers, stored)
        if args.told:
            told = asyncio.run(add_readers(world, args.told))
            print(f"  each share tells {told} people by e-mail", file=sys.stderr, flush=True)
        serve = ["-m", "hub", "serve", "--workers", str(args.workers)]
        if args.no_cpu_affinity:
            serve.append("--no-cpu-affinity")
        with server(serve, tmp / "hub.log", hub_env(world)) as (port, pid):
            plan = _listing_plan(world) if args.listing else share_plan(world)
            load(port, plan, tmp, "--clients", "16", "--seconds", "2", "--warmup", "0")
            for _ in range(args.runs):
                record = None
                if spy and args.out:
                    record = subprocess.Popen(
                        [spy, "record", "-p", str(pid), "-d", args.seconds, "-r", "200", "--gil",
                         "--nonblocking", "--subprocesses", "-f", _format(args.out), "-o", str(args.out)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                before = _cpu_seconds(pid)
                r = load(port, plan, tmp, *shape, "--seconds", args.seconds, "--warmup", "0")
                after = _cpu_seconds(pid)
                user, kernel = after[0] - before[0], after[1] - before[1]
                if record is not None:
                    record.wait()
                figures = {"rate": r["rate"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                           "errors": r["requests"] - r["ok"],
                           "hub_cpu_us_per_request": round((user + kernel) / r["requests"] * 1e6),
                           "kernel_share": round(kernel / (user + kernel or 1), 2)}  # fmt: skip
                print(json.dumps(figures), flush=True)


def _format(out: Path) -> str:
    """A flame graph for an .svg, else py-spy's collapsed stacks (one line a stack, to grep)."""
    return "flamegraph" if out.suffix == ".svg" else "raw"


def _world(where: Path, database_url: str | None, workers: int, packets: int) -> World:
    saved = where / "world.json"
    if saved.exists():
        fields: dict[str, Any] = json.loads(saved.read_text())
        fields.update(data_dir=Path(fields["data_dir"]), case_ids=tuple(fields["case_ids"]))
        return World(**{**fields, "workers": workers})
    world = asyncio.run(build_world(where / "hub", database_url, workers))
    if packets:
        asyncio.run(bulk_load(world, packets))
    saved.write_text(json.dumps({**asdict(world), "data_dir": str(world.data_dir)}))
    return world


def _listing_plan(world: World) -> list[dict[str, Any]]:
    """The pages ``python -m bench`` lists: the newest, and older ones by time."""
    now = datetime.now(UTC)
    befores = [
        (now - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ") for d in (7, 30, 90, 180, 270, 360)
    ]
    return [read_plan(world, "/api/v1/inbox")] + [
        read_plan(world, f"/api/v1/inbox?before={b}") for b in befores
    ]


if __name__ == "__main__":
    raise SystemExit(main())
