"""Hot reads, and the share batch's inserts, run on the database driver itself.

A few reads happen on every share and every API call (the token, the case and who is active on
it). Through SQLAlchemy's execution each cost several times what the database takes to answer:
an execution context, parameter and result processing, and on PostgreSQL a transaction's BEGIN
and COMMIT around a single statement. A ``HotRead`` keeps the SQLAlchemy statement as the one
definition, compiles it once per dialect, and runs the compiled text on the driver: on SQLite on
the job's own sqlite3 connection (so inside the job's snapshot), on PostgreSQL as an asyncpg
prepared statement (asyncpg keeps it prepared per connection), one round trip, no transaction (at
READ COMMITTED each statement has its own snapshot either way). Values pass through the column
types' own bind and result processors, so what comes back is what ``conn.execute`` would give.
A ``HotReadIn`` does the same for a statement over a list (a listing page's ids), one compiled
statement per length.

A ``HotRead`` is for reads only: a write must stay inside its job's transaction, which on
PostgreSQL ``all`` bypasses. A ``HotInsert`` (the multi-row inserts of every share's batch) and a
``HotWrite`` (the batch's UPDATE of the log head) run on the driver inside the job's transaction:
on the SQLite writer thread with ``executemany`` on the sqlite3 connection (inside the batch's
transaction and the job's savepoint), on PostgreSQL on the asyncpg connection once its transaction
is begun, as SQLAlchemy would begin it at the first statement; ``HotRead.all_in_transaction`` does
the same for a read that locks (``FOR UPDATE``). Anywhere else (aiosqlite) each is an ordinary
``conn.execute``. Driver errors are raised as SQLAlchemy's (``IntegrityError`` and the rest), as
``conn.execute`` would raise them. ``HotInserts`` runs several ``HotInsert``s (and a
``HotWrite`` after them) as one statement on PostgreSQL, one round trip where there were several.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Insert, Select, Table, bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name, bind processor, the statement's own value for a literal it carries)
    params: tuple[tuple[str, Processor, Any], ...]
    # (position, processor) of the result columns that have one: most have none, and a listing
    # converts thousands of values a second.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


def _compile(statement: Select[Any] | UpdateBase, dialect: Dialect) -> _Compiled:
    """``statement``'s text for ``dialect``, with its parameters' and results' processors."""
    compiled = statement.compile(dialect=dialect)
    params = tuple(
        (
            name,
            compiled.binds[name].type._cached_bind_processor(dialect),
            compiled.binds[name].effective_value,
        )
        for name in compiled.positiontup or []
    )
    selected = statement.selected_columns if isinstance(statement, Select) else ()
    processors = (column.type._cached_result_processor(dialect, None) for column in selected)
    results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
    return _Compiled(compiled.string, params, results)


def _driver_error(exc: sqlite3.Error, sql: str, dialect: Dialect) -> StatementError:
    """A sqlite3 error as SQLAlchemy would have raised it (``IntegrityError`` and the rest)."""
    return DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True, dialect=dialect)


# What a PostgreSQL write on the driver needs of SQLAlchemy's asyncpg adapter. Private names: an
# SQLAlchemy without them gets SQLAlchemy's own execution (tests/integration/test_hot_paths.py
# fails then, rather than the share path slowing down unseen).
_ADAPTER_NEEDS = (
    "_connection",
    "_transaction",
    "_start_transaction",
    "_execute_mutex",
    "_handle_exception",
)


