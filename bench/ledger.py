"""The verifiable ledger at scale, on a temporary SQLite file or an existing database.

Prints one JSON line per figure on stdout (progress on stderr), then a table. Not a test: nothing
here asserts a time.

    python -m bench.ledger [--entries 1000000] [--writers 16] [--appends 5000] [--quick]
                           [--database-url URL] [--data-dir DIR]

1. Durable appends under concurrent writers, each in its own write transaction, through the normal
   write path (``Database.write`` and ``services.ledger.append``).
2. Set-up, not a figure of the hub: the log is bulk-loaded up to --entries (rows chained here and
   inserted through the raw driver in large transactions). A database that already holds that many
   entries (one seeded by ``python -m bench``, say) is measured as it is.
3. Signing a checkpoint (the first call also reads every leaf into the service's tree), then full
   verification (chain, columns, Merkle tree, stored checkpoints), and the in-memory tree alone.
4. Inclusion and consistency proofs from the in-memory tree: making them and checking them.
5. A receipt for a packet sent through the packet service: the whole request, and what it costs
   beyond its database reads (the proof and the serialised receipt), and checking it offline.

--database-url takes an existing database; its key-encryption key and pinned hub key are looked for
in --data-dir, else $MAPPA_HUB_DATA_DIR, else beside a SQLite file. Without either, the database
must be empty and a temporary data directory is used.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from hub.config import Config, PasswordHashing, load_config
from hub.demo import seed
from hub.ledger.checkpoint import Checkpoint, Receipt
from hub.ledger.entries import GENESIS_HASH, Action, Event, Record, chain
from hub.ledger.merkle import MerkleTree, verify_consistency, verify_inclusion
from hub.model.packets import Draft
from hub.services import ledger
from hub.services.actor import Actor
from hub.store import checkpoints as checkpoint_store
from hub.store import ledger as ledger_store
from hub.store.schema import ledger_head, users
from hub.wiring import Hub, initialise

PROOFS = 10_000
CONSISTENCY_PROOFS = 1_000
RECEIPT_REPEATS = 1_000
LOAD_BATCH = 100_000

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


@contextmanager
def _stopwatch() -> Iterator[Callable[[], float]]:
    t0 = time.perf_counter()
    yield lambda: time.perf_counter() - t0


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
                _progress(f"appended {len(latencies):,}/{appends:,}")

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

# A v4 entry as canonical_json writes it (keys sorted, no spaces), for the two shapes loaded:
# checked against hub.ledger.entries.chain before anything is written.
_ENTRY = (
    '{"action":"%s","actor_agency":%d,"actor_token":null,"actor_user":%d,"at":"%sZ","case":%d,'
    '"channel":null,"content_digest":%s,"decision":%s,"event":"%s","lawful_basis":"cja2003-s325",'
    '"packet":"%s","policy_version":%s,"prev":"%s","purpose":"risk-management","recipients":[%s],'
    '"seq":%d,"to":null,"v":4}'
)
_POLICY = "f" * 64


def _generate(
    start: int, count: int, prev: str, base: datetime, rng: random.Random, sqlite: bool
) -> tuple[list[tuple[Any, ...]], str]:
    """``count`` chained rows after (start - 1, prev): one share for every three reads."""
    rows: list[tuple[Any, ...]] = []
    append, sha256, draw = rows.append, hashlib.sha256, rng.random
    naive = base.astimezone(UTC).replace(tzinfo=None)
    packet = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    for seq in range(start, start + count):
        when = naive + timedelta(microseconds=seq)
        at = when.isoformat(timespec="microseconds")
        agency = int(draw() * 14) + 1
        case = int(draw() * 5000) + 1
        if seq % 4 == 0:
            packet = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            first = int(draw() * 13) + 1
            recipients = f"{first},{first + 1}"
            digest: str | None = f"{rng.getrandbits(256):064x}"
            action, event, decision, policy = "disclosure", "packet-sent", "permit", _POLICY
            values = (action, agency, agency, at, case, f'"{digest}"', '"permit"', event, packet,
                      f'"{_POLICY}"', prev, recipients, seq)  # fmt: skip
        else:
            recipients, digest, decision, policy = "", None, None, None
            action, event = "consultation", "packet-opened"
            values = (action, agency, agency, at, case, "null", "null", event, packet, "null",
                      prev, recipients, seq)  # fmt: skip
        data = (_ENTRY % values).encode()
        entry_hash = sha256(b"\x00" + data).hexdigest()
        recorded: Any = at.replace("T", " ") if sqlite else when.replace(tzinfo=UTC)
        append(
            (seq, recorded, action, event, agency, agency, case, packet, recipients,
             "risk-management", "cja2003-s325", digest, policy, decision, None, data, prev,
             entry_hash)
        )  # fmt: skip
        prev = entry_hash
    return rows, prev


def _check_generator(base: datetime) -> None:
    """The loaded entries must be the hub's own encoding, or verification would rightly fail."""
    rows, _ = _generate(3, 2, GENESIS_HASH, base, random.Random(1), sqlite=False)
    for row in rows:
        record = Record(
            action=Action(row[2]), event=Event(row[3]), recorded_at=row[1],
            actor_user_id=row[4], actor_agency_id=row[5], purpose=row[9], lawful_basis=row[10],
            case_id=row[6], packet_id=row[7],
            recipients=tuple(int(r) for r in row[8].split(",") if r),
            content_digest=row[11], policy_version=row[12], decision=row[13],
        )  # fmt: skip
        if chain(row[0], row[16], record).entry_bytes != row[15]:
            raise SystemExit("bench.ledger: the bulk loader no longer writes the hub's entries")


