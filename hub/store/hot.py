"""Hot reads run on the database driver itself.

A few reads happen on every share and every API call (the token, the case and who is active on
it). Through SQLAlchemy's execution each cost several times what the database takes to answer:
an execution context, parameter and result processing, and on PostgreSQL a transaction's BEGIN
and COMMIT around a single statement. A ``HotRead`` keeps the SQLAlchemy statement as the one
definition, compiles it once per dialect, and runs the compiled text on the driver: on SQLite on
the job's own sqlite3 connection (so inside the job's snapshot), on PostgreSQL as an asyncpg
prepared statement (asyncpg keeps it prepared per connection), one round trip, no transaction (at
READ COMMITTED each statement has its own snapshot either way). Values pass through the column
types' own bind and result processors, so what comes back is what ``conn.execute`` would give.

Reads only: a write must stay inside its job's transaction, which on PostgreSQL this bypasses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name, bind processor, the statement's own value for a literal it carries)
    params: tuple[tuple[str, Processor, Any], ...]
    results: tuple[Processor, ...]


class HotRead:
    """A SELECT compiled once per dialect and run on the driver (see the module's note)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.keys = tuple(statement.selected_columns.keys())
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            names = compiled.positiontup or []
            params = tuple(
                (
                    name,
                    compiled.binds[name].type._cached_bind_processor(dialect),
                    compiled.binds[name].effective_value,
                )
                for name in names
            )
            results = tuple(
                column.type._cached_result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            found = self._compiled[dialect.name] = _Compiled(compiled.string, params, results)
        return found

    async def all(self, conn: AsyncConnection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self._for(conn.dialect)
        args = [
            v if p is None else p(v)
            for v, p in ((values.get(n, own), p) for n, p, own in compiled.params)
        ]
        driver = getattr(conn, "driver_rows", None)
        if driver is not None:  # a job on a sqlite3 connection (hub.store.database)
            rows = driver(compiled.sql, args)
        else:
            driver_conn: Any = (await conn.get_raw_connection()).driver_connection
            if conn.dialect.driver == "asyncpg":
                rows = await driver_conn.fetch(compiled.sql, *args)
            else:  # aiosqlite (a SQLite read or write outside the hot paths)
                async with driver_conn.execute(compiled.sql, args) as cursor:
                    rows = await cursor.fetchall()
        procs = compiled.results
        return [
            tuple(v if p is None else p(v) for v, p in zip(r, procs, strict=True)) for r in rows
        ]

    async def first(
        self, conn: AsyncConnection, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first row as a dict of the statement's column keys, or None."""
        rows = await self.all(conn, values)
        return dict(zip(self.keys, rows[0], strict=True)) if rows else None