async def _asyncpg_in_transaction(
    conn: AsyncConnection, sql: str, call: Callable[[Any], Awaitable[Any]]
) -> tuple[bool, Any]:
    """Run ``call`` on ``conn``'s asyncpg connection inside ``conn``'s transaction, begun first
    as SQLAlchemy begins it (lazily, at the first statement): (True, what it returned), or
    (False, None) where this SQLAlchemy's adapter does not offer what that needs. Errors are
    raised as ``conn.execute`` raises them."""
    adapter: Any = (await pooled(conn)).dbapi_connection
    if adapter is None or not all(hasattr(adapter, name) for name in _ADAPTER_NEEDS):
        return False, None
    dbapi = conn.dialect.loaded_dbapi
    try:
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()
            try:
                return True, await call(adapter._connection)
            except Exception as exc:
                adapter._handle_exception(exc)  # raises it as the adapter's cursor translates it
                raise
    except dbapi.Error as translated:
        # As SQLAlchemy's own execution would: a lost connection is not pooled again, and the
        # error says so (``connection_invalidated``: the edge answers 503, not 500). Given the
        # connection, the dialect asks asyncpg whether it is closed: a connection that heard the
        # server's shutdown while idle fails its next statement with a protocol error, not
        # "connection is closed", and asyncpg has closed it by then.
        lost = conn.dialect.is_disconnect(translated, adapter, None)
        if lost:
            await conn.invalidate()
        raise DBAPIError.instance(
            sql,
            None,
            translated,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from translated


async def pooled(conn: AsyncConnection) -> PoolProxiedConnection:
    """``conn.get_raw_connection()`` without its trip through a greenlet where none is needed
    (about 8 µs against under 1 µs, several times a request): a connection checked out and
    valid already holds its pooled connection, and reading it does no I/O. Otherwise (closed,
    invalidated: reconnecting would do I/O) SQLAlchemy's own way."""
    sync = conn.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        return sync.connection
    return await conn.get_raw_connection()


async def drop_if_lost(conn: AsyncConnection) -> None:
    """After a statement on asyncpg itself failed: if the driver has closed its connection (the
    server ended the session, or shut down), invalidate ``conn``, so that the pool drops it
    instead of handing it out again. SQLAlchemy's own execution does this for its statements;
    one run on the driver would otherwise leave a dead connection in the pool, failing every
    request that drew it."""
    if conn.dialect.driver != "asyncpg" or conn.invalidated or conn.closed:
        return
    driver: Any = (await pooled(conn)).driver_connection
    if driver is not None and driver.is_closed():
        await conn.invalidate()


def _bound(compiled: _Compiled, values: Mapping[str, Any]) -> list[Any]:
    """The statement's parameters from ``values`` (or its own literals), through their types."""
    return _bound_params(compiled.params, values)


def _bound_params(
    params: Sequence[tuple[str, Processor, Any]], values: Mapping[str, Any]
) -> list[Any]:
    return [v if p is None else p(v) for v, p in ((values.get(n, own), p) for n, p, own in params)]


def _processed(compiled: _Compiled, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Driver rows as SQLAlchemy's execution would give them, through the result types."""
    converters = compiled.results
    if not converters:
        return [tuple(r) for r in rows]
    out = []
    for r in rows:
        values = list(r)
        for i, convert in converters:
            values[i] = convert(values[i])
        out.append(tuple(values))
    return out


class HotRead:
    """A SELECT compiled once per dialect and run on the driver (see the module's note)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.keys = tuple(statement.selected_columns.keys())
        self._compiled: dict[str, _Compiled] = {}
        self._wrapped: dict[Callable[[str, int], str], str] = {}  # PostgreSQL's, by wrap

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return found

    async def all(self, conn: AsyncConnection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self._for(conn.dialect)
        args = _bound(compiled, values)
        driver = getattr(conn, "driver_rows", None)
        if driver is not None:  # a job on a sqlite3 connection (hub.store.database)
            rows = driver(compiled.sql, args)
        else:
            driver_conn: Any = (await pooled(conn)).driver_connection
            if conn.dialect.driver == "asyncpg":
                try:
                    rows = await driver_conn.fetch(compiled.sql, *args)
                except Exception:
                    await drop_if_lost(conn)
                    raise
            else:  # aiosqlite (a SQLite read or write outside the hot paths)
                async with driver_conn.execute(compiled.sql, args) as cursor:
                    rows = await cursor.fetchall()
        return _processed(compiled, rows)

    async def all_in_transaction(
        self, conn: AsyncConnection, values: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """As ``all``, but inside ``conn``'s transaction wherever it runs (on PostgreSQL begun
        first if need be): for a read that locks, ``FOR UPDATE``."""
        compiled = self._for(conn.dialect)
        args = _bound(compiled, values)
        driver = getattr(conn, "driver_rows", None)
        if driver is not None:  # a job on a sqlite3 connection, inside its transaction
            return _processed(compiled, driver(compiled.sql, args))
        if conn.dialect.driver == "asyncpg":
            ran, rows = await _asyncpg_in_transaction(
                conn, compiled.sql, lambda pg: pg.fetch(compiled.sql, *args)
            )
            if ran:
                return _processed(compiled, rows)
        return [tuple(r) for r in await conn.execute(self.statement, dict(values))]

    async def first(
        self, conn: AsyncConnection, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first row as a dict of the statement's column keys, or None."""
        rows = await self.all(conn, values)
        return dict(zip(self.keys, rows[0], strict=True)) if rows else None

    async def first_within(
        self,
        conn: AsyncConnection,
        values: Mapping[str, Any],
        wrap: Callable[[str, int], str],
        more: Sequence[Any],
    ) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
        """PostgreSQL: this statement inside a larger one, on asyncpg outside any transaction (so
        committed as it runs, where it writes). ``wrap(sql, n)`` makes the larger statement from
        this one's text and number of placeholders; it selects this one's columns first, then
        its own, and takes ``more`` as its parameters after this one's. The first row as
        ``first`` gives it, with the larger statement's own columns; None for no row."""
        compiled = self._for(conn.dialect)
        sql = self._wrapped.get(wrap)
        if sql is None:
            sql = self._wrapped[wrap] = wrap(compiled.sql, len(compiled.params))
        driver_conn: Any = (await pooled(conn)).driver_connection
        try:
            rows = await driver_conn.fetch(sql, *_bound(compiled, values), *more)
        except Exception:
            await drop_if_lost(conn)
            raise
        if not rows:
            return None
        (row,) = _processed(compiled, rows[:1])  # the converters of this statement's columns
        width = len(self.keys)
        return dict(zip(self.keys, row[:width], strict=True)), row[width:]


class HotInsert:
    """A multi-row INSERT into ``table``, rendered once per dialect and set of columns given, and
    run with the driver's ``executemany`` where the job's transaction allows (see the module's
    note). Columns not given take their server default, so a table with client-side defaults
    (``Column(default=...)``) is refused: those need SQLAlchemy to fill them in."""

    def __init__(self, table: Table, *, skip_existing: bool = False) -> None:
        client_defaults = [c.name for c in table.columns if c.default is not None]
        if client_defaults:
            raise ValueError(f"{table.name} has client-side defaults: {client_defaults}")
        self.table = table
        # skip_existing: a row whose key is already there is left as it is (ON CONFLICT DO
        # NOTHING, which SQLite and PostgreSQL both spell so).
        self._skip_existing = skip_existing
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def statement(self, dialect: Dialect) -> Insert:
        """The statement for ``dialect`` (for ``conn.execute`` with a list of rows)."""
        if not self._skip_existing:
            return insert(self.table)
        dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        return dialect_insert(self.table).on_conflict_do_nothing()

    def _for(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        found = self._compiled.get((dialect.name, keys))
        if found is None:
            # The values only shape the statement: each becomes a placeholder, in table order.
            shaped = self.statement(dialect).values({self.table.c[k]: None for k in keys})
            compiled = shaped.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ())
            if sorted(names) != sorted(keys):
                raise ValueError(f"{self.table.name}: placeholders {names} are not {keys}")
            params = tuple(
                (name, compiled.binds[name].type._cached_bind_processor(dialect), None)
                for name in names
            )
            found = self._compiled[(dialect.name, keys)] = _Compiled(compiled.string, params, ())
        return found

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (each with the same keys) in the caller's transaction."""
        if not rows:
            return
        executemany = getattr(conn, "driver_executemany", None)
        postgres = conn.dialect.driver == "asyncpg"
        if executemany is None and not postgres:
            await conn.execute(self.statement(conn.dialect), list(rows))
            return
        keys = tuple(rows[0])
        compiled = self._for(conn.dialect, keys)
        width = len(keys)
        args = []
        for row in rows:
            if len(row) != width:
                raise ValueError("rows of one insert must all have the same keys")
            args.append(tuple(row[n] if p is None else p(row[n]) for n, p, _ in compiled.params))
        sql = compiled.sql
        if executemany is None:
            ran, _ = await _asyncpg_in_transaction(conn, sql, lambda pg: pg.executemany(sql, args))
            if not ran:
                await conn.execute(self.statement(conn.dialect), list(rows))
            return
        try:
            executemany(sql, args)
        except sqlite3.Error as exc:
            raise _driver_error(exc, sql, conn.dialect) from exc


class HotWrite:
    """An UPDATE or DELETE of one set of values, compiled once per dialect and run on the driver
    inside the job's transaction where ``HotInsert`` is (see the module's note); anywhere else an
    ordinary ``conn.execute``."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return found

    async def run(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        executemany = getattr(conn, "driver_executemany", None)
        postgres = conn.dialect.driver == "asyncpg"
        if executemany is None and not postgres:
            await conn.execute(self.statement, dict(values))
            return
        compiled = self.compiled(conn.dialect)
        args = tuple(_bound(compiled, values))
        sql = compiled.sql
        if executemany is None:
            ran, _ = await _asyncpg_in_transaction(conn, sql, lambda pg: pg.execute(sql, *args))
            if not ran:
                await conn.execute(self.statement, dict(values))
            return
        try:
            executemany(sql, [args])
        except sqlite3.Error as exc:
            raise _driver_error(exc, sql, conn.dialect) from exc


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
        # By the (insert, keys) of the tables given rows: the SQL and each array's processor.
        self._compiled: dict[tuple[tuple[int, tuple[str, ...]], ...], _Compiled] = {}

    def _for(self, dialect: Dialect, shape: tuple[tuple[int, tuple[str, ...]], ...]) -> _Compiled:
        found = self._compiled.get(shape)
        if found is not None:
            return found
        quote = dialect.identifier_preparer
        statements: list[str] = []
        params: list[tuple[str, Processor, Any]] = []
        for index, keys in shape:
            insert = self._inserts[index]
            arrays = []
            for key in keys:
                column = insert.table.c[key]
                element = re.sub(r"\(\d+\)", "", column.type.compile(dialect=dialect))
                params.append((key, column.type._cached_bind_processor(dialect), None))
                arrays.append(f"${len(params)}::{element}[]")
            conflict = " ON CONFLICT DO NOTHING" if insert._skip_existing else ""
            names = ", ".join(quote.quote(insert.table.c[k].name) for k in keys)
            # Only the schema's own names, quoted by the dialect, go into the text; values are
            # parameters.
            statements.append(
                f"INSERT INTO {quote.format_table(insert.table)} ({names}) "  # noqa: S608
                f"SELECT * FROM unnest({', '.join(arrays)}){conflict}"
            )
        if self._then is not None:
            then = self._then.compiled(dialect)
            offset = len(params)
            # Its own placeholders ($1...) follow the arrays'.
            statements.append(re.sub(r"\$(\d+)", lambda m: f"${int(m[1]) + offset}", then.sql))
            params.extend(then.params)
        ctes = ", ".join(f"written_{i} AS ({sql})" for i, sql in enumerate(statements[:-1]))
        sql = f"WITH {ctes} {statements[-1]}" if ctes else statements[-1]
        found = self._compiled[shape] = _Compiled(sql, tuple(params), ())
        return found

    async def run(
        self,
        conn: AsyncConnection,
        rows: Sequence[Sequence[Mapping[str, Any]]],
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert ``rows[i]`` (each with the same keys) with the i-th insert, in the caller's
        transaction, then the write ``then`` with ``values``; a table given no rows is left
        out."""
        if len(rows) != len(self._inserts) or (values is None) != (self._then is None):
            raise ValueError("one list of rows for each insert, and values for the write after")
        given = [(i, r) for i, r in enumerate(rows) if r]
        if conn.dialect.driver != "asyncpg" or not given:
            await self._one_by_one(conn, given, values)
            return
        shape = tuple((i, tuple(r[0])) for i, r in given)
        compiled = self._for(conn.dialect, shape)
        args: list[Any] = []
        processors = iter(compiled.params)
        for (_, keys), (_, table_rows) in zip(shape, given, strict=True):
            if any(len(row) != len(keys) for row in table_rows):
                raise ValueError("rows of one insert must all have the same keys")
            for name, process, _ in itertools.islice(processors, len(keys)):
                column = [row[name] for row in table_rows]
                args.append(column if process is None else [process(v) for v in column])
        if values is not None:  # the write's own parameters, after the arrays
            args.extend(_bound_params(list(processors), values))
        sql = compiled.sql
        ran, _ = await _asyncpg_in_transaction(conn, sql, lambda pg: pg.execute(sql, *args))
        if not ran:
            await self._one_by_one(conn, given, values)

    async def _one_by_one(
        self,
        conn: AsyncConnection,
        given: Sequence[tuple[int, Sequence[Mapping[str, Any]]]],
        values: Mapping[str, Any] | None,
    ) -> None:
        for i, table_rows in given:
            await self._inserts[i].run(conn, table_rows)
        if self._then is not None and values is not None:
            await self._then.run(conn, values)


class HotReadIn:
    """A ``HotRead`` of a statement that takes a list (``IN``, such as a page's ids): built by
    ``build`` from one placeholder per item, compiled once per length. SQLAlchemy's expanding
    parameters re-render the statement on every execution instead. A longer list is read in
    parts of at most ``MAX_ITEMS``, which bounds the number of statements kept; so the rows come
    back in the statement's order within each part only."""

    MAX_ITEMS = 256

    def __init__(self, build: Callable[[list[BindParameter[Any]]], Select[Any]]) -> None:
        self._build = build
        self._by_length: dict[int, HotRead] = {}

    async def all(
        self, conn: AsyncConnection, items: Sequence[Any], values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        return await self._read(conn, items, values, in_transaction=False)

    async def all_in_transaction(
        self, conn: AsyncConnection, items: Sequence[Any], values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """As ``all``, inside ``conn``'s transaction (``HotRead.all_in_transaction``): for a
        statement with a side effect that must go with the transaction, a NOTIFY."""
        return await self._read(conn, items, values, in_transaction=True)

    async def _read(
        self,
        conn: AsyncConnection,
        items: Sequence[Any],
        values: Mapping[str, Any] | None,
        *,
        in_transaction: bool,
    ) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(items), self.MAX_ITEMS):
            part = items[start : start + self.MAX_ITEMS]
            hot = self._by_length.get(len(part))
            if hot is None:
                placeholders: list[BindParameter[Any]] = [
                    bindparam(f"in_{i}") for i in range(len(part))
                ]
                hot = self._by_length[len(part)] = HotRead(self._build(placeholders))
            given = dict(values or {})
            given.update((f"in_{i}", item) for i, item in enumerate(part))
            read = hot.all_in_transaction if in_transaction else hot.all
            rows.extend(await read(conn, given))
        return rows