_COLUMNS = (
    "seq", "recorded_at", "action", "event", "actor_user_id", "actor_agency_id", "case_id",
    "packet_id", "recipients", "purpose", "lawful_basis", "content_digest", "policy_version",
    "decision", "actor_token_id", "entry", "prev_hash", "entry_hash",
)  # fmt: skip
_SQLITE_INSERT = (
    "INSERT INTO ledger_entries (seq, recorded_at, action, event, actor_user_id, actor_agency_id,"
    " case_id, packet_id, recipients, purpose, lawful_basis, content_digest, policy_version,"
    " decision, actor_token_id, entry, prev_hash, entry_hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _sqlite_loader(path: str) -> sqlite3.Connection:
    """The stdlib driver, unsynchronised and with a large page cache: set-up, not durable writes."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: the packet index takes random inserts
    return conn


def _sqlite_insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_SQLITE_INSERT, rows)
    conn.execute(
        "UPDATE ledger_head SET seq = ?, entry_hash = ? WHERE id = 1", (rows[-1][0], rows[-1][-1])
    )
    conn.execute("COMMIT")


async def _postgres_insert(hub: Hub, rows: list[tuple[Any, ...]]) -> None:
    async with hub.db.write() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.copy_records_to_table("ledger_entries", records=rows, columns=_COLUMNS)
        await conn.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(seq=rows[-1][0], entry_hash=rows[-1][-1])
        )


async def bulk_load(hub: Hub, entries: int) -> int:
    """Fill the log up to ``entries``; return how many rows were loaded."""
    async with hub.db.read() as conn:
        seq, prev = await ledger_store.head(conn)
    if seq >= entries:
        _progress(f"the log already holds {seq:,} entries: nothing to load")
        return 0
    rng = random.Random(7)
    base = hub.clock.now() - timedelta(days=30)
    _check_generator(base)
    sqlite = hub.db.is_sqlite
    loader = _sqlite_loader(hub.db.url.split(":///", 1)[1]) if sqlite else None
    loaded = 0
    pending: asyncio.Future[None] | None = None
    try:
        with _stopwatch() as elapsed:
            while seq < entries:
                count = min(LOAD_BATCH, entries - seq)
                rows, prev = _generate(seq + 1, count, prev, base, rng, sqlite)
                if pending is not None:
                    await pending
                # Chain the next batch while this one is written (the driver releases the GIL).
                if loader is not None:
                    pending = asyncio.ensure_future(asyncio.to_thread(_sqlite_insert, loader, rows))
                else:
                    pending = asyncio.ensure_future(_postgres_insert(hub, rows))
                seq += count
                loaded += count
                _progress(f"loaded {seq:,}/{entries:,} entries ({loaded / elapsed():,.0f}/s)")
            if pending is not None:
                await pending
            seconds = elapsed()
    finally:
        if loader is not None:
            loader.close()
    _figure(
        "ledger_bulk_load_seconds", seconds, "s", entries=loaded, batch=LOAD_BATCH,
        rows_per_second=round(loaded / seconds), note="set-up, not the append path",
    )  # fmt: skip
    return loaded


# -- 3. checkpoints and verification -------------------------------------------------------------


async def bench_checkpoints(hub: Hub, actor: Actor, case_id: int) -> Checkpoint:
    cp, first = await _timed(hub.ledger.checkpoint)
    _figure("checkpoint_sign_ms", first * 1000, "ms", tree_size=cp.tree_size, call="first")
    async with hub.db.write() as conn:
        await ledger.append(conn, _consultation(actor, case_id, str(uuid.uuid4()), hub.clock.now()))
    latest, second = await _timed(hub.ledger.checkpoint)
    _figure(
        "checkpoint_sign_ms", second * 1000, "ms", tree_size=latest.tree_size,
        call="after 1 append",
    )  # fmt: skip
    return cp


async def bench_verify(hub: Hub, held: Checkpoint) -> None:
    def progress(done: int, total: int) -> None:
        if done % 100_000 < 20_000 or done == total:
            _progress(f"verified {done:,}/{total:,}")

    report, elapsed = await _timed(lambda: hub.ledger.verify([held], progress=progress))
    params = {
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "exported_checkpoints": report.trusted_checkpoints,
        "workers": ledger.workers_for(report.entries),
    }
    _figure("ledger_verify_seconds", elapsed, "s", **params)
    _figure("ledger_verify_entries_per_second", report.entries / elapsed, "entries/s", **params)


async def _leaves(hub: Hub, size: int) -> bytes:
    async with hub.db.read() as conn:
        return await checkpoint_store.leaf_hashes(conn, 0, size)


def bench_tree(leaves: bytes) -> MerkleTree:
    with _stopwatch() as elapsed:
        tree = MerkleTree.from_packed(leaves)
        tree.root()
        seconds = elapsed()
    _figure("merkle_root_seconds", seconds, "s", leaves=tree.size)
    return tree


# -- 4. proofs -----------------------------------------------------------------------------------


def bench_proofs(tree: MerkleTree, leaves: bytes) -> None:
    rng = random.Random(11)
    size, root = tree.size, tree.root()

    indices = [rng.randrange(size) for _ in range(PROOFS)]
    with _stopwatch() as made:
        proofs = [tree.inclusion_proof(i) for i in indices]
        made_s = made()
    with _stopwatch() as checked:
        for i, proof in zip(indices, proofs, strict=True):
            verify_inclusion(leaves[32 * i : 32 * i + 32], i, size, proof, root)
        checked_s = checked()
    lengths = [len(p) for p in proofs]
    params = {"tree_size": size, "proofs": PROOFS}
    _figure("inclusion_proof_generate_us", made_s / PROOFS * 1e6, "µs", **params)
    _figure("inclusion_proof_check_us", checked_s / PROOFS * 1e6, "µs", **params)
    _figure(
        "inclusion_proof_hashes", statistics.mean(lengths), "hashes", max=max(lengths), **params
    )

    old_sizes = [rng.randrange(1, size) for _ in range(CONSISTENCY_PROOFS)]
    old_roots = [tree.root(m) for m in old_sizes]
    with _stopwatch() as made:
        proofs = [tree.consistency_proof(m) for m in old_sizes]
        made_s = made()
    with _stopwatch() as checked:
        for m, old_root, proof in zip(old_sizes, old_roots, proofs, strict=True):
            verify_consistency(m, size, old_root, root, proof)
        checked_s = checked()
    lengths = [len(p) for p in proofs]
    params = {"tree_size": size, "proofs": CONSISTENCY_PROOFS}
    _figure("consistency_proof_generate_us", made_s / CONSISTENCY_PROOFS * 1e6, "µs", **params)
    _figure("consistency_proof_check_us", checked_s / CONSISTENCY_PROOFS * 1e6, "µs", **params)
    _figure(
        "consistency_proof_hashes", statistics.mean(lengths), "hashes", max=max(lengths), **params
    )


# -- 5. receipts ---------------------------------------------------------------------------------


async def bench_receipt(hub: Hub, police: Actor, tree: MerkleTree, held: Checkpoint) -> None:
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
    cp = receipt.checkpoint
    _figure(
        "receipt_ms", first * 1000, "ms", tree_size=cp.tree_size,
        call="first (signs a checkpoint)", proof_hashes=len(receipt.proof),
    )  # fmt: skip
    again = []
    for _ in range(20):
        _, elapsed = await _timed(lambda: hub.ledger.receipt(police, sent.id))
        again.append(elapsed)
    _figure(
        "receipt_ms", statistics.median(again) * 1000, "ms", tree_size=cp.tree_size,
        call="median of 20 more (checkpoint already signed)",
    )  # fmt: skip

    # What a request costs beyond its database reads: the proof from the tree the service keeps
    # (the same class, over the same leaves) and the receipt serialised; then the recipient's
    # offline check (signature and inclusion), as `mappa-hub ledger check-receipt` does it.
    tree.extend(await _leaves_after(hub, tree.size, cp.tree_size))
    key = cp.public_key
    with _stopwatch() as made:
        for _ in range(RECEIPT_REPEATS):
            proof = tree.inclusion_proof(receipt.seq - 1, cp.tree_size)
            data = Receipt(receipt.seq, receipt.entry, cp, tuple(proof)).to_bytes()
        made_s = made()
    if data != receipt.to_bytes():
        raise SystemExit("bench.ledger: the receipt built here differs from the service's")
    with _stopwatch() as checked:
        for _ in range(RECEIPT_REPEATS):
            Receipt.from_bytes(data).verify(trusted_key=key)
        checked_s = checked()
    params = {"tree_size": cp.tree_size, "proof_hashes": len(receipt.proof)}
    _figure("receipt_build_us", made_s / RECEIPT_REPEATS * 1e6, "µs", **params,
            covers="inclusion proof from the in-memory tree + serialised receipt")  # fmt: skip
    _figure("receipt_check_us", checked_s / RECEIPT_REPEATS * 1e6, "µs", **params,
            covers="parse + checkpoint signature + inclusion proof")  # fmt: skip

    # An exported checkpoint held elsewhere, brought up to date: the consistency proof to the
    # newest checkpoint, both signatures and the proof checked (what a holder does).
    with _stopwatch() as consistent:
        for _ in range(RECEIPT_REPEATS):
            proof = tree.consistency_proof(held.tree_size, cp.tree_size)
            held.verify(trusted_key=key)
            cp.verify(trusted_key=key)
            verify_consistency(held.tree_size, cp.tree_size, held.root, cp.root, proof)
        consistent_s = consistent()
    _figure(
        "checkpoint_consistency_us", consistent_s / RECEIPT_REPEATS * 1e6, "µs",
        old_size=held.tree_size, new_size=cp.tree_size, proof_hashes=len(proof),
        covers="consistency proof + two checkpoint signatures + proof check",
    )  # fmt: skip


async def _leaves_after(hub: Hub, after: int, upto: int) -> bytes:
    async with hub.db.read() as conn:
        return await checkpoint_store.leaf_hashes(conn, after, upto)


# -- set-up and main -----------------------------------------------------------------------------


def _config(database_url: str | None, data_dir: Path | None, tmp: Path) -> Config:
    """The configuration of the hub whose database is measured (see the module's docstring)."""
    fast = PasswordHashing(1, 1024, 1)
    if data_dir is None and os.environ.get("MAPPA_HUB_DATA_DIR"):
        data_dir = Path(os.environ["MAPPA_HUB_DATA_DIR"])
    if data_dir is None and database_url and database_url.startswith("sqlite"):
        beside = Path(database_url.split(":///", 1)[1]).parent
        if load_config(beside, database_url).kek_path.exists():
            data_dir = beside
    return load_config(data_dir or tmp, database_url, passwords=fast)


async def _has_users(hub: Hub) -> bool:
    async with hub.db.read() as conn:
        return bool((await conn.execute(select(func.count()).select_from(users))).scalar())


async def run(
    entries: int, writers: int, appends: int, url: str | None, data_dir: Path | None
) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mappa-bench-ledger-") as tmp:
        config = _config(url, data_dir, Path(tmp))
        await initialise(config)
        hub = await Hub.open(config)
        try:
            if not await _has_users(hub):
                _progress("seeding the demo world")
                await seed(hub)
            police = await _actor(hub, "dby.police")
            case = next(c for c in await hub.cases.visible_to(police) if c.family_name == "Harlow")
            _progress(f"appending {appends:,} entries with {writers} writers")
            await bench_appends(hub, police, case.id, appends, writers)
            _progress(f"bulk-loading the log up to {entries:,} entries")
            await bulk_load(hub, entries)
            _progress("signing checkpoints")
            held = await bench_checkpoints(hub, police, case.id)
            _progress("verifying the whole log")
            await bench_verify(hub, held)
            _progress("building the in-memory tree")
            leaves = await _leaves(hub, held.tree_size + 1)
            tree = bench_tree(leaves)
            _progress("making and checking proofs")
            bench_proofs(tree, leaves)
            del leaves
            _progress("sending a packet and fetching its receipt")
            await bench_receipt(hub, police, tree, held)
        finally:
            await hub.close()
    print(f"\n{'figure':36} {'value':>12}  {'unit':10} params")
    for name, value, unit, params in ROWS:
        note = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"{name:36} {value:>12,}  {unit:10} {note}")
    _progress(f"whole run: {time.perf_counter() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--entries", type=int, help="log size to measure at (1,000,000)")
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--appends", type=int, help="appends measured (5,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 entries, 500 appends")
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    entries = args.entries or (50_000 if args.quick else 1_000_000)
    appends = args.appends or (500 if args.quick else 5_000)
    asyncio.run(run(entries, args.writers, appends, args.database_url, args.data_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
