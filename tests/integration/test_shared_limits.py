"""An API token's rate limit holds across gateways: two limiters on one database (two processes'
worth: on SQLite two connections to the side file) draw on the same bucket."""

from __future__ import annotations

import asyncio

import pytest

from hub.errors import NotAuthenticated
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


async def test_the_token_read_takes_from_the_bucket_only_for_its_secret(
    hub: Hub, logins: object
) -> None:
    """On PostgreSQL the token's read takes one request from the token's bucket in the same
    statement (a round trip fewer on every API call): from the bucket every gateway's limiter
    draws on, and only when the secret is the token's, so that guesses at it, a revoked token's
    calls or an unknown id take nothing of its holder's rate. On SQLite the read leaves the bucket
    to the limiter (its side file)."""
    limiter = RateLimiter(hub.db, rate_per_second=0.01, burst=3)
    bucket = limiter.bucket
    postgres = not hub.db.is_sqlite
    assert (bucket is not None) == postgres
    try:
        issued = await hub.tokens.issue(None, "DBY-POLICE", "Records system", ["packets:read"])
        secret = issued.secret
        prefix, token_id, right = secret.split("_", 2)
        for wrong in (f"{prefix}_{token_id}_{'A' * len(right)}", f"{prefix}_999999_{right}"):
            for _ in range(5):
                with pytest.raises(NotAuthenticated):
                    await hub.callers.authenticate_taking(wrong, bucket)
        caller, wait, _ = await hub.callers.authenticate_taking(secret, bucket)
        assert caller.token.id == int(token_id)
        if not postgres:
            assert wait is None  # not taken here: the gate asks the limiter
            return
        assert wait == 0.0
        assert await limiter.allow(int(token_id)) == 0.0  # the same bucket, drawn on by both
        caller, wait, _ = await hub.callers.authenticate_taking(secret, bucket)
        assert wait == 0.0  # the third of three: every wrong secret above took nothing
        caller, wait, _ = await hub.callers.authenticate_taking(secret, bucket)
        assert wait is not None and wait > 0
        assert await limiter.allow(int(token_id)) > 0
        # The plain read takes nothing (the CLI's and the tests' callers).
        assert (await hub.callers.authenticate(secret)).token.id == int(token_id)
        # A revoked token is refused, whatever its bucket holds.
        await hub.tokens.revoke(None, int(token_id))
        with pytest.raises(NotAuthenticated):
            await hub.callers.authenticate_taking(secret, bucket)
    finally:
        limiter.close()
