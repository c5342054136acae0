"""On PostgreSQL, entries chained by the database in the one statement that appends them.

An entry's bytes hold the previous entry's hash and its own sequence number, so the hub could not
render them before it had read the head: a round trip for ``SELECT ... FOR UPDATE``, another for
the insert, with the head locked across both and the other serving process's batch waiting. Here
the hub renders each entry around those two values (``hub.ledger.entries.encode_around``) and one
statement locks the head, joins each entry's parts with the hash and number before it, hashes it
(PostgreSQL's ``sha256``, as ``leaf_hash`` does), inserts the rows and moves the head. It returns
each entry's place and hash; ``hub.services.ledger`` renders the same entries from them and
refuses the batch, before its commit, if a hash differs from its own.

Locking the head in a CTE works as a separate ``SELECT ... FOR UPDATE`` does at READ COMMITTED:
a statement that waited for another's commit chains after the head as that one left it
(tests/integration/test_ledger_chain.py appends from several connections at once).

The same CTEs can go into the share batch's last statement (``append_beside``, run by
``hub.store.packet_writes.insert_packets_beside`` or ``hub.store.email_outbox.enqueue_beside``):
its packets, or its messages, and their entries in one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import hot
from hub.store.hot import Processor
from hub.store.hot_batch import Beside
from hub.store.hot_writes import array_of
from hub.store.schema import ledger_entries, ledger_head

# At most this many entries a statement (the log writer's largest batch): each step of the recursion
# finds its parts by subscripting an array of variable-length values, which walks the array, so
# the statement's time grows with the square of its length (22 ms for 512 entries here, 108 ms for
# 2,048). A longer append reads the head first, as SQLite does.
MAX_ENTRIES = 512
# What the statement computes; the rest of an entry's columns come from the hub as arrays.
_CHAINED = ("seq", "prev_hash", "entry", "entry_hash")
COLUMNS = tuple(c.name for c in ledger_entries.columns if c.name not in _CHAINED)


class Chained(NamedTuple):
    seq: int
    prev_hash: str
    entry_hash: str


_compiled: dict[str, tuple[Callable[[str], str], str, tuple[Processor, ...]]] = {}


def _pieces(dialect: Dialect) -> tuple[Callable[[str], str], str, tuple[Processor, ...]]:
    """The statement's CTEs (without ``WITH RECURSIVE``) given what the head's lock waits for, the
    SELECT of its rows over them (``n, seq, prev_hash, entry_hash``, in no set order), and each
    column array's bind processor, built once. Placeholders from $1: the three arrays of parts,
    then a column an array."""
    found = _compiled.get(dialect.name)
    if found is not None:
        return found
    quote = dialect.identifier_preparer
    arrays, processors = [], []
    # $1..$3: the parts around the previous hash and the sequence number; then a column an array.
    for i, name in enumerate(COLUMNS, start=4):
        cast, process = array_of(ledger_entries.c[name], dialect)
        arrays.append(f"${i}::{cast}")
        processors.append(process)
    names = ", ".join(quote.quote(n) for n in COLUMNS)
    given = ", ".join(f"given.{quote.quote(n)}" for n in COLUMNS)
    entries, head = quote.format_table(ledger_entries), quote.format_table(ledger_head)

    def ctes(after: str) -> str:
        # ``after``: a condition the head's row is locked only once it is known (SQL given by
        # ``HotInserts``, naming its inserts), so that the inserts run before the lock is taken.
        # Only the schema's own names go into the text; every value is a parameter.
        return f"""locked AS (
    SELECT seq, entry_hash FROM {head} WHERE id = 1 AND {after} FOR UPDATE
), chained (n, seq, prev_hash, entry, entry_hash) AS (
    SELECT 0::bigint, seq, NULL::text, NULL::bytea, entry_hash::text FROM locked
  UNION ALL
    SELECT c.n + 1, c.seq + 1, c.entry_hash, joined.entry,
           encode(sha256('\\x00'::bytea || joined.entry), 'hex')
    FROM chained AS c CROSS JOIN LATERAL (
        SELECT ($1::bytea[])[c.n + 1] || convert_to(c.entry_hash, 'UTF8')
            || ($2::bytea[])[c.n + 1] || convert_to((c.seq + 1)::text, 'UTF8')
            || ($3::bytea[])[c.n + 1] AS entry
    ) AS joined
    WHERE c.n < cardinality($1::bytea[])
), written AS (
    INSERT INTO {entries} (seq, prev_hash, entry, entry_hash, {names})
    SELECT c.seq, c.prev_hash, c.entry, c.entry_hash, {given}
    FROM chained AS c
    JOIN unnest({", ".join(arrays)}) WITH ORDINALITY AS given({names}, n) ON given.n = c.n
), moved AS (
    UPDATE {head} SET seq = last.seq, entry_hash = last.entry_hash
    FROM (SELECT seq, entry_hash FROM chained ORDER BY n DESC LIMIT 1) AS last
    WHERE {head}.id = 1
)"""  # noqa: S608

    select = "SELECT n, seq, prev_hash, entry_hash FROM chained WHERE n > 0"
    found = _compiled[dialect.name] = (ctes, select, tuple(processors))
    return found


_alone_sql: dict[str, str] = {}


def _alone(dialect: Dialect) -> str:
    """The append as a statement of its own, built once."""
    found = _alone_sql.get(dialect.name)
    if found is None:
        ctes, select, _ = _pieces(dialect)
        found = _alone_sql[dialect.name] = f"WITH RECURSIVE {ctes('true')}\n{select}"
    return found


def _args(
    processors: Sequence[Processor],
    parts: Sequence[tuple[bytes, bytes, bytes]],
    rows: Sequence[Mapping[str, Any]],
) -> list[Any]:
    if not parts or len(parts) != len(rows):
        raise ValueError("one row of columns for each entry, and at least one entry")
    args: list[Any] = [[p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]]
    for name, process in zip(COLUMNS, processors, strict=True):
        column = [row[name] for row in rows]
        args.append(column if process is None else [process(v) for v in column])
    return args


def chained_of(rows: Sequence[Sequence[Any]]) -> list[Chained]:
    """The rows of the statement's SELECT (``n, seq, prev_hash, entry_hash``) in their order."""
    return [
        Chained(int(seq), str(prev), str(h)) for _, seq, prev, h in sorted(rows, key=itemgetter(0))
    ]


