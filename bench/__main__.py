"""The hub's speed, scale and memory, measured beside the ceilings of its own stack.

    python -m bench [--quick] [--database-url postgresql://...] [--packets N] [--json FILE]

Starts the hub (``mappa-hub serve``) on a temporary SQLite database, or on a new database created
next to the one ``--database-url`` names (dropped afterwards), seeds it, and drives it over HTTP
from a separate load process on loopback (``bench.load``). Prints one JSON line per figure on
stdout (name, value, unit, params), progress on stderr, and a table at the end. Not a test: nothing
here asserts a time. bench/README.md explains each figure and keeps the last ones measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import gateways
from bench import seed as seeding

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Settings:
    packets: int
    seconds: float
    warmup: float
    open_rate: float
    clients: tuple[int, ...]
    ledger_entries: int
    policy_seconds: float

    @classmethod
    def quick(cls) -> Settings:
        return cls(20_000, 3.0, 0.5, 500.0, (1, 16, 64), 20_000, 1.0)

    @classmethod
    def full(cls) -> Settings:
        return cls(1_000_000, 10.0, 2.0, 500.0, (1, 16, 64), 1_000_000, 3.0)


@dataclass
class Report:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def figure(self, name: str, value: float, unit: str, **params: Any) -> dict[str, Any]:
        row = {"name": name, "value": round(value, 3), "unit": unit, "params": params}
        print(json.dumps(row), flush=True)
        self.rows.append(row)
        return row

    def value(self, name: str, **match: Any) -> float | None:
        for row in self.rows:
            if row["name"] == name and all(row["params"].get(k) == v for k, v in match.items()):
                return float(row["value"])
        return None

    def table(self) -> str:
        lines = [f"{'figure':44} {'value':>12}  {'unit':12} parameters"]
        for r in self.rows:
            params = " ".join(
                f"{k}={v}" for k, v in r["params"].items() if k not in ("db", "machine")
            )
            lines.append(f"{r['name']:44} {r['value']:>12,}  {r['unit']:12} {params}")
        return "\n".join(lines)


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: the server exited early (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: nothing listening on port {port} after {timeout:.0f} s")


@contextmanager
def server(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[int, int]]:
    """Run a server process on a free port; yield (port, pid); stop it with SIGTERM.

    Its output goes to ``log``, so that a server's errors do not interleave with the figures."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *args, "--port", str(port)],
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields[key] = rest.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def worker_pids(pid: int) -> list[int]:
    """The server process and the helper workers it started."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


def load(port: int, plan: list[dict[str, Any]], tmp: Path, *options: str) -> dict[str, Any]:
    """Run one load in its own process and return its summary."""
    plan_path = tmp / "plan.json"
    plan_path.write_text(json.dumps(plan))
    cmd = [sys.executable, "-m", "bench.load", "--port", str(port), "--plan", str(plan_path)]
    out = subprocess.run([*cmd, *options], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench: the load process failed: {out.stderr.strip()}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    errors = {s: n for s, n in result["statuses"].items() if int(s) >= 400}
    if errors:
        progress(f"responses with errors {errors}: {result['error_samples'][:1]}")
    return result


def sub_bench(module: str, *options: str) -> list[dict[str, Any]]:
    """Run another bench script in its own process; return the figures it printed."""
    out = subprocess.run(
        [sys.executable, "-m", module, *options], stdout=subprocess.PIPE, text=True, check=False
    )
    if out.returncode != 0:
        progress(f"{module} failed with status {out.returncode}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


# -- the hub under test ----------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    data_dir: Path
    database_url: str | None
    workers: int
    send_token: str
    read_token: str
    case_ids: tuple[int, ...]
    recipient_id: int


def hub_env(world: World) -> dict[str, str]:
    env = {
        "MAPPA_HUB_DATA_DIR": str(world.data_dir),
        # One token carries every client's load: the per-token limit is not what is measured.
        "MAPPA_HUB_API_RATE_PER_SECOND": "1000000",
        "MAPPA_HUB_API_BURST": "1000000",
    }
    if world.database_url:
        env["MAPPA_HUB_DATABASE_URL"] = world.database_url
    return env


async def build_world(data_dir: Path, database_url: str | None, workers: int = 1) -> World:
    from hub.config import PasswordHashing, load_config
    from hub.demo import seed
    from hub.wiring import Hub, initialise

    config = load_config(data_dir, database_url, passwords=PasswordHashing(1, 1024, 1))
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        agencies = {a.code: a for a in await hub.directory.agencies()}
        send = await hub.tokens.issue(
            None, "DBY-POLICE", "Benchmark sender", ["packets:send", "packets:read"]
        )
        read = await hub.tokens.issue(None, "DBY-HOUSING", "Benchmark reader", ["packets:read"])
        police = agencies["DBY-POLICE"]
        cases = [c for c in await hub.cases.visible_to(None) if c.area_id == police.area_id]
        return World(
            data_dir,
            database_url,
            workers,
            send.secret,
            read.secret,
            tuple(c.id for c in cases if c.merged_into_id is None),
            agencies[seeding.RECIPIENT].id,
        )
    finally:
        await hub.close()


async def add_readers(world: World, count: int) -> int:
    """Give the recipient agency ``count`` more practitioners, and every practitioner of it an
    e-mail address, so that each share tells that many people (the bench's own people have no
    address, so its shares queue no e-mail, as a real agency's would). Returns how many."""
    import secrets

    from hub.config import PasswordHashing, load_config
    from hub.model.directory import Role
    from hub.wiring import Hub

    config = load_config(world.data_dir, world.database_url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    try:
        known = {u.username for u in await hub.directory.users()}
        for n in range(count):
            if f"bench.reader{n}" in known:  # a kept world, given its readers before
                continue
            await hub.directory.add_user(
                f"bench.reader{n}", f"Bench reader {n}", seeding.RECIPIENT, Role.PRACTITIONER,
                secrets.token_urlsafe(24),
            )  # fmt: skip
        told = [
            u
            for u in await hub.directory.users()
            if u.agency_id == world.recipient_id and u.role is Role.PRACTITIONER
        ]
        for user in told:
            await hub.notices.set_email(user.username, f"{user.username}@housing.bench.example")
        return len(told)
    finally:
        await hub.close()


async def bulk_load(world: World, total: int) -> tuple[float, list[str]]:
    from hub.config import PasswordHashing, load_config
    from hub.services.actor import Actor
    from hub.wiring import Hub

    config = load_config(world.data_dir, world.database_url, passwords=PasswordHashing(1, 1024, 1))
    hub = await Hub.open(config)
    try:
        user = next(u for u in await hub.directory.users() if u.username == seeding.SENDER)
        sender = Actor(user, await hub.directory.agency(user.agency_id))
        cases = [c for c in await hub.cases.visible_to(None) if c.id in world.case_ids]
        return await seeding.load_packets(hub, sender, world.recipient_id, cases, total, progress)
    finally:
        await hub.close()


def share_plan(world: World, count: int = 64) -> list[dict[str, Any]]:
    """POST /api/v1/packets: a 2 KB note from police to housing (sealed to both agencies)."""
    plan = []
    for k in range(count):
        body = {
            "case_id": world.case_ids[k % len(world.case_ids)],
            "packet_type": "note",
            "recipient_agencies": [seeding.RECIPIENT],
            "subject": "Proposed address - suitability check {n}",
            "body": "Seeded by the benchmark. ".ljust(seeding.BODY_BYTES, "x"),
            "purpose": seeding.PURPOSE,
            "lawful_basis": seeding.LAWFUL_BASIS,
            "data_categories": list(seeding.CATEGORIES),
            "necessity": {"why": "Housing must assess the proposed address against the plan."},
        }
        plan.append(
            {
                "method": "POST",
                "path": "/api/v1/packets",
                "headers": {
                    "Authorization": f"Bearer {world.send_token}",
                    "Content-Type": "application/json",
                },
                "body": json.dumps(body),
            }
        )
    return plan


def read_plan(world: World, path: str) -> dict[str, Any]:
    return {
        "method": "GET",
        "path": path,
        "headers": {"Authorization": f"Bearer {world.read_token}"},
    }


# -- the stages ------------------------------------------------------------------------------


def ceilings(report: Report, s: Settings, tmp: Path, db: str, database_url: str | None) -> None:
    plan = [{"method": "POST", "path": "/x", "headers": {"Content-Type": "application/json"},
             "body": json.dumps({"subject": "{n}", "body": "x" * seeding.BODY_BYTES})}]  # fmt: skip
    with server(["-m", "bench.ceiling", "bare"], tmp / "ceiling.log") as (port, _):
        r = load(port, plan, tmp, "--clients", "64", "--seconds", str(s.seconds),
                 "--warmup", str(s.warmup))  # fmt: skip
        report.figure("ceiling_bare_aiohttp", r["rate"], "requests/s", clients=64,
                      p50_ms=r["p50_ms"], p99_ms=r["p99_ms"])  # fmt: skip
    kinds = [("sqlite-insert", ["--path", str(tmp / "ceiling.sqlite3")])]
    if db == "postgresql" and database_url:
        kinds.append(("postgresql-insert", ["--database-url", database_url]))
    for kind, extra in kinds:
        with server(["-m", "bench.ceiling", kind, *extra], tmp / "ceiling.log") as (port, _):
            r = load(port, plan, tmp, "--clients", "64", "--seconds", str(s.seconds),
                     "--warmup", str(s.warmup))  # fmt: skip
            name = "ceiling_" + kind.replace("-", "_") + "_group_commit"
            if kind == "postgresql-insert":
                name = "ceiling_postgresql_insert"
            report.figure(name, r["rate"], "requests/s", clients=64,
                          p50_ms=r["p50_ms"], p99_ms=r["p99_ms"])  # fmt: skip


def shares(report: Report, s: Settings, world: World, tmp: Path, db: str) -> None:
    with server(
        ["-m", "hub", "serve", "--workers", str(world.workers)], tmp / "hub.log", hub_env(world)
    ) as (port, _):
        plan = share_plan(world)
        # Warm the hub (key caches, policy, prepared statements) before the first figure.
        load(port, plan, tmp, "--clients", "16", "--seconds", str(s.warmup), "--warmup", "0")
        for clients in s.clients:
            progress(f"shares: {clients} client(s)")
            r = load(port, plan, tmp, "--clients", str(clients), "--seconds", str(s.seconds),
                     "--warmup", str(s.warmup))  # fmt: skip
            report.figure("shares_per_second", r["rate"], "shares/s", db=db, clients=clients, workers=world.workers,
                          errors=r["requests"] - r["ok"])  # fmt: skip
            report.figure("share_latency_p50", r["p50_ms"], "ms", db=db, clients=clients)
            report.figure("share_latency_p99", r["p99_ms"], "ms", db=db, clients=clients)
        progress(f"shares: offered {s.open_rate:.0f}/s")
        r = load(port, plan, tmp, "--rate", str(s.open_rate), "--seconds", str(s.seconds))
        report.figure("share_latency_p99_at_fixed_rate", r["p99_ms"], "ms", db=db,
                      offered_per_second=s.open_rate, achieved_per_second=r["rate"],
                      p50_ms=r["p50_ms"], errors=r["requests"] - r["ok"])  # fmt: skip


def reads(
    report: Report, s: Settings, world: World, tmp: Path, db: str, stored: int, ids: list[str]
) -> None:
    with server(
        ["-m", "hub", "serve", "--workers", str(world.workers)], tmp / "hub.log", hub_env(world)
    ) as (port, pid):
        listing = [read_plan(world, "/api/v1/inbox")]
        # Older pages too (the packets span the past year): scrolling back by time, one index.
        now = datetime.now(UTC)
        for days in (7, 30, 90, 180, 270, 360):
            before = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
            listing.append(read_plan(world, f"/api/v1/inbox?before={before}"))
        load(port, listing, tmp, "--clients", "4", "--seconds", str(s.warmup), "--warmup", "0")
        for clients in (1, 16):
            progress(f"inbox listing at {stored:,} packets: {clients} client(s)")
            r = load(port, listing, tmp, "--clients", str(clients), "--seconds", str(s.seconds),
                     "--warmup", str(s.warmup))  # fmt: skip
            for q in ("p50", "p99"):
                report.figure(f"inbox_listing_{q}", r[f"{q}_ms"], "ms", db=db, packets=stored,
                              page=100, clients=clients, per_second=r["rate"])  # fmt: skip
        opening = [read_plan(world, f"/api/v1/packets/{i}") for i in ids]
        for clients in (1, 16):
            progress(f"opening packets at {stored:,} packets: {clients} client(s)")
            r = load(port, opening, tmp, "--clients", str(clients), "--seconds", str(s.seconds),
                     "--warmup", str(s.warmup))  # fmt: skip
            for q in ("p50", "p99"):
                report.figure(f"packet_open_{q}", r[f"{q}_ms"], "ms", db=db, packets=stored,
                              clients=clients, per_second=r["rate"])  # fmt: skip
        for k, worker in enumerate(worker_pids(pid)):
            rss, peak = rss_mb(worker)
            report.figure("gateway_rss", rss, "MB", db=db, packets=stored, worker=k,
                          peak_mb=round(peak, 1))  # fmt: skip
        # Shares again, now into indexes of ``stored`` packets (the shares stage runs on a new
        # database): what a hub that has been in use for years does. Last, so the figures above
        # are of the packets loaded.
        progress(f"shares at {stored:,} packets: 64 clients")
        r = load(port, share_plan(world), tmp, "--clients", "64", "--seconds", str(s.seconds),
                 "--warmup", str(s.warmup))  # fmt: skip
        report.figure("shares_per_second_stored", r["rate"], "shares/s", db=db, packets=stored,
                      clients=64, p99_ms=r["p99_ms"], errors=r["requests"] - r["ok"])  # fmt: skip


def ratios(report: Report, db: str) -> None:
    ceiling_name = "ceiling_sqlite_insert_group_commit"
    if db == "postgresql" and report.value("ceiling_postgresql_insert") is not None:
        ceiling_name = "ceiling_postgresql_insert"
    ceiling = report.value(ceiling_name)
    bare = report.value("ceiling_bare_aiohttp")
    top = report.value("shares_per_second", clients=64)
    if ceiling and top is not None:
        report.figure("shares_per_second_vs_durable_insert", 100 * top / ceiling, "%",
                      db=db, clients=64, ceiling=ceiling_name)  # fmt: skip
    if bare and top is not None:
        report.figure("shares_per_second_vs_bare_handler", 100 * top / bare, "%",
                      db=db, clients=64)  # fmt: skip
    for name in ("inbox_listing_p50", "packet_open_p50"):
        for row in report.rows:
            if row["name"] == name and row["params"].get("clients") == 16 and bare:
                report.figure(name.replace("_p50", "_rate_vs_bare_handler"),
                              100 * row["params"]["per_second"] / bare, "%", db=db,
                              clients=16)  # fmt: skip


async def fresh_postgresql(url: str) -> tuple[str, str]:
    """Create an empty database beside the one named; return (its URL, the admin URL)."""
    import asyncpg

    from hub.config import normalise_database_url

    base = normalise_database_url(url).replace("postgresql+asyncpg://", "postgresql://")
    name = f"mappa_bench_{os.getpid()}"
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    root, _, _ = base.rpartition("/")
    return f"{root}/{name}", base


async def settle_postgresql(url: str) -> None:
    """Write what the set-up left in PostgreSQL's buffers to disk before a stage measures.

    A new database is written whole into the buffers (its creation, the schema, a million packets)
    and reaches its files only at the server's next checkpoint, every five minutes or so. Where
    that checkpoint fell on a 10 s stage, its writes and its 530 files' fsyncs were charged to it:
    a p99 of 62.5 ms at a fixed 500/s against 8.8-19.5 ms in ten runs without it, and a CHECKPOINT
    fired into the stage on purpose did the same (bench/README.md, thirty-first session). A
    database in service has no such backlog; the checkpoints that the stages' own writes bring on
    still fall where they fall."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        progress("  (no CHECKPOINT: the role lacks pg_checkpoint; stages may meet the set-up's)")
    finally:
        await conn.close()


async def drop_postgresql(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return f"{os.cpu_count()} cores, {cpu}, {mem} GiB, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small load, short runs (< 1 min)")
    parser.add_argument("--database-url", help="a PostgreSQL server to create a database on")
    parser.add_argument("--packets", type=int, help="packets stored for the read figures")
    parser.add_argument("--json", type=Path, help="also write the figures here (JSON lines)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="hub server processes (serve --workers; default: one per core)")  # fmt: skip
    parser.add_argument("--skip", action="append", default=[],
                        choices=["ceilings", "shares", "reads", "ledger", "policy", "transfer",
                                 "stats", "live", "gateways"])  # fmt: skip
    args = parser.parse_args(argv)
    s = Settings.quick() if args.quick else Settings.full()
    if args.packets is not None:
        s = Settings(args.packets, s.seconds, s.warmup, s.open_rate, s.clients, args.packets,
                     s.policy_seconds)  # fmt: skip
    db = "postgresql" if args.database_url else "sqlite"
    report = Report()
    started = time.perf_counter()
    progress(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="mappa-bench-") as tmp_name:
        tmp = Path(tmp_name)
        url, admin = None, None
        if args.database_url:
            url, admin = asyncio.run(fresh_postgresql(args.database_url))
        try:
            if url:
                asyncio.run(settle_postgresql(url))  # its creation, before the ceilings measure it
            if "ceilings" not in args.skip:
                progress("ceilings of the stack")
                ceilings(report, s, tmp, db, url)
            progress("setting up the hub")
            world = asyncio.run(build_world(tmp / "hub", url, args.workers))
            if url:
                asyncio.run(settle_postgresql(url))
            if "shares" not in args.skip:
                shares(report, s, world, tmp, db)
            if "gateways" not in args.skip and url:
                progress("two gateway machines (process groups) on one PostgreSQL")
                r = gateways.two_groups(server, load, hub_env(world), share_plan(world), tmp,
                                        workers=world.workers, seconds=s.seconds,
                                        warmup=s.warmup)  # fmt: skip
                report.figure("shares_per_second_two_gateways", r["rate"], "shares/s", db=db,
                              clients=64, groups=2, processes_each=r["processes_each"],
                              p50_ms=r["p50_ms"], p99_ms=r["p99_ms"],
                              errors=r["errors"])  # fmt: skip
            stored, ids = 0, []
            # The hub's own database, for the stages that measure it in a process of their own.
            hub_url = url or f"sqlite:///{world.data_dir / 'hub.sqlite3'}"
            if "reads" not in args.skip or "ledger" not in args.skip:
                progress(f"loading {s.packets:,} packets")
                seconds, ids = asyncio.run(bulk_load(world, s.packets))
                report.figure("setup_bulk_load", s.packets / seconds, "packets/s", db=db,
                              packets=s.packets, seconds=round(seconds, 1))  # fmt: skip
                if url:
                    asyncio.run(settle_postgresql(url))
                stored = s.packets
            if "reads" not in args.skip:
                reads(report, s, world, tmp, db, stored, ids)
                progress("web inbox: a page as staff see it, through the services")
                pages = "100" if args.quick else "400"
                for row in sub_bench("bench.web_inbox", "--database-url", hub_url, "--data-dir",
                                     str(world.data_dir), "--pages", pages):  # fmt: skip
                    report.figure(row["name"], row["value"], row["unit"], **row["params"])
            if "ledger" not in args.skip:
                progress("ledger")
                for row in sub_bench("bench.ledger", "--entries", str(s.ledger_entries),
                                     "--database-url", hub_url, "--data-dir",
                                     str(world.data_dir)):  # fmt: skip
                    report.figure(row["name"], row["value"], row["unit"],
                                  **{"db": db, **row["params"]})  # fmt: skip
            if "stats" not in args.skip and stored:
                progress("statistics: a year's report for one area")
                cases = "1000" if args.quick else "4200"
                for row in sub_bench("bench.stats", "--database-url", hub_url, "--data-dir",
                                     str(world.data_dir), "--cases", cases):  # fmt: skip
                    report.figure(row["name"], row["value"], row["unit"], **row["params"])
            if "policy" not in args.skip:
                progress("policy")
                for row in sub_bench("bench.policy", "--seconds", str(s.policy_seconds)):
                    report.figure(row["name"], row["value"], row["unit"], **row["params"])
            if "transfer" not in args.skip:
                progress("transfer bundles")
                mb = "20" if args.quick else "200"
                for row in sub_bench("bench.transfer", "--mb", mb):
                    report.figure(row["name"], row["value"], row["unit"], **row["params"])
            if "live" not in args.skip:
                progress("live inbox: a share's acknowledgement to the event on another gateway")
                extra = ["--database-url", args.database_url] if args.database_url else []
                sends = "100" if args.quick else "300"
                for row in sub_bench("bench.live_inbox", *extra, "--sends", sends):
                    report.figure(row["name"], row["value"], row["unit"], **row["params"])
            ratios(report, db)
        finally:
            if url and admin:
                asyncio.run(drop_postgresql(admin, url))
    elapsed = time.perf_counter() - started
    print("\n" + report.table())
    print(f"\n{machine()}; {db}; whole run {elapsed:.0f} s")
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in report.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
