"""Appending to and verifying the log. Callers append inside their own write transaction.

Verification recomputes the chain and the Merkle tree from the rows. Rows as an honest hub writes
them are accepted in bulk (``hub.ledger.rowcheck``: matched and hashed, not decoded), on a large log
in one worker process per core, each over its own range of sequence numbers; anything the bulk
check does not accept goes to the exact check (``ChainVerifier.feed``), in sequence order, so a
broken log fails exactly as ``verify_rows`` would fail over the same rows, naming the same entry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

import hub
from hub.errors import IntegrityFailure
from hub.ledger import rowcheck
from hub.ledger.entries import (
    ChainVerifier,
    Entry,
    LedgerBroken,
    Record,
    chain,
    encode_around,
    join_around,
    leaf_hash,
    record_columns,
)
from hub.ledger.merkle import MerkleTree
from hub.services.ledger_chunks import ChunkResult
from hub.store import ledger as ledger_store
from hub.store import ledger_chain
from hub.store.database import Database
from hub.store.hot_batch import Beside

Progress = Callable[[int, int], None]

BATCH = 5_000
# Below this many entries a worker's start-up (tens of milliseconds) costs more than a second
# core saves.
PARALLEL_MIN = 50_000
# Ranges start on multiples of a power of two (this one on a large log), so that the workers'
# subtrees join with only the few nodes above them to hash; small enough that the ranges are
# within a fraction of a percent of equal.
_ALIGN = 1 << 12

# Workers run with -P (no modules from the working directory) and import this very hub package.
_HUB_ROOT = str(Path(hub.__file__).resolve().parent.parent)

# glibc's allocator, for a worker: keep freed memory rather than hand it back to the kernel. A batch
# allocates and frees a few megabytes (its rows, the joined entries); by default each batch's
# memory went back and was faulted in again: 170,000 page faults on 500,000 entries, most of a
# worker's kernel time and about a tenth of its CPU (32,000 with these settings). Other C
# libraries ignore the variable, and an operator's own setting is kept.
_WORKER_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"

# Why an entry whose row cannot be read fails (SQLite keeps whatever a column is given).
_UNREADABLE = (
    "a column holds a value that cannot be read"
    " (text that is not UTF-8, or a time that is not a time)"
)

log = logging.getLogger(__name__)

# An entry's bytes around its previous hash and its sequence number (``encode_around``).
Parts = tuple[bytes, bytes, bytes]


@dataclass(frozen=True)
class Scan:
    entries: int
    tree: MerkleTree


async def append(conn: AsyncConnection, record: Record) -> Entry:
    """Chain ``record`` after the newest entry, in the caller's transaction."""
    return (await append_many(conn, [record]))[0]


async def append_many(conn: AsyncConnection, records: Sequence[Record]) -> list[Entry]:
    """Chain ``records`` in order after the newest entry, in the caller's transaction: the head
    is locked and moved once, however many there are."""
    if not records:
        return []
    chained = await _append_chained(conn, records)
    if chained is not None:
        return chained
    seq, prev = await ledger_store.lock_head(conn)
    entries = []
    for record in records:
        seq += 1
        entry = chain(seq, prev, record)
        entries.append(entry)
        prev = entry.entry_hash
    await ledger_store.append_many(conn, [e.columns() for e in entries])
    return entries


async def _append_chained(conn: AsyncConnection, records: Sequence[Record]) -> list[Entry] | None:
    """On PostgreSQL, the entries chained by the statement that appends them
    (``hub.store.ledger_chain``), each rendered here too and its hash checked against the
    database's before the caller commits; None elsewhere."""
    if conn.dialect.driver != "asyncpg" or len(records) > ledger_chain.MAX_ENTRIES:
        return None
    parts = [encode_around(record) for record in records]
    chained = await ledger_chain.append_chained(conn, parts, [record_columns(r) for r in records])
    if chained is None:
        return None
    return checked_entries(records, parts, chained)


async def append_beside(
    conn: AsyncConnection,
    records: Sequence[Record],
    write: Callable[[Beside], Awaitable[Sequence[Sequence[Any]] | None]],
) -> list[Entry] | None:
    """On PostgreSQL, ``records`` appended in another statement: ``write`` runs it with the
    append as a part of it (``Beside``; the share batch's packets' or messages' statement, a round
    trip fewer) and returns that part's rows, or None where it ran nothing. The entries, each
    checked against the hub's own rendering before the caller commits; None elsewhere, for more
    than one statement chains, or where ``write`` ran nothing: nothing is then appended."""
    chain = chained_append(conn, records)
    if chain is None:
        return None
    parts, beside = chain
    rows = await write(beside)
    if rows is None:
        return None
    return checked_entries(records, parts, ledger_chain.chained_of(rows))


