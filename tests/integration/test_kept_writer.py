"""The group commit's kept connection (``hub.store.sqlite_jobs.KeptWriter``), on a real SQLite
file: one connection from one commit to the next, no transaction left open between them, and a
batch whose transaction failed never handing its connection to the next."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Conflict
from hub.store.sqlite_jobs import KeptWriter, configure_sqlite, write_batch


def _engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite+pysqlite:///{path}", connect_args={"check_same_thread": False})
    configure_sqlite(engine, busy_timeout_ms=0)  # a locked file refuses at once
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    return engine


def _insert(k: int, *, fail: bool = False) -> Any:
    async def job(conn: AsyncConnection) -> int:
        await conn.execute(text("INSERT INTO notes (id, body) VALUES (:k, 'x')"), {"k": k})
        if fail:
            raise Conflict(f"job {k} refuses after writing")
        return k

    return job


def _stored(path: Path) -> list[int]:
    with sqlite3.connect(path) as other:  # another connection: only what was committed
        return [row[0] for row in other.execute("SELECT id FROM notes ORDER BY id")]


def test_one_connection_across_commits_and_none_left_in_a_transaction(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    engine = _engine(path)
    writer = KeptWriter(engine)
    try:
        outcomes, _ = write_batch(writer, [_insert(1)])
        first = writer.connection()
        assert outcomes == [(True, 1)]
        # Alone and failing: rolled back, the connection kept.
        outcomes, notes = write_batch(writer, [_insert(2, fail=True)])
        assert not outcomes[0][0] and isinstance(outcomes[0][1], Conflict) and notes == []
        # Several, one failing: the others committed, each in its savepoint.
        outcomes, _ = write_batch(writer, [_insert(3), _insert(4, fail=True), _insert(5)])
        assert [ok for ok, _ in outcomes] == [True, False, True]
        assert writer.connection() is first
        dbapi: Any = first.connection.dbapi_connection
        assert not dbapi.in_transaction and not first.in_transaction()
        assert _stored(path) == [1, 3, 5]
    finally:
        writer.close()
        engine.dispose()


def test_a_batch_that_cannot_begin_closes_its_connection(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    engine = _engine(path)
    writer = KeptWriter(engine)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        write_batch(writer, [_insert(1)])
        first = writer.connection()
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            write_batch(writer, [_insert(2)])
        assert first.closed  # not handed to the next batch in whatever state it was left
        other.execute("ROLLBACK")
        outcomes, _ = write_batch(writer, [_insert(3)])
        assert outcomes == [(True, 3)] and writer.connection() is not first
        assert _stored(path) == [1, 3]
    finally:
        other.close()
        writer.close()
        engine.dispose()
