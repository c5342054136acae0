"""The verifiable ledger at scale, on a temporary SQLite file (or --database-url, an empty database).

Prints one JSON line per figure, then a table. Not a test: nothing here asserts a time.

    python -m bench.ledger [--entries 1000000] [--writers 16] [--appends 5000] [--database-url URL]

1. Durable appends under concurrent writers, each in its own write transaction (as the services do).
2. Set-up: the log is bulk-loaded up to --entries (rows chained in Python, inserted 10,000 at a time
   through SQLAlchemy Core); the load time is printed, the rest is measured at that size.
3. Signing a checkpoint (the first call also reads every leaf into the service's tree), then full
   verification (chain, Merkle tree and stored checkpoints), and the in-memory tree on its own.
4. Inclusion and consistency proofs from the in-memory tree: making them and checking them.
5. A receipt for a packet sent through the packet service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from hub.config import PasswordHashing, load_config
from hub.demo import seed
from hub.ledger.entries import Action, Event, Record, chain
from hub.ledger.merkle import MerkleTree, verify_consistency, verify_inclusion
from hub.model.packets import Draft
from hub.services import ledger
from hub.services.actor import Actor
from hub.store import checkpoints as checkpoint_store
from hub.store import ledger as ledger_store
from hub.store.schema import ledger_entries, ledger_head
from hub.wiring import Hub, initialise

BATCH = 10_000
PROOFS = 10_000
CONSISTENCY_PROOFS = 1_000

ROWS: list[tuple[str, float, str, dict[str, object]]] = []


def _figure(name: str, value: float, unit: str, **params: object) -> None:
    value = round(value, 2)
    print(json.dumps({"name": name, "value": value, "unit": unit, "params": params}), flush=True)
    ROWS.append((name, value, unit, params))


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(int(len(sorted_values) * fraction) - 1, 0)]


async def _timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = await call()
    return result, time.perf_counter() - t0


async def _actor(hub: Hub, username: str) -> Actor:
    user = next(u for u in await hub.directory.users() if u.username == username)
    return Actor(user, await hub.directory.agency(user.agency_id))


def _consultation(actor: Actor, case_id: int, packet_id: str, when: datetime) -> Record:
    return Record(
        action=Action.CONSULTATION,
        event=Event.PACKET_OPENED,
        recorded_at=when,
        actor_user_id=actor.user.id,
        actor_agency_id=actor.agency.id,
        case_id=case_id,
        packet_id=packet_id,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
    )


# -- 1. appends under concurrent writers ---------------------------------------------------------


async def bench_appends(hub: Hub, actor: Actor, case_id: int, appends: int, writers: int) -> None:
    packet_id = str(uuid.uuid4())
    latencies: list[float] = []
    queue = iter(range(appends))

    async def writer() -> None:
        for _ in queue:
            t0 = time.perf_counter()
            async with hub.db.write() as conn:
                await ledger.append(conn, _consultation(actor, case_id, packet_id, hub.clock.now()))
            latencies.append(time.perf_counter() - t0)
            if len(latencies) % 1000 == 0:
                _progress(f"appended {len(latencies)}/{appends}")

    t0 = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    db = "sqlite" if hub.db.is_sqlite else "postgresql"
    _figure("ledger_append_per_second", appends / elapsed, "appends/s", db=db, writers=writers)
    p50 = statistics.median(latencies) * 1000
    _figure("ledger_append_p50", p50, "ms", db=db, writers=writers)
    p99 = _percentile(latencies, 0.99) * 1000
    _figure("ledger_append_p99", p99, "ms", db=db, writers=writers)


# -- 2. bulk load (set-up) -----------------------------------------------------------------------


def _build_batch(
    start_seq: int, count: int, prev: str, base: datetime, rng: random.Random
) -> tuple[list[dict[str, Any]], list[bytes], str]:
    """``count`` chained rows after (start_seq - 1, prev): a mix of shares and reads."""
    rows: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    packet_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    for seq in range(start_seq, start_seq + count):
        when = base + timedelta(microseconds=seq)
        agency = rng.randint(1, 14)
        if seq % 4 == 0:  # one share for every three reads
            packet_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            record = Record(
                action=Action.DISCLOSURE,
                event=Event.PACKET_SENT,
                recorded_at=when,
                actor_user_id=agency,
                actor_agency_id=agency,
                case_id=rng.randint(1, 5000),
                packet_id=packet_id,
                recipients=tuple(sorted(rng.sample(range(1, 15), 2))),
                purpose="risk-management",
                lawful_basis="cja2003-s325",
                content_digest=f"{rng.getrandbits(256):064x}",
                policy_version="f" * 64,
                decision="allow",
            )
        else:
            record = Record(
                action=Action.CONSULTATION,
                event=Event.PACKET_OPENED,
                recorded_at=when,
                actor_user_id=agency,
                actor_agency_id=agency,
                case_id=rng.randint(1, 5000),
                packet_id=packet_id,
                purpose="risk-management",
                lawful_basis="cja2003-s325",
            )
        entry = chain(seq, prev, record)
        prev = entry.entry_hash
        rows.append(entry.columns())
        leaves.append(bytes.fromhex(prev))
    return rows, leaves, prev


async def _insert_batch(hub: Hub, rows: list[dict[str, Any]]) -> None:
    """One write transaction per batch; the head moves with the rows, so every commit verifies."""
    async with hub.db.write() as conn:
        await conn.execute(insert(ledger_entries), rows)
        await conn.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(seq=rows[-1]["seq"], entry_hash=rows[-1]["entry_hash"])
        )


async def bulk_load(hub: Hub, entries: int) -> list[bytes]:
    """Fill the log up to ``entries``; return every leaf hash in order (for the in-memory tree)."""
    async with hub.db.read() as conn:
        seq, prev = await ledger_store.head(conn)
        leaves = await checkpoint_store.leaf_hashes(conn, 0, seq)
    rng = random.Random(7)
    base = hub.clock.now()
    t0 = time.perf_counter()
    loaded = 0
    pending: asyncio.Task[None] | None = None
    while seq < entries:
        count = min(BATCH - seq % BATCH, entries - seq)  # later batches end on round numbers
        # Chain the next batch in a thread while the previous one is being inserted.
        rows, batch_leaves, prev = await asyncio.to_thread(
            _build_batch, seq + 1, count, prev, base, rng
        )
        if pending is not None:
            await pending
        pending = asyncio.create_task(_insert_batch(hub, rows))
        leaves.extend(batch_leaves)
        seq += count
        loaded += count
        if seq % 100_000 == 0 or seq == entries:
            rate = loaded / (time.perf_counter() - t0)
            _progress(f"loaded {seq:,}/{entries:,} entries ({rate:,.0f}/s)")
    if pending is not None:
        await pending
    elapsed = time.perf_counter() - t0
    _figure(
        "ledger_bulk_load_seconds",
        elapsed,
        "s",
        entries=loaded,
        batch=BATCH,
        rows_per_second=round(loaded / elapsed) if loaded else 0,
        note="set-up, not the append path",
    )
    return leaves


# -- 3. checkpoints and verification -------------------------------------------------------------


async def bench_checkpoints(hub: Hub, actor: Actor, case_id: int) -> None:
    cp, first = await _timed(hub.ledger.checkpoint)
    _figure("checkpoint_sign_ms", first * 1000, "ms", tree_size=cp.tree_size, call="first")
    async with hub.db.write() as conn:
        await ledger.append(conn, _consultation(actor, case_id, str(uuid.uuid4()), hub.clock.now()))
    cp, second = await _timed(hub.ledger.checkpoint)
    _figure(
        "checkpoint_sign_ms", second * 1000, "ms", tree_size=cp.tree_size, call="after 1 append"
    )


async def bench_verify(hub: Hub) -> None:
    def progress(done: int, total: int) -> None:
        if done % 100_000 == 0 or done == total:
            _progress(f"verified {done:,}/{total:,}")

    report, elapsed = await _timed(lambda: hub.ledger.verify(progress=progress))
    _figure(
        "ledger_verify_entries_per_second",
        report.entries / elapsed,
        "entries/s",
        entries=report.entries,
        checkpoints=report.checkpoints,
        seconds=round(elapsed, 2),
    )


def bench_tree(leaves: list[bytes]) -> MerkleTree:
    t0 = time.perf_counter()
    tree = MerkleTree(leaves)
    tree.root()
    _figure("merkle_root_seconds_1m", time.perf_counter() - t0, "s", leaves=len(leaves))
    return tree


# -- 4. proofs -----------------------------------------------------------------------------------


def bench_proofs(tree: MerkleTree, leaves: list[bytes]) -> None:
    rng = random.Random(11)
    size, root = tree.size, tree.root()

    indices = [rng.randrange(size) for _ in range(PROOFS)]
    t0 = time.perf_counter()
    proofs = [tree.inclusion_proof(i) for i in indices]
    made = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, proof in zip(indices, proofs, strict=True):
        verify_inclusion(leaves[i], i, size, proof, root)
    checked = time.perf_counter() - t0
    lengths = [len(p) for p in proofs]
    params = {"tree_size": size, "proofs": PROOFS}
    _figure("inclusion_proof_generate_us", made / PROOFS * 1e6, "µs", **params)
    _figure("inclusion_proof_check_us", checked / PROOFS * 1e6, "µs", **params)
    _figure(
        "inclusion_proof_hashes", statistics.mean(lengths), "hashes", max=max(lengths), **params
    )

    old_sizes = [rng.randrange(1, size) for _ in range(CONSISTENCY_PROOFS)]
    old_roots = [tree.root(m) for m in old_sizes]
    t0 = time.perf_counter()
    proofs = [tree.consistency_proof(m) for m in old_sizes]
    made = time.perf_counter() - t0
    t0 = time.perf_counter()
    for m, old_root, proof in zip(old_sizes, old_roots, proofs, strict=True):
        verify_consistency(m, size, old_root, root, proof)
    checked = time.perf_counter() - t0
    lengths = [len(p) for p in proofs]
    params = {"tree_size": size, "proofs": CONSISTENCY_PROOFS}
    _figure("consistency_proof_generate_us", made / CONSISTENCY_PROOFS * 1e6, "µs", **params)
    _figure("consistency_proof_check_us", checked / CONSISTENCY_PROOFS * 1e6, "µs", **params)
    _figure(
        "consistency_proof_hashes", statistics.mean(lengths), "hashes", max=max(lengths), **params
    )


# -- 5. receipts ---------------------------------------------------------------------------------


async def bench_receipt(hub: Hub, police: Actor) -> None:
    agencies = {a.code: a.id for a in await hub.directory.agencies()}
    case = next(c for c in await hub.cases.visible_to(police) if c.family_name == "Harlow")
    sent = await hub.packets.send(
        police,
        Draft(
            case_id=case.id,
            recipient_agency_ids=(agencies["DBY-HOUSING"],),
            subject="Benchmark packet",
            body="Proposed address for the receipt benchmark.",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=("address", "risk-summary"),
            necessity={"why": "Housing must assess the proposed address against the plan."},
        ),
    )
    receipt, first = await _timed(lambda: hub.ledger.receipt(police, sent.id))
    _figure(
        "receipt_ms",
        first * 1000,
        "ms",
        tree_size=receipt.checkpoint.tree_size,
        call="first (signs a checkpoint)",
        proof_hashes=len(receipt.proof),
    )
    again = []
    for _ in range(20):
        _, elapsed = await _timed(lambda: hub.ledger.receipt(police, sent.id))
        again.append(elapsed)
    _figure(
        "receipt_ms",
        statistics.median(again) * 1000,
        "ms",
        tree_size=receipt.checkpoint.tree_size,
        call="median of 20 more (checkpoint already signed)",
    )


# -- main ----------------------------------------------------------------------------------------


async def main(entries: int, writers: int, appends: int, database_url: str | None) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(Path(tmp), database_url, passwords=PasswordHashing(1, 1024, 1))
        await initialise(config)
        hub = await Hub.open(config)
        try:
            await seed(hub)
            police = await _actor(hub, "dby.police")
            case = next(c for c in await hub.cases.visible_to(police) if c.family_name == "Harlow")
            _progress(f"appending {appends:,} entries with {writers} writers")
            await bench_appends(hub, police, case.id, appends, writers)
            _progress(f"bulk-loading the log up to {entries:,} entries")
            leaves = await bulk_load(hub, entries)
            _progress("signing checkpoints")
            await bench_checkpoints(hub, police, case.id)
            _progress("verifying the whole log")
            await bench_verify(hub)
            _progress("building the in-memory tree")
            tree = bench_tree(leaves)
            _progress("making and checking proofs")
            bench_proofs(tree, leaves)
            del tree, leaves
            _progress("sending a packet and fetching its receipt")
            await bench_receipt(hub, police)
        finally:
            await hub.close()
    print(f"\n{'figure':34} {'value':>12}  {'unit':10} params")
    for name, value, unit, params in ROWS:
        note = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"{name:34} {value:>12,}  {unit:10} {note}")
    _progress(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.writers, args.appends, args.database_url))