def chained_append(
    conn: AsyncConnection, records: Sequence[Record]
) -> tuple[list[Parts], Beside] | None:
    """On PostgreSQL, the append of ``records`` as a part of another statement
    (``append_beside``), with the parts each entry is rendered around; the rows that part returns
    go to ``checked_entries``, before the caller commits. None elsewhere, for no records or more
    than one statement chains."""
    if conn.dialect.driver != "asyncpg" or not records or len(records) > ledger_chain.MAX_ENTRIES:
        return None
    parts = [encode_around(record) for record in records]
    columns = [record_columns(r) for r in records]
    return parts, ledger_chain.append_beside(conn.dialect, parts, columns)


def checked_entries(
    records: Sequence[Record], parts: Sequence[Parts], chained: Sequence[ledger_chain.Chained]
) -> list[Entry]:
    """The entries the database chained, each rendered here and its hash checked against the
    database's: ``IntegrityFailure`` if any differs, or one is missing or out of its place (the
    caller's transaction then rolls back, and nothing is appended)."""
    if len(chained) != len(records):
        raise IntegrityFailure("the log did not take every entry", reason="count")
    entries: list[Entry] = []
    for record, around, (seq, prev, their_hash) in zip(records, parts, chained, strict=True):
        data = join_around(around, seq, prev)
        entry = Entry(seq, prev, data, leaf_hash(data), record)
        # The database's bytes are the hub's, or the batch is refused (the caller's transaction
        # rolls back: nothing is appended). Never seen; a bug in either rendering would show here.
        follows = not entries or (seq == entries[-1].seq + 1 and prev == entries[-1].entry_hash)
        if entry.entry_hash != their_hash or not follows:
            raise IntegrityFailure("the log chained an entry otherwise", seq=seq)
        entries.append(entry)
    return entries


async def verify(db: Database, progress: Progress | None = None) -> int:
    """Recompute the whole chain; return the number of entries. Raises ``LedgerBroken``."""
    async with db.read() as conn:
        head_seq, head_hash = await ledger_store.head(conn)
        return (await scan(db, conn, head_seq, head_hash, progress)).entries


async def scan(
    db: Database,
    conn: AsyncConnection,
    head_seq: int,
    head_hash: str,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    parallel_min: int = PARALLEL_MIN,
) -> Scan:
    """Check every row of ``conn``'s snapshot against the head and build the Merkle tree.

    Raises ``LedgerBroken`` naming the first bad entry. ``workers`` defaults to the usable cores.
    """
    report = progress or (lambda done, total: None)
    check = ChainVerifier()
    count = workers_for(head_seq, parallel_min) if workers is None else workers
    if count > 1 and head_seq >= parallel_min:
        tree = await _parallel(db.url, conn, check, head_seq, count, report)
    else:
        leaves = bytearray()
        await _in_process(conn, check, head_seq, leaves, lambda done: report(done, head_seq))
        tree = MerkleTree.from_packed(leaves)
    # Rows past the head, met as a pass over every row would meet them; there are normally none.
    while await _exact_batch(conn, check, None, bytearray()):
        pass
    entries = check.finish(head_seq, head_hash)
    report(entries, head_seq)
    return Scan(entries, tree)


def workers_for(entries: int, parallel_min: int = PARALLEL_MIN) -> int:
    """How many worker processes ``scan`` uses for a log of ``entries``: one per usable core."""
    if entries < parallel_min:
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


async def _in_process(
    conn: AsyncConnection,
    check: ChainVerifier,
    upto: int,
    leaves: bytearray,
    report: Callable[[int], None],
) -> None:
    """Check rows up to ``upto`` from where ``check`` stands: in bulk, and exactly where not."""
    while check.expected_seq <= upto:
        after = check.expected_seq - 1
        batch_end = min(after + BATCH, upto)
        try:
            rows = await ledger_store.bulk_rows(conn, after, batch_end)
        except ledger_store.UnreadableEntry:
            rows = []  # the exact check reads on and names the row
        seq, prev = rowcheck.accept(rows, after, check.prev, leaves)
        check.accepted(seq, prev)
        if seq < batch_end and not await _exact_batch(conn, check, upto, leaves):
            return  # no rows where the head says there are: ``finish`` names the first missing
        report(check.expected_seq - 1)


