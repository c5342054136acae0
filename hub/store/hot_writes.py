"""The share batch's writes run on the database driver itself: ``HotInsert`` and ``HotWrite``
(what they are for, and where each runs: ``hub.store.hot``'s note); several as one statement on
PostgreSQL in ``hub.store.hot_batch``.

On the SQLite writer thread each runs with ``executemany`` on the job's sqlite3 connection; on
PostgreSQL on the asyncpg connection inside the job's transaction (``hot._asyncpg_in_transaction``,
called through the module so that there is one way in); anywhere else an ordinary
``conn.execute``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from hub.store import hot
from hub.store.hot import Processor, _bound, _compile, _Compiled, _driver_error


class HotInsert:
    """A multi-row INSERT into ``table``, rendered once per dialect and set of columns given, and
    run with the driver's ``executemany`` where the job's transaction allows (see the module's
    note). Columns not given take their server default, so a table with client-side defaults
    (``Column(default=...)``) is refused, those needing SQLAlchemy to fill them in, unless every
    row gives them (``defaults_given``)."""

    def __init__(
        self,
        table: Table,
        *,
        skip_existing: bool = False,
        conflict_on: tuple[str, ...] = (),
        defaults_given: bool = False,
        alike: tuple[str, ...] = (),
    ) -> None:
        client_defaults = [c.name for c in table.columns if c.default is not None]
        if client_defaults and not defaults_given:
            raise ValueError(f"{table.name} has client-side defaults: {client_defaults}")
        self.table = table
        # defaults_given: every row gives the columns with client-side defaults (checked by
        # ``check_keys``), so that nothing is left for SQLAlchemy to fill in.
        self.needed = frozenset(client_defaults)
        # skip_existing: a row whose key is already there is left as it is (ON CONFLICT DO
        # NOTHING, which SQLite and PostgreSQL both spell so); ``conflict_on`` names that key
        # (any unique constraint where it is empty).
        self._skip_existing = skip_existing
        self._conflict_on = conflict_on
        # Columns that often hold one value in every row of an insert (the time, the kind): on
        # PostgreSQL, where they do, sent once rather than as an array of the same value
        # (``hub.store.hot_batch``), sparing the driver's encoding of each.
        self.alike = alike
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def check_keys(self, keys: Sequence[str]) -> None:
        """Refuses rows that leave out a column with a client-side default."""
        missing = self.needed.difference(keys)
        if missing:
            raise ValueError(f"{self.table.name}: rows must give {sorted(missing)}")

    def conflict(self, dialect: Dialect) -> str:
        """The ON CONFLICT clause of the insert's text, if any."""
        if not self._skip_existing:
            return ""
        quote = dialect.identifier_preparer
        target = ", ".join(quote.quote(self.table.c[k].name) for k in self._conflict_on)
        return f" ON CONFLICT ({target}) DO NOTHING" if target else " ON CONFLICT DO NOTHING"

    def statement(self, dialect: Dialect) -> Insert:
        """The statement for ``dialect`` (for ``conn.execute`` with a list of rows)."""
        if not self._skip_existing:
            return insert(self.table)
        dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        return dialect_insert(self.table).on_conflict_do_nothing(
            index_elements=list(self._conflict_on) or None
        )

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
        self.check_keys(keys)
        compiled = self._for(conn.dialect, keys)
        width = len(keys)
        args = []
        for row in rows:
            if len(row) != width:
                raise ValueError("rows of one insert must all have the same keys")
            args.append(tuple(row[n] if p is None else p(row[n]) for n, p, _ in compiled.params))
        sql = compiled.sql
        if executemany is None:
            ran, _ = await hot._asyncpg_in_transaction(
                conn, sql, lambda pg: pg.executemany(sql, args)
            )
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
            ran, _ = await hot._asyncpg_in_transaction(conn, sql, lambda pg: pg.execute(sql, *args))
            if not ran:
                await conn.execute(self.statement, dict(values))
            return
        try:
            executemany(sql, [args])
        except sqlite3.Error as exc:
            raise _driver_error(exc, sql, conn.dialect) from exc


def array_of(column: Column[Any], dialect: Dialect) -> tuple[str, Processor]:
    """The cast of a parameter that carries an array of ``column``'s values (``unnest``'s input)
    and the processor of each value. The cast names the type without its length: an explicit
    cast to ``varchar(n)`` truncates silently, where the insert's own assignment refuses."""
    element = re.sub(r"\(\d+\)", "", column.type.compile(dialect=dialect))
    return f"{element}[]", column.type._cached_bind_processor(dialect)
