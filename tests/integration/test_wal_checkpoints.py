"""SQLite's log checkpointed off the commit path (hub.store.sqlite_checkpoints), on a real file.

Commits no longer checkpoint (``wal_autocheckpoint=0``); the checkpointer thread must then move
every committed page into the database file, so the log does not grow without end, and leave
nothing behind when the hub closes.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.database import Database
from hub.store.sqlite_checkpoints import WalCheckpointer
from hub.store.sqlite_jobs import WritersLock

ROWS = 3_000
# About 4 KB a row: ROWS rows are three times the 1,000 pages at which a commit would checkpoint.
PAYLOAD = "x" * 4_000


async def _open(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "hub.sqlite3"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, data TEXT)"))
    return db, path


def _insert(k: int):  # type: ignore[no-untyped-def]
    async def job(conn: AsyncConnection) -> None:
        await conn.execute(
            text("INSERT INTO filler (id, data) VALUES (:id, :data)"), {"id": k, "data": PAYLOAD}
        )

    return job


def _rows_in_database_file(path: Path) -> int | None:
    """Rows in the database file itself: ``immutable`` reads it without the log. None while a
    checkpoint is copying pages (the file is then, for a moment, between two states)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM filler").fetchone()[0])
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def _log_generation(path: Path) -> bytes:
    """The write-ahead log header's checkpoint sequence number and salts, which SQLite changes
    each time a writer starts the log again from its beginning (read from the file, so that
    nothing here checkpoints)."""
    with open(f"{path}-wal", "rb") as wal:
        return wal.read(32)[12:24]


def _writers_lock(db: Database) -> WritersLock:
    assert db._group is not None and db._group.writers_lock is not None
    return db._group.writers_lock


def _eager_checkpointer(db: Database, path: Path) -> WalCheckpointer:
    """The database's checkpointer replaced by one that restarts the log past 200 pages."""
    assert db._checkpointer is not None
    db._checkpointer.close()
    checkpointer = WalCheckpointer(path, _writers_lock(db).path, delay=0.01, restart_pages=200)
    db._checkpointer = checkpointer
    return checkpointer


def _assert_the_log_started_again(checkpointer: WalCheckpointer, path: Path) -> None:
    assert checkpointer.restarts >= 1
    wal = Path(f"{path}-wal").stat().st_size
    assert wal < ROWS * 4096 // 2, f"the log grew to {wal:,} bytes"


async def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    db, path = await _open(tmp_path)
    try:
        async with db.read() as conn:
            mode = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert mode == 0  # commits never checkpoint
        for start in range(0, ROWS, 500):
            await asyncio.gather(*(db.run_write(_insert(k)) for k in range(start, start + 500)))
        checkpointer = db._checkpointer
        assert isinstance(checkpointer, WalCheckpointer)
        # The thread catches up: every committed page ends up in the database file.
        for _ in range(100):
            if _rows_in_database_file(path) == ROWS:
                break
            await asyncio.sleep(0.05)
        assert _rows_in_database_file(path) == ROWS
        assert checkpointer.checkpoints >= 1
        # ...and the log starts again from its beginning rather than growing: a commit that begins
        # after the thread's checkpoint leaves a log far shorter than the 3,000-odd pages written.
        # The pages are in the file before the checkpoint has synced it and marked them copied,
        # so a commit may still meet the last pass and append; the thread's next pass copies that
        # commit too, and a later one starts the log again (no other checkpoint runs here).
        generation = _log_generation(path)
        for k in range(20):
            await db.run_write(_insert(ROWS + k))
            if _log_generation(path) != generation:
                break
            await asyncio.sleep(0.1)
        assert _log_generation(path) != generation, "no commit started the log again"
        probe = sqlite3.connect(path)
        try:
            _busy, pages, _copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            probe.close()
        assert pages < 100
    finally:
        await db.dispose()
    # Closed: the last checkpoint ran and SQLite removed the log.
    assert _rows_in_database_file(path) == ROWS + 1
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_the_log_starts_again_under_steady_writes(tmp_path: Path) -> None:
    """Commits back to back leave a checkpoint that never copies faster than they write no moment
    to start the log again: past ``restart_pages`` the checkpointer holds the writers' lock for
    one pass, and the log stays a fraction of what was written."""
    db, path = await _open(tmp_path)
    try:
        checkpointer = _eager_checkpointer(db, path)
        # 3,000 rows of 4 KB, every batch as soon as the last committed. At most 64 wait at a
        # time, as callers under load do: given all 3,000 at once, a slow machine put half of
        # them in one batch, and no checkpoint can shorten the log within a transaction.
        waiting = asyncio.Semaphore(64)

        async def write(k: int) -> None:
            async with waiting:
                await db.run_write(_insert(k))

        await asyncio.gather(*(write(k) for k in range(ROWS)))
        for _ in range(100):
            if checkpointer.restarts:
                break
            await asyncio.sleep(0.05)
        _assert_the_log_started_again(checkpointer, path)
    finally:
        await db.dispose()
    assert _rows_in_database_file(path) == ROWS


