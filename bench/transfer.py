"""Case-transfer bundles: build and verify throughput (MB/s of encrypted attachments) and the peak
memory of each, for a case with ``--mb`` MB of attachments (default 200).

    python -m bench.transfer [--mb 200]

Seeds the demo on a temporary SQLite hub and sends the case ``--mb`` MB in 10 MB attachments
(the hub's largest). Then, each in a fresh process so that its peak resident memory (ru_maxrss)
is its own: ``build`` writes the signed bag part by part and tars it; ``verify`` unpacks the tar
under its limits, validates the bag with ``bagit`` (every SHA-256), checks the hub signature,
every packet header and every inclusion proof, and imports it (between two areas of the hub: the
receivers' wrapped keys). Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hub.config import Config, PasswordHashing, load_config

ATTACHMENT = 10 * 1024 * 1024
_FAST = PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)


def _config(data_dir: Path) -> Config:
    return load_config(data_dir, f"sqlite:///{data_dir / 'hub.sqlite3'}", passwords=_FAST)


async def _seed(data_dir: Path, megabytes: int) -> str:
    from hub.demo import seed
    from hub.model.packets import AttachmentIn, Draft
    from hub.services.actor import Actor
    from hub.wiring import Hub, initialise

    config = _config(data_dir)
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await seed(hub)
        case = next(c for c in await hub.cases.visible_to(None) if c.family_name == "Harlow")
        agencies = {a.code: a for a in await hub.directory.agencies()}
        user = next(u for u in await hub.directory.users() if u.username == "dby.police")
        actor = Actor(user, agencies["DBY-POLICE"])
        for i in range(max(1, megabytes * 1024 * 1024 // ATTACHMENT)):
            await hub.packets.send(actor, Draft(
                case_id=case.id,
                recipient_agency_ids=(agencies["DBY-PROBATION"].id,),
                subject=f"Case file part {i + 1}", body="Scanned case file.",
                purpose="risk-management", lawful_basis="cja2003-s325",
                data_categories=("risk-summary",),
                necessity={"why": "Probation manages the case and needs the full case file."},
                attachments=(AttachmentIn(f"file-{i}.pdf", "application/pdf",
                                          os.urandom(ATTACHMENT)),),
            ))  # fmt: skip
        return case.reference
    finally:
        await hub.close()


async def _phase(phase: str, data_dir: Path, reference: str, bundle: Path) -> dict[str, float]:
    from adapters.transfer.bag import build_bundle
    from adapters.transfer.importer import import_bundle
    from hub.wiring import Hub

    hub = await Hub.open(_config(data_dir))
    try:
        started = time.perf_counter()
        if phase == "build":
            built = await build_bundle(hub, reference, "NTS", bundle)
            size = built.payload_bytes
        else:
            await import_bundle(hub, bundle)
            size = _size(bundle)
        seconds = time.perf_counter() - started
    finally:
        await hub.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "bytes": size, "peak_mb": peak}


def _size(path: Path) -> int:
    return path.stat().st_size


def _figure(name: str, value: float, unit: str, **params: object) -> None:
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit, "params": params}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transfer")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--phase", choices=["build", "verify"])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--case")
    parser.add_argument("--bundle", type=Path)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(asyncio.run(_phase(args.phase, args.data_dir, args.case, args.bundle))))
        return 0
    with tempfile.TemporaryDirectory(prefix="mappa-bench-transfer-") as tmp:
        data_dir, bundle = Path(tmp) / "hub", Path(tmp) / "bundle.tar"
        print(f"seeding a case with {args.mb} MB of attachments", file=sys.stderr)
        reference = asyncio.run(_seed(data_dir, args.mb))
        for phase in ("build", "verify"):
            out = subprocess.run(
                [sys.executable, "-m", "bench.transfer", "--phase", phase, "--data-dir",
                 str(data_dir), "--case", reference, "--bundle", str(bundle)],
                stdout=subprocess.PIPE, text=True, check=True,
            )  # fmt: skip
            got = json.loads(out.stdout.strip().splitlines()[-1])
            mb = got["bytes"] / (1024 * 1024)
            _figure(f"transfer_{phase}", mb / got["seconds"], "MB/s", mb=round(mb, 1),
                    seconds=round(got["seconds"], 2))  # fmt: skip
            _figure(f"transfer_{phase}_peak_rss", got["peak_mb"], "MB", mb=round(mb, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