def append_beside(
    dialect: Dialect,
    parts: Sequence[tuple[bytes, bytes, bytes]],
    rows: Sequence[Mapping[str, Any]],
) -> Beside:
    """The append of ``append_chained`` as a part of another statement (``HotInserts.run_beside``:
    the share batch's packets, or messages, and their entries in one round trip); its rows go to
    ``chained_of``. At most ``MAX_ENTRIES``."""
    if len(parts) > MAX_ENTRIES:
        raise ValueError(f"at most {MAX_ENTRIES} entries a statement")
    ctes, select, processors = _pieces(dialect)
    return Beside(ctes, select, 4, tuple(_args(processors, parts, rows)))


async def append_chained(
    conn: AsyncConnection,
    parts: Sequence[tuple[bytes, bytes, bytes]],
    rows: Sequence[Mapping[str, Any]],
) -> list[Chained] | None:
    """Append one entry for each of ``parts`` (before the previous hash, between it and the
    sequence number, after that) with the columns of the same place in ``rows`` (``COLUMNS``), in
    the caller's transaction, after the head, and move the head. Each entry's place and hash, in
    order; None where ``conn`` is not PostgreSQL's asyncpg adapter, or for more than
    ``MAX_ENTRIES`` (the caller reads the head).
    """
    if conn.dialect.driver != "asyncpg" or len(parts) > MAX_ENTRIES:
        return None
    _, _, processors = _pieces(conn.dialect)
    args = _args(processors, parts, rows)
    sql = _alone(conn.dialect)
    ran, got = await hot._asyncpg_in_transaction(conn, sql, lambda pg: pg.fetch(sql, *args))
    if not ran:
        return None
    return chained_of(got)
