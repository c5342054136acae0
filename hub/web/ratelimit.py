"""API rate limits per token, shared by every gateway: over the rate is answered 429.

A token bucket of ``burst`` requests refilled at ``rate_per_second``, kept in the database
(hub.store.rate_limits) so that a client spreading its requests over several gateways gets the
same rate as one talking to a single gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import rate_limits as store
from hub.store.database import Database


@dataclass
class RateLimiter:
    db: Database
    rate_per_second: float
    burst: int
    _side: store.SideFile | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.db.is_sqlite:
            database = self.db.engine.url.database
            path = None if not database or database == ":memory:" else Path(database + ".limits")
            self._side = store.SideFile(path)

    @property
    def bucket(self) -> store.Bucket | None:
        """PostgreSQL: the buckets' size and rate, for the token's read to take one request
        with it (``ApiCallers.authenticate_taking``); None on SQLite (its side file)."""
        return None if self._side is not None else store.Bucket(self.rate_per_second, self.burst)

    async def allow(self, token_id: int) -> float:
        """0.0 if a request may go now, else how many seconds until one may."""
        if self._side is not None:
            return await self._side.take(token_id, self.rate_per_second, self.burst)

        # One statement outside any transaction: one round trip, and (the table being UNLOGGED)
        # no wait for the WAL to reach the disk; on a connection kept between requests.
        async def take(conn: AsyncConnection) -> float:
            return await store.take(conn, token_id, self.rate_per_second, self.burst)

        return await self.db.run_on_driver(take)

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
