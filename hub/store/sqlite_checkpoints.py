"""WAL checkpoints off the commit path (SQLite).

Left to itself, SQLite checkpoints inside the commit that takes the write-ahead log past 1,000
pages: that commit copies the pages back into the database file and waits for the disk before it
returns, still holding the write lock (and here the writers' lock of every process on the file).
Under steady load that was every second or two, and it set the share's p99: every writer and
every share waiting on one waited behind it. The hub's connections turn that off
(``wal_autocheckpoint=0``, ``hub.store.sqlite_jobs.configure_sqlite``) and this thread checkpoints
instead, a moment after commits, PASSIVE: it copies what no reader still needs, never waits for a
reader or a writer, and never makes one wait.

That alone would let the log grow without end under steady load: SQLite starts it again from the
beginning only when a writer begins after a checkpoint copied every frame, and with commits
arriving all the time a checkpoint never catches up. So once the log is past ``RESTART_PAGES``
the thread checkpoints PASSIVE once more, then takes the writers' lock
(``hub.store.sqlite_jobs.WritersLock``, its own descriptor, so it excludes its own process's
writer too; every writer takes it, the group commit and ``Database.write`` alike) and checkpoints
again, RESTART: only what was committed since its last pass is left to copy, it waits (at most
``READER_WAIT_SECONDS``) for readers of older snapshots to finish, and the next writer then starts
the log from the beginning. Writers wait for that short last pass, about every ``RESTART_PAGES``
pages written, rather than for a whole checkpoint inside a commit every 1,000. A reader that holds
its snapshot longer (a full ``ledger verify``) makes the restart wait for a later pass, never the
writers for it.

What writers wait for is mostly the disk. A checkpoint that copies every frame in the log then
syncs the database file, and that sync, of every page copied since the last one, took 7-15 ms on
the benchmark's machine (a 4 KB commit's sync of the log about 1 ms). A PASSIVE pass that a commit
overtakes leaves it undone, so it fell to the RESTART pass, under the lock, and set the share's
p99 at a steady 500/s. The PASSIVE pass just before the lock has only the last moment's commits
to copy, so it usually copies them all and syncs outside the lock; the RESTART pass is left a few
pages (its hold fell from 10-14 ms to about 2 ms). And a commit's own sync waits behind the
database file's while the disk writes it: the shorter the delay between checkpoints, the fewer
pages each sync writes, and the less a commit that meets one waits (bench/README.md, thirteenth
session).

Durability is unchanged: a commit is in the log on disk (``synchronous=FULL``) before it is
acknowledged, and a checkpoint only moves committed pages into the database file (crash-safe by
SQLite's design). Each process on the file runs one; two at once cost one of them a busy answer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from hub.store.sqlite_jobs import WritersLock

log = logging.getLogger(__name__)

# How long after a commit the checkpoint runs: commits meanwhile go in the same one, so the
# database file is synced at most this often, however many commits there are. Short, so that each
# sync writes few pages (see the module's note): at a steady 500 shares/s, 0.2 s gave a p99 of
# 11 ms, 0.1 s 8 ms and 0.05 s 6 ms on the benchmark's machine, with the same shares/s at 64
# clients.
CHECKPOINT_DELAY_SECONDS = 0.05
# A log this long (pages of 4 KB) is started again from the beginning (see the module's note),
# waiting this long at most for readers of older snapshots, while writers wait.
RESTART_PAGES = 4_000
READER_WAIT_SECONDS = 0.05
# A log this many pages long (4 KB each) after a checkpoint means readers keep old snapshots:
# worth a warning, as the file grows until they let go.
LONG_LOG_PAGES = 50_000


class WalCheckpointer:
    """Checkpoints one SQLite file's log on a thread of its own, after commits."""

    def __init__(
        self,
        path: Path,
        writers_lock: Path,
        *,
        delay: float = CHECKPOINT_DELAY_SECONDS,
        restart_pages: int = RESTART_PAGES,
    ) -> None:
        self._path = path
        self._writers = WritersLock(writers_lock)
        self._delay = delay
        self._restart_pages = restart_pages
        self._written = threading.Event()
        # Set by close; it also ends the delay, so that a closing process does not wait it out.
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.checkpoints = 0  # how many ran (for tests and the curious)
        # How many of them started the log again: held the writers' lock, and no reader of an
        # older snapshot outlasted the wait.
        self.restarts = 0

    def written(self) -> None:
        """A commit happened: checkpoint shortly. Cheap; call after every commit."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="db-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._written.set()

    def close(self) -> None:
        """Stop the thread after one last checkpoint of what was written."""
        with self._lock:
            self._stopping.set()
            thread = self._thread
        self._written.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(
            f"file:{quote(str(self._path))}?mode=rw",
            uri=True,
            isolation_level=None,
            timeout=READER_WAIT_SECONDS,
        )
        try:
            while True:
                self._written.wait()
                if not self._stopping.is_set():
                    # Let the commits of the next moment join this checkpoint.
                    self._stopping.wait(self._delay)
                self._written.clear()
                self._checkpoint(conn)
                if self._stopping.is_set():
                    return
        finally:
            conn.close()
            self._writers.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if pages >= self._restart_pages:
                # Catch up outside the lock, so that the sync of the database file is done before
                # writers wait (see the module's note).
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                with self._writers.held():  # no commit can come between this pass and a restart
                    busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                if not busy:  # busy: a reader kept its snapshot; a later pass starts the log again
                    self.restarts += 1
        except sqlite3.Error as exc:
            # Not a lost write: the pages stay in the log, and the next checkpoint copies them.
            log.warning("WAL checkpoint failed: %s", type(exc).__name__)
            return
        self.checkpoints += 1
        if pages - copied > LONG_LOG_PAGES:
            log.warning(
                "WAL checkpoint left %d pages in the log: a reader is holding an old snapshot",
                pages - copied,
            )
