"""The machine instructions of a share, counted by callgrind (not a test; prints figures).

    python -m bench.share_instructions [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                       [--batch 16] [--batches 40] [--http] [--areas N]

A share's time moves by a fifth within minutes on a shared machine, so a change of a few percent
cannot be told from a timed run. Its instructions do not move: this runs the benchmark's share
through ``PacketService.send`` in the hub's own process (policy, sealing, the log writer's batch
and its commit; no HTTP), under valgrind's callgrind, counting only the ``--batches`` batches of
``--batch`` shares sent together after a warm-up, and prints the instructions a share takes, in
all and by library: libsodium (the sealed boxes' X25519 and the Ed25519 signature), the Python
interpreter, SQLite, the C library, OpenSSL (SHA-256) and the rest. The same build gives the same
count run after run (within 0.2 % here), so two commits are told apart by one run each.

``--http`` counts the share as the API serves it instead: ``mappa-hub serve --workers 1`` runs
under callgrind, and a client in this process (not counted) sends ``--batches`` rounds of
``--batch`` concurrent ``POST /api/v1/packets`` over keep-alive connections, as ``python -m
bench`` does: the token, the body's parse, the middlewares, aiohttp and asyncio as well. Work
the server does on a timer is counted as often as it falls in the run, which under callgrind
lasts about fifty times as long as natively: the agency list read every 5 s once cost an eighth of
this count (bench/README.md, twenty-third session), natively a few thousandths.

``--areas N`` adds N areas of ten agencies each (with their keys) to the benchmark's world of
16 agencies before counting: a national hub's directory, which the API reads on every call.

Counts are not times: libsodium's vector code does several instructions a cycle, the
interpreter fewer, and valgrind shows the program a processor without some extensions, so a
library may take another code path than it does natively. Compare counts with counts. On
PostgreSQL only the hub's process is counted, not the server. Needs valgrind (Debian's
``valgrind``); the run takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.__main__ import World, build_world, free_port, hub_env, share_plan, wait_for_port
from bench.in_process import in_a_world, sender, share_drafts

_INSIDE = "MAPPA_BENCH_UNDER_CALLGRIND"

# A library's name as callgrind_annotate shows its object file, and what to call it.
_LIBRARIES = (
    ("_sodium", "libsodium"),
    ("libpython", "Python interpreter"),
    ("libsqlite3", "SQLite"),
    ("libc.so", "C library"),
    ("libcrypto", "OpenSSL"),
    ("pydantic_core", "pydantic-core"),
    ("orjson", "orjson"),
)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"share_instructions: {name} is not installed (apt-get install valgrind)")
    return found


def _collect(on: bool, pid: int | None = None) -> None:
    """Start or stop callgrind's counting in process ``pid`` (this one: None), all its threads."""
    subprocess.run(
        [_tool("callgrind_control"), "-i", "on" if on else "off", str(pid or os.getpid())],
        check=True,
        capture_output=True,
    )


# The kinds of agency each added area has (ten, as a MAPPA area's Responsible Authorities and
# the Duty to Cooperate agencies it works with).
_AREA_AGENCIES = (
    "police",
    "probation",
    "prison",
    "childrens-social-care",
    "adult-social-care",
    "health",
    "mental-health",
    "housing",
    "youth-offending",
    "jobcentre-plus",
)


async def _world(data_dir: Path, url: str | None, areas: int) -> World:
    """The benchmark's world, with ``areas`` more areas of ten agencies each."""
    from hub.config import PasswordHashing, load_config
    from hub.model.directory import AgencyType, Jurisdiction
    from hub.wiring import Hub

    world = await build_world(data_dir, url)
    if areas:
        hub = await Hub.open(load_config(data_dir, url, passwords=PasswordHashing(1, 1024, 1)))
        try:
            for n in range(areas):
                area = f"NAT{n:03d}"
                await hub.directory.add_area(area, f"Area {n}", Jurisdiction.ENGLAND_AND_WALES)
                for kind in _AREA_AGENCIES:
                    await hub.directory.add_agency(
                        f"{area}-{kind.upper()}"[:32], f"{kind} of area {n}", AgencyType(kind), area
                    )
        finally:
            await hub.close()
    return world


async def _count(data_dir: Path, url: str | None, batch: int, batches: int, areas: int) -> None:
    from hub.config import PasswordHashing, load_config
    from hub.wiring import Hub

    world = await _world(data_dir, url, areas)
    hub = await Hub.open(load_config(data_dir, url, passwords=PasswordHashing(1, 1024, 1)))
    try:
        actor = await sender(hub)
        drafts = share_drafts(world, batch)

        async def one_batch() -> None:
            # Sent together: the log writer takes them in one batch, as under load.
            await asyncio.gather(*(hub.packets.send(actor, d) for d in drafts))

        for _ in range(5):  # warm: keys, policy, statements
            await one_batch()
        _collect(True)
        for _ in range(batches):
            await one_batch()
        _collect(False)
    finally:
        await hub.close()


