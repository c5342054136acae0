"""One injected clock: nothing in the hub calls ``datetime.now()`` itself, so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def utc_text(when: datetime) -> str:
    """``when`` as the hub writes an instant into what it signs and logs (a packet's header, a log
    entry, a digest): UTC to the microsecond, "2026-12-06T23:53:11.123456Z". The text
    ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` writes, in about half its time (twice on every share);
    before the year 1000 by ``strftime`` itself, whose year is not padded to four digits there,
    so that what was signed so stays what is recomputed (the log's checks refuse "0999")."""
    utc = when.astimezone(UTC)
    if utc.year < 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat("T", "microseconds")[:-6] + "Z"


class ManualClock:
    """A clock that only moves when told to (tests, demos of deadlines)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = when
