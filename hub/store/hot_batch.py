"""Several of the share batch's inserts as one statement on PostgreSQL: ``HotInserts``, with a
part of another kind beside them where one is given (``Beside``: the log's append). Split from
``hub.store.hot_writes``, whose single-table ``HotInsert`` each one runs where there is no
statement to join them in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import hot
from hub.store.hot import HotRead, Processor, _bound_params, _Compiled, _processed
from hub.store.hot_writes import HotInsert, HotWrite, array_of

# Each insert given rows: its index, its columns, and those whose rows hold one value.
Shape = tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...]


@dataclass(frozen=True)
class Beside:
    """A part of its own in ``HotInserts``' statement on PostgreSQL (``run_beside``): CTEs, without
    ``WITH``, and a SELECT of ``width`` columns over them, with placeholders from $1 for ``args``
    (already processed for the driver). Its rows come back apart from the read's, told apart by
    their first column, which must never be NULL.

    ``ctes(after)`` gives the CTEs' text with ``after``, SQL that is true once every insert of the
    statement has run: a part that locks a row puts it in its locking read, so that the lock is
    taken after the inserts (a lock held over them would keep others waiting for longer). The
    same function each time (``HotInserts`` keeps each statement by it)."""

    ctes: Callable[[str], str]
    select: str
    width: int
    args: tuple[Any, ...]


class HotInserts:
    """Several ``HotInsert``s into different tables, run together in the job's transaction (the
    share batch's packets, recipients, keys and parts).

    On PostgreSQL they are one statement, so one round trip where there were one a table (each
    an await on a busy event loop): each table's rows come from ``unnest`` of one array per
    column, and every insert but the last is a data-modifying CTE. Foreign keys are checked at
    the statement's end, so parents and children go in together. Arrays are cast to the column's
    type without its length (an explicit cast to ``varchar(n)`` truncates silently; the insert's
    own assignment refuses an over-long value, as a plain insert does). Elsewhere each runs in
    turn: SQLite's writer has no round trips to save."""

    def __init__(self, *inserts: HotInsert, then: HotWrite | None = None) -> None:
        self._inserts = inserts
        # A write after the inserts (the log's head moved past the entries just appended): on
        # PostgreSQL the statement's last part, with the inserts as its CTEs.
        self._then = then
        # By the (insert, keys) of the tables given rows, the read after them and the part
        # beside them, if any: the SQL and each array's processor.
        self._compiled: dict[
            tuple[
                Shape,
                HotRead | None,
                tuple[Callable[[str], str], str] | None,
            ],
            _Compiled,
        ] = {}

    def _shape(self, given: Sequence[tuple[int, Sequence[Mapping[str, Any]]]]) -> Shape:
        """Each insert given rows, its columns, and those of its ``alike`` columns that hold one
        value in every row (for more than one row, and never every column)."""
        shape = []
        for i, table_rows in given:
            first = table_rows[0]
            keys = tuple(first)
            alike: tuple[str, ...] = ()
            if len(table_rows) > 1 and self._inserts[i].alike:
                alike = tuple(
                    k
                    for k in self._inserts[i].alike
                    if k in first and all(row[k] == first[k] for row in table_rows)
                )
                if len(alike) == len(keys):
                    alike = alike[1:]
            shape.append((i, keys, alike))
        return tuple(shape)

    def _for(
        self,
        dialect: Dialect,
        shape: Shape,
        read: HotRead | None = None,
        beside: Beside | None = None,
    ) -> _Compiled:
        cache_key = (shape, read, None if beside is None else (beside.ctes, beside.select))
        found = self._compiled.get(cache_key)
        if found is not None:
            return found
        quote = dialect.identifier_preparer
        statements: list[str] = []
        params: list[tuple[str, Processor, Any]] = []
        for index, keys, alike in shape:
            insert = self._inserts[index]
            arrays, values = [], []
            for key in keys:
                cast, process = array_of(insert.table.c[key], dialect)
                params.append((key, process, None))
                if key in alike:  # one value for every row: a parameter of the column's type
                    values.append(f"${len(params)}::{cast[:-2]}")
                else:
                    arrays.append(f"${len(params)}::{cast}")
                    values.append(f"given.{quote.quote(key)}")
            insert.check_keys(keys)
            conflict = insert.conflict(dialect)
            names = ", ".join(quote.quote(insert.table.c[k].name) for k in keys)
            rows = f"* FROM unnest({', '.join(arrays)})"
            if alike:
                given = ", ".join(quote.quote(k) for k in keys if k not in alike)
                rows = f"{', '.join(values)} FROM unnest({', '.join(arrays)}) AS given({given})"
            # Only the schema's own names, quoted by the dialect, go into the text; values are
            # parameters.
            statements.append(
                f"INSERT INTO {quote.format_table(insert.table)} ({names}) SELECT {rows}{conflict}"
            )
        last = self._then.compiled(dialect) if self._then is not None else None
        if read is not None:
            last = read._for(dialect)
            if last.sql.lstrip().upper().startswith("WITH"):
                raise ValueError("a read after the inserts cannot have a WITH of its own")
        results: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
        if beside is not None:
            # Every insert a CTE, then the part's own CTEs; its rows and the read's side by side.
            offset = len(params)
            # Each insert returns a row per row it wrote, so that ``after`` can wait for it: a
            # data-modifying CTE no other part reads runs only once the rest has finished.
            ctes = ", ".join(
                f"written_{i} AS ({sql} RETURNING 1)" for i, sql in enumerate(statements)
            )
            after = " AND ".join(
                f"(SELECT count(*) FROM written_{i}) >= 0"  # noqa: S608 (names of its own)
                for i in range(len(statements))
            )
            final = hot.renumbered(beside.select, offset)
            if last is not None:
                read_sql = hot.renumbered(last.sql, offset + len(beside.args))
                # Texts built from the schema's names and placeholders only, as above.
                final = (
                    f"SELECT * FROM ({final}) AS beside "  # noqa: S608
                    f"FULL JOIN ({read_sql}) AS read ON false"
                )
                params.extend(last.params)
                results = last.results
            theirs = hot.renumbered(beside.ctes(after), offset)
            sql = f"WITH RECURSIVE {ctes}, {theirs} {final}"
            found = self._compiled[cache_key] = _Compiled(sql, tuple(params), results)
            return found
        if last is not None:
            offset = len(params)
            # Its own placeholders ($1...) follow the arrays'.
            statements.append(hot.renumbered(last.sql, offset))
            params.extend(last.params)
            results = last.results
        ctes = ", ".join(f"written_{i} AS ({sql})" for i, sql in enumerate(statements[:-1]))
        sql = f"WITH {ctes} {statements[-1]}" if ctes else statements[-1]
        found = self._compiled[cache_key] = _Compiled(sql, tuple(params), results)
        return found

    async def run(
        self,
        conn: AsyncConnection,
        rows: Sequence[Sequence[Mapping[str, Any]]],
        values: Mapping[str, Any] | None = None,
        *,
        then_read: tuple[HotRead, Mapping[str, Any]] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Insert ``rows[i]`` (each with the same keys) with the i-th insert, in the caller's
        transaction, then the write ``then`` with ``values``; a table given no rows is left
        out.

        ``then_read``: a read (with its values) run after the inserts in the same transaction,
        whose rows are returned; on PostgreSQL the statement's last part, so the inserts and the
        read are one round trip. There the read does not see the rows the inserts write (one
        statement, one snapshot); elsewhere it runs after them and does: a read given here must
        not depend on them. Not with a ``then`` write (a statement has one last part)."""
        if len(rows) != len(self._inserts) or (values is None) != (self._then is None):
            raise ValueError("one list of rows for each insert, and values for the write after")
        if then_read is not None and self._then is not None:
            raise ValueError("a read after the inserts, or a write: not both")
        read, read_values = then_read if then_read is not None else (None, {})
        given = [(i, r) for i, r in enumerate(rows) if r]
        if conn.dialect.driver != "asyncpg" or not given:
            return await self._one_by_one(conn, given, values, then_read)
        shape = self._shape(given)
        compiled = self._for(conn.dialect, shape, read)
        args, processors = _arrays(shape, given, compiled)
        if values is not None:  # the write's own parameters, after the arrays
            args.extend(_bound_params(processors, values))
        elif read is not None:  # the read's, after the arrays
            args.extend(_bound_params(processors, read_values))
        sql = compiled.sql
        if read is None:
            ran, _ = await hot._asyncpg_in_transaction(conn, sql, lambda pg: pg.execute(sql, *args))
            return [] if ran else await self._one_by_one(conn, given, values, None)
        ran, got = await hot._asyncpg_in_transaction(conn, sql, lambda pg: pg.fetch(sql, *args))
        if not ran:
            return await self._one_by_one(conn, given, values, then_read)
        return _processed(compiled, got)

    async def run_beside(
        self,
        conn: AsyncConnection,
        rows: Sequence[Sequence[Mapping[str, Any]]],
        beside: Beside,
        *,
        then_read: tuple[HotRead, Mapping[str, Any]] | None = None,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
        """On PostgreSQL's asyncpg adapter, as ``run`` with ``then_read``, and ``beside`` in the
        same statement: (the read's rows, beside's rows). Its CTEs, like the inserts, see the
        statement's one snapshot, not each other's rows. None elsewhere, or where no insert is
        given rows, and nothing is run: the caller then runs the parts apart. Not with a
        ``then`` write."""
        if len(rows) != len(self._inserts) or self._then is not None:
            raise ValueError("one list of rows for each insert, and no write after")
        given = [(i, r) for i, r in enumerate(rows) if r]
        if conn.dialect.driver != "asyncpg" or not given:
            return None
        read, read_values = then_read if then_read is not None else (None, {})
        shape = self._shape(given)
        compiled = self._for(conn.dialect, shape, read, beside)
        args, processors = _arrays(shape, given, compiled)
        args.extend(beside.args)
        if read is not None:
            args.extend(_bound_params(processors, read_values))
        sql = compiled.sql
        ran, got = await hot._asyncpg_in_transaction(conn, sql, lambda pg: pg.fetch(sql, *args))
        if not ran:
            return None
        width = beside.width
        if read is None:
            return [], [tuple(r) for r in got]
        theirs = [tuple(r)[:width] for r in got if r[0] is not None]
        read_rows = _processed(compiled, [tuple(r)[width:] for r in got if r[0] is None])
        return read_rows, theirs

    async def _one_by_one(
        self,
        conn: AsyncConnection,
        given: Sequence[tuple[int, Sequence[Mapping[str, Any]]]],
        values: Mapping[str, Any] | None,
        then_read: tuple[HotRead, Mapping[str, Any]] | None,
    ) -> list[tuple[Any, ...]]:
        for i, table_rows in given:
            await self._inserts[i].run(conn, table_rows)
        if self._then is not None and values is not None:
            await self._then.run(conn, values)
        if then_read is None:
            return []
        read, read_values = then_read
        return await read.all_in_transaction(conn, read_values)


def _arrays(
    shape: Shape,
    given: Sequence[tuple[int, Sequence[Mapping[str, Any]]]],
    compiled: _Compiled,
) -> tuple[list[Any], list[tuple[str, Processor, Any]]]:
    """One array a column of each insert given rows (one value for a column whose rows are
    alike), processed for the driver, and the parameters of the statement's last part that
    follow them."""
    args: list[Any] = []
    processors = iter(compiled.params)
    for (_, keys, alike), (_, table_rows) in zip(shape, given, strict=True):
        if any(len(row) != len(keys) for row in table_rows):
            raise ValueError("rows of one insert must all have the same keys")
        for name, process, _ in itertools.islice(processors, len(keys)):
            if name in alike:
                value = table_rows[0][name]
                args.append(value if process is None else process(value))
                continue
            column = [row[name] for row in table_rows]
            args.append(column if process is None else [process(v) for v in column])
    return args, list(processors)
