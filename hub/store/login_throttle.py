"""Failed sign-ins per keyed digest: of a username typed (an account's or not), of a browser's
device cookie, or of a client address.

The throttle service (hub.services.login_throttle) computes the digests (HMAC-SHA256 under a key
derived from the KEK), so the table never holds a username or an address in clear and cannot be
matched against a list of them without the KEK. A row counts failures and holds the time before
which no attempt on it is checked (``not_before``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import login_throttle


@dataclass(frozen=True)
class ThrottleRow:
    digest: str
    failures: int
    not_before: datetime | None
    updated_at: datetime


async def get_many(conn: AsyncConnection, digests: Iterable[str]) -> dict[str, ThrottleRow]:
    wanted = list(digests)
    if not wanted:
        return {}
    result = await conn.execute(select(login_throttle).where(login_throttle.c.digest.in_(wanted)))
    return {r["digest"]: ThrottleRow(**dict(r)) for r in result.mappings()}


async def count_failure(conn: AsyncConnection, digest: str, now: datetime) -> int:
    """Add one failure and return the new count: one statement, so that parallel attempts are all
    counted (and, on PostgreSQL, queue behind the row's lock until this transaction ends)."""
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    first = dialect_insert(login_throttle).values(
        digest=digest, failures=1, not_before=None, updated_at=now
    )
    upsert = first.on_conflict_do_update(
        index_elements=[login_throttle.c.digest],
        set_={"failures": login_throttle.c.failures + 1, "updated_at": now},
    ).returning(login_throttle.c.failures)
    return int((await conn.execute(upsert)).scalar_one())


async def hold(conn: AsyncConnection, digest: str, not_before: datetime) -> None:
    """No attempt on ``digest`` is checked before ``not_before``."""
    await conn.execute(
        update(login_throttle)
        .where(login_throttle.c.digest == digest)
        .values(not_before=not_before)
    )


async def clear(conn: AsyncConnection, digests: Iterable[str]) -> None:
    """Forget the failures of a username or a browser that has just signed in."""
    wanted = list(digests)
    if wanted:
        await conn.execute(delete(login_throttle).where(login_throttle.c.digest.in_(wanted)))


async def uncount(conn: AsyncConnection, digests: Iterable[str]) -> None:
    """Take back one failure counted in advance for an attempt that has now succeeded."""
    wanted = list(digests)
    if wanted:
        await conn.execute(
            update(login_throttle)
            .where(login_throttle.c.digest.in_(wanted), login_throttle.c.failures > 0)
            .values(failures=login_throttle.c.failures - 1)
        )


def _quiet(quiet_since: datetime, now: datetime) -> ColumnElement[bool]:
    return and_(
        login_throttle.c.updated_at < quiet_since,
        or_(login_throttle.c.not_before.is_(None), login_throttle.c.not_before <= now),
    )


async def sweep(conn: AsyncConnection, quiet_since: datetime, now: datetime) -> int:
    """Forget digests with no failure since ``quiet_since`` and no wait in force: keeps the table
    bounded by recent attempts, however many names are typed."""
    result = await conn.execute(delete(login_throttle).where(_quiet(quiet_since, now)))
    return int(result.rowcount or 0)


async def forget_if_quiet(
    conn: AsyncConnection, digest: str, quiet_since: datetime, now: datetime
) -> None:
    """Start one digest's count again if it has had no failure since ``quiet_since``."""
    await conn.execute(
        delete(login_throttle).where(login_throttle.c.digest == digest, _quiet(quiet_since, now))
    )
