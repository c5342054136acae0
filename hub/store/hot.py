"""Hot reads, and the share batch's inserts (``hub.store.hot_writes``), run on the database driver
itself.

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

import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Select, bindparam
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
        # PostgreSQL's, by wrap and the read it holds beside this one
        self._wrapped: dict[tuple[Callable[..., str], HotRead | None], str] = {}
        # SQLite's, by the read beside this one and the column that must match
        self._beside: dict[tuple[HotRead, str], str] = {}

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

    async def first_beside(
        self,
        conn: AsyncConnection,
        values: Mapping[str, Any],
        also: tuple[HotRead, Mapping[str, Any]],
        key: str,
        equals: Any,
    ) -> Beside | None:
        """SQLite, in a job on its sqlite3 connection: this statement and ``also`` (a second read,
        with its values) as one, a statement fewer in the job's snapshot. The first row as
        ``first`` gives it, and ``also``'s first row, joined only beside a row whose column ``key``
        equals ``equals`` (None where it is not, or ``also`` found nothing: every one of its
        columns NULL). None where ``conn`` is not such a job's: the caller reads apart."""
        driver = getattr(conn, "driver_rows", None)
        if driver is None or key not in self.keys:
            return None
        compiled, other = self._for(conn.dialect), also[0]._for(conn.dialect)
        sql = self._beside.get((also[0], key))
        if sql is None:
            # Compiled statements and a column key of this one: no value goes into the text.
            sql = self._beside[(also[0], key)] = (
                f"SELECT mine.*, also.* FROM ({compiled.sql}) AS mine "  # noqa: S608
                f"LEFT JOIN ({other.sql}) AS also ON mine.{key} = ?"
            )
        rows = driver(sql, [*_bound(compiled, values), *_bound(other, also[1]), equals])
        if not rows:
            return Beside(None, None)
        width = len(self.keys)
        (row,) = _processed(compiled, [rows[0][:width]])
        (tail,) = _processed(other, [rows[0][width:]])
        also_row = (
            dict(zip(also[0].keys, tail, strict=True)) if any(v is not None for v in tail) else None
        )
        return Beside(dict(zip(self.keys, row, strict=True)), also_row)

    async def first_within(
        self,
        conn: AsyncConnection,
        values: Mapping[str, Any],
        wrap: Callable[[str, int, str | None], str],
        more: Sequence[Any],
        also: tuple[HotRead, Mapping[str, Any]] | None = None,
    ) -> Within | None:
        """PostgreSQL: this statement inside a larger one, on asyncpg outside any transaction (so
        committed as it runs, where it writes). ``wrap(sql, n, also_sql)`` makes the larger
        statement from this one's text and number of placeholders; it selects this one's columns
        first, then its own, and takes ``more`` as its parameters after this one's. ``also``: a
        second read (with its values) that ``wrap`` places in the same statement, its columns
        last and its placeholders numbered after ``more``: a round trip fewer. The first row as
        ``first`` gives it, with the larger statement's own columns and ``also``'s row (None
        where it found none: every one of its columns NULL); None for no row at all."""
        compiled = self._for(conn.dialect)
        other = also[0]._for(conn.dialect) if also is not None else None
        key = (wrap, also[0] if also is not None else None)
        sql = self._wrapped.get(key)
        if sql is None:
            offset = len(compiled.params) + len(more)
            also_sql = None if other is None else renumbered(other.sql, offset)
            sql = self._wrapped[key] = wrap(compiled.sql, len(compiled.params), also_sql)
        args = [*_bound(compiled, values), *more]
        if also is not None and other is not None:
            args += _bound(other, also[1])
        driver_conn: Any = (await pooled(conn)).driver_connection
        try:
            rows = await driver_conn.fetch(sql, *args)
        except Exception:
            await drop_if_lost(conn)
            raise
        if not rows:
            return None
        (row,) = _processed(compiled, rows[:1])  # the converters of this statement's columns
        width = len(self.keys)
        own_end = len(row) if also is None else len(row) - len(also[0].keys)
        also_row = None
        if also is not None and other is not None:
            (tail,) = _processed(other, [row[own_end:]])
            if any(v is not None for v in tail):
                also_row = dict(zip(also[0].keys, tail, strict=True))
        return Within(dict(zip(self.keys, row[:width], strict=True)), row[width:own_end], also_row)


class Beside(NamedTuple):
    """What ``HotRead.first_beside`` found: the statement's first row (None: none) and the second
    read's row beside it (None: none, or not read)."""

    row: dict[str, Any] | None
    also: dict[str, Any] | None


class Within(NamedTuple):
    """What ``HotRead.first_within`` found: the statement's row, the larger statement's own
    columns, and the second read's row if it was given one and found one."""

    row: dict[str, Any]
    own: tuple[Any, ...]
    also: dict[str, Any] | None


def renumbered(sql: str, offset: int) -> str:
    """asyncpg's placeholders ($1...) of ``sql`` numbered ``offset`` later, for a statement that
    holds it after ``offset`` parameters of its own."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m[1]) + offset}", sql)


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

    def one_part(
        self, items: Sequence[Any], values: Mapping[str, Any] | None = None
    ) -> tuple[HotRead, dict[str, Any]]:
        """The read of ``items`` (at most ``MAX_ITEMS``) as one ``HotRead`` and its values, for a
        caller that runs it inside a statement of its own (``HotInserts.run``'s ``then_read``)."""
        if not 0 < len(items) <= self.MAX_ITEMS:
            raise ValueError(f"one part holds 1 to {self.MAX_ITEMS} items, not {len(items)}")
        hot = self._by_length.get(len(items))
        if hot is None:
            placeholders: list[BindParameter[Any]] = [
                bindparam(f"in_{i}") for i in range(len(items))
            ]
            hot = self._by_length[len(items)] = HotRead(self._build(placeholders))
        given = dict(values or {})
        given.update((f"in_{i}", item) for i, item in enumerate(items))
        return hot, given

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
            hot, given = self.one_part(items[start : start + self.MAX_ITEMS], values)
            read = hot.all_in_transaction if in_transaction else hot.all
            rows.extend(await read(conn, given))
        return rows
