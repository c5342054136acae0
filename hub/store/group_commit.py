"""SQLite's group commit: write jobs from concurrent requests, committed together on one thread.

``hub.store.database.Database.run_write`` hands each job here. The jobs waiting when a commit
starts share its transaction, each in its own savepoint (``hub.store.sqlite_jobs.write_batch``),
so a batch costs one fsync and a job that fails takes nothing else with it. A job's caller
resumes only after the commit of its batch returned: acknowledged means on disk. The commits of
every process on the file queue on the writers' lock in the kernel (``WritersLock``), and the
writer thread keeps its connection from one commit to the next (``KeptWriter``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from hub.store.notify import Note
from hub.store.sqlite_jobs import Job, KeptWriter, WritersLock, write_in_thread

# A group commit takes at most this many jobs: bounds a batch's latency and its rollback cost.
MAX_BATCH = 256

T = TypeVar("T")


class GroupCommit:
    """The writer thread, its connection and the queue of jobs waiting for the next commit.

    ``committed(notes)`` runs on the event loop after each commit, before the batch's callers
    resume, with the notes its jobs sent (``hub.store.notify``)."""

    def __init__(
        self,
        engine: Engine,
        writers_lock: WritersLock | None,
        committed: Callable[[list[Note]], None],
    ) -> None:
        # In-process writers queue here (the group commit and ``Database.write``) rather than on
        # SQLite's busy handler.
        self.lock = asyncio.Lock()
        self.writers_lock = writers_lock
        self._committed = committed
        # The writer thread: each commit, and each wait for the writers' lock, in turn.
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="db-write")
        self._kept = KeptWriter(engine)
        self._queue: list[tuple[Job[Any], asyncio.Future[Any]]] = []
        self._pending: set[asyncio.Future[Any]] = set()
        self._wake: asyncio.Event | None = None
        self._committer: asyncio.Task[None] | None = None

    async def run(self, job: Job[T]) -> T:
        """``job(conn)`` in the next commit; its result once that commit is on disk."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._queue.append((job, done))
        self._pending.add(done)
        done.add_done_callback(self._pending.discard)
        if self._committer is None or self._committer.done() or self._wake is None:
            self._wake = asyncio.Event()
            self._committer = loop.create_task(self._commit_loop())
        self._wake.set()
        return await done

    async def _commit_loop(self) -> None:
        wake = self._wake
        if wake is None:
            return
        while True:
            await wake.wait()
            wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Job[Any], asyncio.Future[Any]]]) -> None:
        jobs = [job for job, _ in batch]
        try:
            async with self.lock:
                loop = asyncio.get_running_loop()
                outcomes, notes = await loop.run_in_executor(
                    self.thread, write_in_thread, self._kept, jobs, self.writers_lock
                )
        except Exception as exc:  # the commit failed: no job of the batch is on disk
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        # Committed: its notes go out before the callers resume (and acknowledge).
        self._committed(notes)
        for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
            if done.done():  # its caller was cancelled; the work stands
                continue
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

    @asynccontextmanager
    async def writers_lock_held(self) -> AsyncIterator[None]:
        """The writers' lock of every process on the file, as the group commit takes it, so that
        the log's restart (``hub.store.sqlite_checkpoints``) comes between these transactions
        too: without it, one after another they kept a bulk load's log from ever starting again
        (7.5 GB by 350,000 of the benchmark's million packets).

        Waited for on the writer's thread, never on the event loop. A process's writers share
        one descriptor, so a wait that was cancelled is let go on that thread, next in its queue:
        before any later writer's wait there. (A thread hop, tens of µs, against the commit's
        sync.)"""
        lock, thread = self.writers_lock, self.thread
        if lock is None:
            yield
            return
        loop = asyncio.get_running_loop()
        waited = loop.run_in_executor(thread, lock.acquire)
        try:
            await asyncio.shield(waited)
        except asyncio.CancelledError:
            thread.submit(lock.release)  # the thread still takes it: let it go next in its queue
            raise
        try:
            yield
        finally:
            lock.release()  # never waits; the next writer asks for it only after this

    async def drain(self) -> None:
        """Wait for the jobs already submitted, then stop committing."""
        if self._committer is not None and not self._committer.done():
            await asyncio.gather(*self._pending, return_exceptions=True)
            self._committer.cancel()

    def close(self) -> None:
        """After ``drain``: the thread, its connection and the writers' lock's descriptor."""
        self.thread.shutdown(wait=True)
        self._kept.close()  # the writer thread is done with it
        if self.writers_lock is not None:
            self.writers_lock.close()