async def _exact_batch(
    conn: AsyncConnection, check: ChainVerifier, upto: int | None, leaves: bytearray
) -> bool:
    """Feed the next rows (up to ``upto``) to the exact check; False if there were none."""
    try:
        rows = await ledger_store.entries_after(conn, check.expected_seq - 1, BATCH)
    except ledger_store.UnreadableEntry:
        return await _one_by_one(conn, check, upto, leaves)
    for row in rows:
        if upto is not None and check.expected_seq > upto:
            break
        check.feed(row)  # raises LedgerBroken at the first bad entry
        leaves += bytes.fromhex(row["entry_hash"])
    return bool(rows)


async def _one_by_one(
    conn: AsyncConnection, check: ChainVerifier, upto: int | None, leaves: bytearray
) -> bool:
    """After rows that could not all be read: feed them one at a time (up to ``upto``), and name
    the first that cannot be read, or the gap before it, as the first bad entry."""
    fed = False
    while upto is None or check.expected_seq <= upto:
        after = check.expected_seq - 1
        try:
            rows = await ledger_store.entries_after(conn, after, 1)
        except ledger_store.UnreadableEntry:
            found = await ledger_store.next_seq(conn, after)
            if found != check.expected_seq:
                reason = f"missing or out of order (found {found})"
                raise LedgerBroken(check.expected_seq, reason) from None
            raise LedgerBroken(found, _UNREADABLE) from None
        if not rows:
            break
        check.feed(rows[0])
        leaves += bytes.fromhex(rows[0]["entry_hash"])
        fed = True
    return fed


def _ranges(head_seq: int, count: int) -> list[tuple[int, int]]:
    """At most ``count`` ranges covering (0, head_seq], each starting on a power of two."""
    align = min(_ALIGN, 1 << max(head_seq // count, 1).bit_length() - 1)
    step = -(-head_seq // (count * align)) * align
    return [(lo, min(lo + step, head_seq)) for lo in range(0, head_seq, step)]


async def _parallel(
    url: str,
    conn: AsyncConnection,
    check: ChainVerifier,
    head_seq: int,
    count: int,
    report: Progress,
) -> MerkleTree:
    ranges = _ranges(head_seq, count)
    done = [0] * len(ranges)

    def progress(index: int, checked: int) -> None:
        done[index] = checked
        report(sum(done), head_seq)

    results = await asyncio.gather(
        *(_worker(url, lo, upto, i, progress) for i, (lo, upto) in enumerate(ranges))
    )
    parts: list[list[bytes]] = []
    whole = True  # every range accepted by its worker: the subtrees join as they are
    for (lo, upto), result in zip(ranges, results, strict=True):
        if (
            result is not None
            and result.accepted
            and check.expected_seq - 1 == lo
            and result.first_prev == check.prev
            and result.last_hash is not None
        ):
            check.accepted(lo + result.accepted, result.last_hash)
            parts.append(result.levels)
        if check.expected_seq <= upto:
            whole = False
            leaves = bytearray()
            await _in_process(conn, check, upto, leaves, lambda checked: report(checked, head_seq))
            parts.append([bytes(leaves)])
    if whole:
        return MerkleTree.concat(parts)
    return MerkleTree.from_packed(b"".join(part[0] for part in parts))


async def _worker(
    url: str, after: int, upto: int, index: int, progress: Callable[[int, int], None]
) -> ChunkResult | None:
    """Check (after, upto] in a worker process; None if it could not (the range is then checked
    here, so a worker that fails costs time, never correctness)."""
    request = json.dumps({"url": url, "after": after, "upto": upto}).encode()
    path = os.pathsep.join(p for p in (_HUB_ROOT, os.environ.get("PYTHONPATH")) if p)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",
            "-m",
            "hub.services.ledger_chunks",
            env={"GLIBC_TUNABLES": _WORKER_MALLOC, **os.environ, "PYTHONPATH": path},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        log.warning("cannot start a ledger worker: %s", type(exc).__name__)
        return None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    if stdin is None or stdout is None or stderr is None:
        raise RuntimeError("the worker's pipes were not opened")
    errors: list[str] = []

    async def read_progress() -> None:
        async for line in stderr:
            text = line.decode(errors="replace").strip()
            if text.isdigit():
                progress(index, int(text))
            elif text:
                errors.append(text)

    try:
        stdin.write(request)
        await stdin.drain()
        stdin.close()
        output, _ = await asyncio.gather(stdout.read(), read_progress())
        status = await proc.wait()
    finally:
        if proc.returncode is None:  # cancelled: do not leave the worker running
            proc.kill()
            await proc.wait()
    if status != 0:
        log.warning("a ledger worker failed (%s); checking its range here", errors[-1:] or status)
        return None
    try:
        return ChunkResult.from_bytes(output)
    except (ValueError, KeyError, TypeError):
        log.warning("a ledger worker answered in a form not understood; checking its range here")
        return None
