"""Leases on background jobs, on real SQLite and PostgreSQL: one holder at a time, taken over
when the holder's time runs out, handed over at once on a clean stop, and a former holder's
checkpoint refused inside its own transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.demo import DemoLogin
from hub.services.leases import Lease, LeaseLost, LeaseService, run_elected
from hub.store import leases as lease_store
from hub.store.schema import ledger_checkpoints
from hub.wiring import Hub


def _two(hub: Hub, seconds: float = 2.0) -> tuple[LeaseService, LeaseService]:
    return LeaseService(hub.db, seconds, "gateway-a"), LeaseService(hub.db, seconds, "gateway-b")


async def _checkpoints(hub: Hub) -> int:
    async with hub.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(ledger_checkpoints))).scalar_one()
        )


async def test_one_holder_until_its_time_runs_out(hub: Hub) -> None:
    a, b = _two(hub)
    held = await a.acquire("checkpoints")
    assert held is not None and held.epoch == 1
    assert await b.acquire("checkpoints") is None, "a second process took a held lease"
    was = held.valid_until
    assert await a.renew(held) and held.epoch == 1
    assert was < held.valid_until <= time.monotonic() + 2.0  # moved on, never past the lease
    # Other jobs' leases are separate rows.
    assert await b.acquire("reminders") is not None
    await asyncio.sleep(2.2)  # a stops renewing (as if it died): its lease runs out
    taken = await b.acquire("checkpoints")
    assert taken is not None and taken.epoch == 2, "the epoch rises with each new holder"
    assert not await a.renew(held), "the former holder renewed a lease it lost"
    rows = {row.name: (row, left) for row, left in await b.current()}
    assert rows["checkpoints"][0].holder == "gateway-b" and rows["checkpoints"][1] > 0


async def test_a_clean_stop_hands_over_at_once(hub: Hub) -> None:
    a, b = _two(hub, seconds=30)
    held = await a.acquire("peer-delivery")
    assert held is not None
    await a.release(held)
    taken = await b.acquire("peer-delivery")
    assert taken is not None and taken.epoch == 2


async def test_a_former_holder_cannot_store_a_checkpoint(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    a, b = _two(hub)
    held = await a.acquire("checkpoints")
    assert held is not None
    await asyncio.sleep(2.2)
    taken = await b.acquire("checkpoints")
    assert taken is not None
    before = await _checkpoints(hub)

    async def fence_a(conn: AsyncConnection) -> None:
        await a.fence(conn, held)

    async def fence_b(conn: AsyncConnection) -> None:
        await b.fence(conn, taken)

    with pytest.raises(LeaseLost):
        await hub.ledger.checkpoint(fence_a)
    assert await _checkpoints(hub) == before, "a checkpoint was stored by a former holder"
    signed = await hub.ledger.checkpoint(fence_b)
    assert signed.tree_size > 0 and await _checkpoints(hub) == before + 1


@pytest.mark.postgres
async def test_no_takeover_while_the_holder_commits(hub: Hub) -> None:
    """PostgreSQL: the fence locks the lease row, so a process that finds the lease run out
    still waits for the holder's transaction to end before it can take over."""
    if hub.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: nothing can overlap")
    async with hub.db.write() as conn:
        assert await lease_store.take(conn, "checkpoints", "gateway-a", 0.5) == (
            1,
            pytest.approx(0.5, abs=0.1),
        )
    async with hub.db.write() as holder:
        assert await lease_store.still_held(holder, "checkpoints", "gateway-a", 1)
        await asyncio.sleep(0.8)  # the lease runs out on the clock while the work is open

        async def take() -> tuple[int, float] | None:
            async with hub.db.write() as conn:
                return await lease_store.take(conn, "checkpoints", "gateway-b", 5)

        taker = asyncio.create_task(take())
        await asyncio.sleep(0.5)
        assert not taker.done(), "the lease changed hands while its holder was committing"
    taken = await asyncio.wait_for(taker, 5)
    assert taken is not None and taken[0] == 2


async def test_elected_jobs_never_run_twice_and_move_on_a_stop(hub: Hub) -> None:
    a, b = _two(hub)
    running: list[str] = []
    most = 0

    def job(name: str) -> Callable[[Lease], Coroutine[Any, Any, None]]:
        async def run(_lease: Lease) -> None:
            nonlocal most
            running.append(name)
            most = max(most, len(running))
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return run

    first = asyncio.create_task(run_elected(a, "reminders", job("a")))
    second = asyncio.create_task(run_elected(b, "reminders", job("b")))
    await asyncio.sleep(2.5)  # several renewals and polls
    assert running in (["a"], ["b"]) and most == 1
    holder, other = (first, "b") if running == ["a"] else (second, "a")
    holder.cancel()  # a clean stop releases the lease
    await asyncio.gather(holder, return_exceptions=True)
    # The other process polls every third of the lease (0.67 s) and finds it released.
    await asyncio.sleep(1.0)
    assert running == [other], "the other process did not take the job over"
    assert most == 1, "two processes ran the job at once"
    for task in (first, second):
        task.cancel()
    await asyncio.gather(first, second, return_exceptions=True)


async def test_the_holder_signs_for_as_long_as_it_renews(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The job is handed its lease once; renewals keep that same lease good, so a holder still
    passes its fence long after the lease's first term (here, twice its length)."""
    a, _ = _two(hub)
    signed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def job(lease: Lease) -> None:
        await asyncio.sleep(4.0)

        async def fence(conn: AsyncConnection) -> None:
            await a.fence(conn, lease)

        signed.set_result((await hub.ledger.checkpoint(fence)).tree_size)
        await asyncio.Event().wait()

    elected = asyncio.create_task(run_elected(a, "checkpoints", job))
    try:
        assert await asyncio.wait_for(signed, 10) > 0
    finally:
        elected.cancel()
        await asyncio.gather(elected, return_exceptions=True)
