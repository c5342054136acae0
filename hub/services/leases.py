"""Which process runs each background job: one holder at a time across every gateway.

A process takes a job's lease, runs the job, and renews the lease every third of its length.
If it dies, its lease runs out and another process takes the job over: within ``seconds`` plus
one poll (``seconds / 3``) of the death, or at once if it stopped cleanly and released it.

A holder's own idea of how long it holds the lease is measured on its monotonic clock from
*before* it asked, so it always ends no later than the database's: a holder whose renewals fail
(the database unreachable) stops its job before anyone else can take the lease. The lease's
epoch rises at each change of holder; a job whose writes must never overlap another holder's
(checkpoint signing) also checks its lease inside its own transaction (``fence``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Conflict
from hub.store import leases as store
from hub.store.database import Database
from hub.store.leases import LeaseRow

log = logging.getLogger("hub.leases")

# What a holder allows for its clock running faster than the database's, per lease.
_MARGIN = 0.5


def process_name() -> str:
    """Unique per process and start: a restarted process never inherits an old lease or claim."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseLost(Conflict):
    """The job's lease passed to another process (or ran out) before its work committed."""

    code = "lease_lost"


@dataclass
class Lease:
    """A lease this process holds. Renewing it moves ``valid_until`` on, in place, so the job
    that was handed the lease always fences with the latest time."""

    name: str
    holder: str
    epoch: int
    # time.monotonic() by which this process stops acting on the lease unless it renewed it.
    valid_until: float


class LeaseService:
    def __init__(self, db: Database, seconds: float, holder: str | None = None) -> None:
        if seconds < 2:
            raise ValueError("a lease lasts at least 2 seconds")
        self._db = db
        self.seconds = seconds
        self.holder = holder or process_name()

    async def acquire(self, name: str) -> Lease | None:
        """The lease on ``name`` if it is free (or already ours), else None."""
        asked = time.monotonic()

        async def job(conn: AsyncConnection) -> tuple[int, float] | None:
            return await store.take(conn, name, self.holder, self.seconds)

        taken = await self._db.run_write(job)
        if taken is None:
            return None
        epoch, left = taken
        return Lease(name, self.holder, epoch, asked + min(left, self.seconds) - _MARGIN)

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease (in place); False if another process holds it now."""
        asked = time.monotonic()

        async def job(conn: AsyncConnection) -> float | None:
            return await store.renew(conn, lease.name, lease.holder, lease.epoch, self.seconds)

        left = await self._db.run_write(job)
        if left is None:
            return False
        lease.valid_until = asked + min(left, self.seconds) - _MARGIN
        return True

    async def release(self, lease: Lease) -> None:
        async def job(conn: AsyncConnection) -> None:
            await store.release(conn, lease.name, lease.holder, lease.epoch)

        await self._db.run_write(job)

    @staticmethod
    async def fence(conn: AsyncConnection, lease: Lease) -> None:
        """Inside a write transaction: raise LeaseLost unless ``lease`` is still held (and, on
        PostgreSQL, keep it from changing hands until the transaction ends)."""
        if time.monotonic() >= lease.valid_until or not await store.still_held(
            conn, lease.name, lease.holder, lease.epoch
        ):
            raise LeaseLost(f"the {lease.name} lease is no longer held by this process")

    async def current(self) -> list[tuple[LeaseRow, float]]:
        """Each job's holder and the seconds its lease has left (for operators)."""
        async with self._db.read() as conn:
            return await store.all_leases(conn)


async def run_elected(
    leases: LeaseService, name: str, job: Callable[[Lease], Coroutine[Any, Any, None]]
) -> None:
    """Run ``job`` whenever this process holds the lease on ``name``; otherwise wait to take it.

    The job runs until cancelled; it is cancelled here when the lease is lost or can no longer
    be renewed in time. Cancelling this releases the lease, so a clean stop hands over at once."""
    every = leases.seconds / 3
    while True:
        try:
            lease = await leases.acquire(name)
        except Exception as exc:  # the database unreachable: nobody can take it; ask again
            log.warning("%s: cannot ask for the lease (%s)", name, type(exc).__name__)
            lease = None
        if lease is None:
            await asyncio.sleep(every)
            continue
        log.info("%s: this process (%s) runs it now, epoch %d", name, lease.holder, lease.epoch)
        await _hold(leases, lease, job, every)
        await asyncio.sleep(every)  # a job that stopped by itself is not restarted in a spin


async def _hold(
    leases: LeaseService,
    lease: Lease,
    job: Callable[[Lease], Coroutine[Any, Any, None]],
    every: float,
) -> None:
    task = asyncio.create_task(job(lease))
    holding = True
    try:
        while holding and not task.done():
            await asyncio.wait({task}, timeout=every)
            if task.done():
                break
            holding = await _renewed(leases, lease)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if holding:
            await _release_quietly(leases, lease)
    if task.done() and not task.cancelled() and task.exception() is not None:
        log.error("%s: the job stopped: %s", lease.name, type(task.exception()).__name__)
    else:
        log.warning("%s: lease lost (epoch %d); the job stopped here", lease.name, lease.epoch)


async def _renewed(leases: LeaseService, lease: Lease) -> bool:
    """Whether the lease is still this process's: renewed, or not renewed (the database did not
    answer) but with time left. False once it was taken over or ran out on this clock."""
    left = lease.valid_until - time.monotonic()
    if left <= 0:
        return False
    try:
        return await asyncio.wait_for(leases.renew(lease), timeout=left)
    except TimeoutError:
        return False
    except Exception as exc:
        log.warning("%s: cannot renew the lease (%s)", lease.name, type(exc).__name__)
        return time.monotonic() < lease.valid_until


async def _release_quietly(leases: LeaseService, lease: Lease) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(leases.release(lease)), timeout=2)
    except Exception as exc:  # it runs out by itself; the next holder waits a little longer
        log.warning("%s: could not release the lease (%s)", lease.name, type(exc).__name__)
