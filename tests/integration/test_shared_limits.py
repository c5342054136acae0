"""An API token's rate limit holds across gateways: two limiters on one database (two processes'
worth: on SQLite two connections to the side file) draw on the same bucket."""

from __future__ import annotations

import asyncio

from hub.web.ratelimit import RateLimiter
from hub.wiring import Hub


async def test_spreading_requests_over_gateways_gains_nothing(hub: Hub) -> None:
    first = RateLimiter(hub.db, rate_per_second=2.0, burst=4)
    second = RateLimiter(hub.db, rate_per_second=2.0, burst=4)
    try:
        waits = [await (first if i % 2 else second).allow(7) for i in range(6)]
        assert waits[:4] == [0.0] * 4, "the burst is shared, not one per gateway"
        assert all(w > 0 for w in waits[4:]), "a fifth request within the burst went through"
        # A refused request takes nothing: after the refill time either gateway lets one through.
        assert 0 < waits[4] <= 0.5 + 0.05
        await asyncio.sleep(0.6)
        assert await second.allow(7) == 0.0
        # Another token has a bucket of its own.
        assert await first.allow(8) == 0.0
    finally:
        first.close()
        second.close()
