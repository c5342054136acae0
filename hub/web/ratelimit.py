"""A token bucket per API token, in process memory: over the rate is answered 429."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    level: float
    updated: float


@dataclass
class RateLimiter:
    rate_per_second: float
    burst: int
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def allow(self, key: int, now: float | None = None) -> float:
        """0.0 if a request may go now, else how many seconds until one may."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.level = min(
            float(self.burst), bucket.level + (now - bucket.updated) * self.rate_per_second
        )
        bucket.updated = now
        if bucket.level >= 1.0:
            bucket.level -= 1.0
            return 0.0
        return (1.0 - bucket.level) / self.rate_per_second
