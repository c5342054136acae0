"""One range of the log checked in a worker process: ``python -m hub.services.ledger_chunks``.

``hub.services.ledger.scan`` splits a large log into ranges, one worker per core. A worker reads
one JSON request on stdin, ``{"url": ..., "after": lo, "upto": hi}``, checks rows (lo, hi] in bulk
(``hub.ledger.rowcheck``) in a snapshot of its own, and writes one JSON line,
``{"accepted": n, "first_prev": ..., "last_hash": ..., "sizes": [...]}``, then the packed levels of
the Merkle subtree over the leaves it accepted (only the leaves if it stopped early). It cannot know
the hash before its range, so it takes the first row's own ``prev_hash``; the parent checks that
against the range before, and checks whatever the worker did not accept itself, exactly. Progress
goes to stderr as a count a line.

Rows up to the head never change, so snapshots taken a moment apart agree on every row a range
covers. The URL, which may hold a password, travels on stdin rather than the command line.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from hub.ledger import rowcheck
from hub.ledger.merkle import MerkleTree
from hub.store.ledger_rows import Rows, batches, open_rows

# Small batches: the rows, hashes and times of one stay in the CPU's caches.
BATCH = 2_000


@dataclass(frozen=True)
class ChunkResult:
    accepted: int
    first_prev: str | None
    last_hash: str | None
    # The whole subtree if every row was accepted, else the leaves alone. Not in the repr: asyncio
    # formats a finished task's result, and tens of megabytes of repr cost a second.
    levels: list[bytes] = field(repr=False)

    def to_bytes(self) -> bytes:
        header = {
            "accepted": self.accepted,
            "first_prev": self.first_prev,
            "last_hash": self.last_hash,
            "sizes": [len(level) for level in self.levels],
        }
        return json.dumps(header).encode() + b"\n" + b"".join(self.levels)

    @classmethod
    def from_bytes(cls, data: bytes) -> ChunkResult:
        line, _, body = data.partition(b"\n")
        header: dict[str, Any] = json.loads(line)
        sizes = [int(size) for size in header["sizes"]]
        if sum(sizes) != len(body):
            raise ValueError("a worker's levels are not the length it announced")
        offsets = list(itertools.accumulate(sizes, initial=0))
        levels = [body[a:b] for a, b in itertools.pairwise(offsets)]
        return cls(int(header["accepted"]), header["first_prev"], header["last_hash"], levels)


async def check_range(url: str, after: int, upto: int, size: int = BATCH) -> ChunkResult:
    """Accept rows (after, upto] in bulk, as far as they check out."""
    return await check_rows(await open_rows(url), after, upto, size)


async def check_rows(reader: Rows, after: int, upto: int, size: int = BATCH) -> ChunkResult:
    """``check_range`` over a snapshot already open, which it closes."""
    if reader.compares:
        accept, prev_at = rowcheck.accept_compared, rowcheck.COMPARED_PREV
    else:
        accept, prev_at = rowcheck.accept, rowcheck.PREV
    leaves = bytearray()
    seq, first_prev, prev = after, None, ""
    try:
        read = batches(reader, after, upto, size)
        try:
            async for batch in read:
                batch_end = min(seq + size, upto)
                rows = iter(batch)
                if first_prev is None:
                    first = next(rows, None)
                    if (
                        first is None
                        or first[0] != after + 1
                        or not isinstance(first[prev_at], str)
                    ):
                        break
                    first_prev = prev = first[prev_at]
                    rows = itertools.chain((first,), rows)
                seq, prev = accept(rows, seq, prev, leaves)
                if seq < batch_end and reader.compares:
                    # What SQLite's comparison left (an older entry version, a value that needs
                    # escaping, a tamper) is offered to the check by columns before the exact one.
                    rest = await reader.columns(seq, batch_end)
                    seq, prev = rowcheck.accept(rest, seq, prev, leaves)
                print(seq - after, file=sys.stderr, flush=True)
                if seq < batch_end:
                    break
        finally:
            await read.aclose()  # the batch read ahead, if any, is in before the snapshot closes
    finally:
        await reader.close()
    accepted = seq - after
    levels = MerkleTree.from_packed(leaves).levels() if seq == upto else [bytes(leaves)]
    return ChunkResult(accepted, first_prev, prev if accepted else None, levels)


def main() -> int:
    gc.disable()  # short-lived, no reference cycles: collections would only cost time
    request = json.loads(sys.stdin.buffer.read())
    result = asyncio.run(
        check_range(str(request["url"]), int(request["after"]), int(request["upto"]))
    )
    sys.stdout.buffer.write(result.to_bytes())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