async def _send_all(port: int, plan: list[dict[str, Any]], rounds: int) -> None:
    """``rounds`` rounds of the plan's requests sent at once, each answered 201 or raising."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=len(plan))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as http:

        async def one(request: dict[str, Any]) -> None:
            async with http.post(
                request["path"], data=request["body"], headers=request["headers"]
            ) as answer:
                if answer.status != 201:
                    raise SystemExit(f"share_instructions: {answer.status} {await answer.text()}")

        for _ in range(rounds):
            await asyncio.gather(*(one(r) for r in plan))


def _serve_counted(port: int, env: dict[str, str], out_file: Path) -> subprocess.Popen[bytes]:
    """``mappa-hub serve --workers 1`` under callgrind, counting nothing until told."""
    return subprocess.Popen(
        [
            _tool("valgrind"),
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_file}",
            sys.executable,
            "-m",
            "hub",
            "serve",
            "--workers",
            "1",
            "--port",
            str(port),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _count_http(
    data_dir: Path, url: str | None, batch: int, batches: int, areas: int, out_file: Path
) -> None:
    world = await _world(data_dir, url, areas)
    plan = share_plan(world, batch)
    port = free_port()
    serve = _serve_counted(port, hub_env(world), out_file)
    try:
        wait_for_port(port, serve, timeout=300)
        await _send_all(port, plan, 5)  # warm: keys, policy, statements, connections
        _collect(True, serve.pid)
        await _send_all(port, plan, batches)
        _collect(False, serve.pid)
    finally:
        serve.terminate()  # callgrind writes its counts as the server exits
        _, errors = serve.communicate(timeout=120)
    if serve.returncode != 0:
        print(errors.decode(errors="replace")[-4000:], file=sys.stderr)
        raise SystemExit(f"share_instructions: the server exited with {serve.returncode}")


def _by_library(out_file: Path) -> tuple[int, dict[str, int]]:
    """The counted instructions in all, and by library, from callgrind's output."""
    text = subprocess.run(
        [_tool("callgrind_annotate"), "--threshold=100", str(out_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    total = 0
    libraries: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        found = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if found is None:
            continue
        count, where = int(found.group(1).replace(",", "")), found.group(2)
        if "PROGRAM TOTALS" in where:
            total = count
            continue
        # Inlined code is named by its header, its object file in brackets, or by its source
        # tree alone (libsodium's and CPython's build paths).
        if "libsodium" in where:
            name = "libsodium"
        elif "Python-3." in where:
            name = "Python interpreter"
        else:
            name = next((n for key, n in _LIBRARIES if key in where), "other")
        libraries[name] += count
    libraries["other"] += total - sum(libraries.values())
    return total, dict(libraries)


def _report(out_file: Path, batch: int, batches: int, database: str) -> None:
    total, libraries = _by_library(out_file)
    shares = batch * batches
    print(
        f"{database}, batches of {batch}, {shares} shares counted: "
        f"{total / shares:,.0f} instructions a share"
    )
    for name, count in sorted(libraries.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20} {count / shares:>12,.0f}  {100 * count / total:5.1f} %")


def _keep(out_file: Path, keep: Path | None) -> None:
    if keep is not None:
        shutil.copyfile(out_file, keep)
        print(f"share_instructions: callgrind's file kept in {keep}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL (a database is made beside it)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--http", action="store_true", help="count the API's server instead")
    parser.add_argument("--areas", type=int, default=0, help="add N areas of ten agencies")
    parser.add_argument(
        "--keep", type=Path, help="keep callgrind's file here (callgrind_annotate --inclusive=yes)"
    )
    args = parser.parse_args()
    if os.environ.get(_INSIDE):
        asyncio.run(
            in_a_world(
                args.database_url,
                lambda d, url: _count(d, url, args.batch, args.batches, args.areas),
            )
        )
        return 0
    valgrind = _tool("valgrind")
    database = "PostgreSQL (the hub's process)" if args.database_url else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "callgrind.out"
        if args.http:
            print("share_instructions: serving under callgrind (a few minutes)", file=sys.stderr)
            asyncio.run(
                in_a_world(
                    args.database_url,
                    lambda d, url: _count_http(
                        d, url, args.batch, args.batches, args.areas, out_file
                    ),
                )
            )
            _report(out_file, args.batch, args.batches, f"{database}, through the API")
            _keep(out_file, args.keep)
            return 0
        print("share_instructions: sending under callgrind (about a minute)", file=sys.stderr)
        run = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out_file}",
                sys.executable,
                "-m",
                "bench.share_instructions",
                *sys.argv[1:],
            ],
            env={**os.environ, _INSIDE: "1"},
            stderr=subprocess.PIPE,
            text=True,
        )
        if run.returncode != 0:
            print(run.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"share_instructions: the counted run failed ({run.returncode})")
        _report(out_file, args.batch, args.batches, database)
        _keep(out_file, args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