async def test_a_restart_comes_between_two_write_transactions(tmp_path: Path) -> None:
    """``Database.write`` holds the writers' lock from its BEGIN to its commit, as the group
    commit does: a restart that asks for the lock meanwhile waits for the commit, then copies
    every frame (this transaction's too), and the next transaction starts the log from its
    beginning. Without the lock, transactions one after another (a bulk load, an import) each
    began before the restart could, and the log held every page written (7.5 GB by 350,000 of the
    benchmark's million packets). The order is forced here, not left to the threads' timing."""
    db, path = await _open(tmp_path)
    lock_path = _writers_lock(db).path
    rows = [{"id": k, "data": PAYLOAD} for k in range(200)]
    insert = text("INSERT INTO filler (id, data) VALUES (:id, :data)")
    loop = asyncio.get_running_loop()
    try:
        async with db.write() as conn:
            await conn.execute(insert, rows[:100])
        async with db.write() as conn:
            await conn.execute(insert, rows[100:])
            assert not _free(lock_path), "a write transaction runs without the writers' lock"
            # As the checkpointer's last pass: the lock on a descriptor of its own, then RESTART.
            restart = loop.run_in_executor(None, _restart_under_the_lock, path, lock_path)
            await asyncio.sleep(0.2)
            assert not restart.done(), "the restart did not wait for the transaction's commit"
        busy, pages, copied = await restart
        assert (busy, copied) == (0, pages) and pages >= 200  # both transactions' pages copied
        async with db.write() as conn:
            await conn.execute(insert, {"id": 200, "data": "y"})
        assert _frames_in_the_log(path) < 10  # the next transaction started the log again
    finally:
        await db.dispose()
    assert _rows_in_database_file(path) == 201


def _restart_under_the_lock(path: Path, lock_path: Path) -> tuple[int, int, int]:
    lock = WritersLock(lock_path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with lock.held():
            busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return int(busy), int(pages), int(copied)
    finally:
        conn.close()
        lock.close()


def _frames_in_the_log(path: Path) -> int:
    """Frames written since the log last started again (a PASSIVE checkpoint reports them)."""
    probe = sqlite3.connect(path)
    try:
        return int(probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        probe.close()


async def test_the_log_starts_again_under_back_to_back_write_transactions(tmp_path: Path) -> None:
    """The same under load: 30 transactions of 100 rows, back to back, while the checkpointer
    runs as it does in the hub. Where in the load each restart falls is the threads' timing (a CI
    run under load saw the log reach 60 % of what was written before one did), so what is held
    here is that the log started again while they ran, never reaching every page written; the
    test above holds the order itself."""
    db, path = await _open(tmp_path)
    try:
        checkpointer = _eager_checkpointer(db, path)
        rows = [{"id": k, "data": PAYLOAD} for k in range(ROWS)]
        for start in range(0, ROWS, 100):  # 100 rows of 4 KB a transaction, back to back
            async with db.write() as conn:
                await conn.execute(
                    text("INSERT INTO filler (id, data) VALUES (:id, :data)"),
                    rows[start : start + 100],
                )
        assert checkpointer.restarts >= 1
        # Each 4 KB row takes a page of its own: with no restart the log holds ROWS frames or more.
        wal = Path(f"{path}-wal").stat().st_size
        assert wal < ROWS * 4096, f"the log grew to {wal:,} bytes"
    finally:
        await db.dispose()
    assert _rows_in_database_file(path) == ROWS


async def test_a_writer_cancelled_while_it_waits_leaves_the_lock_free(tmp_path: Path) -> None:
    """A ``Database.write`` cancelled while another process holds the writers' lock: the lock
    its thread takes later is let go at once, so the next writer (here, another process's
    lock on the same file) is not shut out."""
    db, path = await _open(tmp_path)
    try:
        lock_path = _writers_lock(db).path
        other = WritersLock(lock_path)  # its own descriptor: as another process
        other.acquire()

        async def write() -> None:
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO filler (id, data) VALUES (1, 'x')"))

        waiting = asyncio.create_task(write())
        await asyncio.sleep(0.1)
        assert not waiting.done()  # waits for the lock, on the writer's thread
        waiting.cancel()
        other.release()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # The writer's thread runs its jobs in turn: once this one has run, the cancelled
        # writer's wait has ended, with the lock taken, and whatever follows it has run too.
        assert db._group is not None
        await asyncio.get_running_loop().run_in_executor(db._group.thread, lambda: None)
        other.close()
        assert _free(lock_path), "the cancelled writer kept the writers' lock"
        await write()  # and the database takes writes as before
    finally:
        await db.dispose()
    assert _rows_in_database_file(path) == 1


def _free(path: Path) -> bool:
    """Whether no one holds the writers' lock: taken, on a descriptor of its own, without
    waiting."""
    fd = os.open(path, os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing lets the lock go
    return True


def test_checkpointer_closes_without_having_run(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    sqlite3.connect(path).close()
    checkpointer = WalCheckpointer(path, tmp_path / "empty.sqlite3.writers")
    checkpointer.close()  # no thread was started: nothing to wait for
    checkpointer.written()  # after close: starts nothing
    assert checkpointer.checkpoints == 0
