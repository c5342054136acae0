"""Failed sign-ins per keyed digest of the username typed, whether or not an account has it.

The auth service computes the digest (HMAC-SHA256 under a key derived from the KEK), so the table
never holds a username in clear and cannot be matched against a list of usernames without the
KEK. A row counts failures until the threshold, then holds the lock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import login_throttle


@dataclass(frozen=True)
class ThrottleRow:
    username_digest: str
    failures: int
    locked_until: datetime | None
    updated_at: datetime


async def get(conn: AsyncConnection, digest: str) -> ThrottleRow | None:
    row = (
        (
            await conn.execute(
                select(login_throttle).where(login_throttle.c.username_digest == digest)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else ThrottleRow(**dict(row))


async def count_failure(conn: AsyncConnection, digest: str, now: datetime) -> int:
    """Add one failure and return the new count: one statement, so that parallel wrong guesses
    are all counted (as ``directory.count_failure`` does for an account)."""
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    first = dialect_insert(login_throttle).values(
        username_digest=digest, failures=1, locked_until=None, updated_at=now
    )
    upsert = first.on_conflict_do_update(
        index_elements=[login_throttle.c.username_digest],
        set_={"failures": login_throttle.c.failures + 1, "updated_at": now},
    ).returning(login_throttle.c.failures)
    return int((await conn.execute(upsert)).scalar_one())


async def lock(conn: AsyncConnection, digest: str, until: datetime, now: datetime) -> None:
    """Lock the username until ``until``; the count starts again from nought."""
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    values = {"failures": 0, "locked_until": until, "updated_at": now}
    stmt = dialect_insert(login_throttle).values(username_digest=digest, **values)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=[login_throttle.c.username_digest], set_=values)
    )


async def clear(conn: AsyncConnection, digest: str) -> None:
    """Forget the failures of a username that has just signed in."""
    await conn.execute(delete(login_throttle).where(login_throttle.c.username_digest == digest))


async def sweep(conn: AsyncConnection, quiet_since: datetime, now: datetime) -> int:
    """Forget usernames with no failure since ``quiet_since`` and no lock in force: keeps the
    table bounded by recent attempts, however many names are typed."""
    result = await conn.execute(
        delete(login_throttle).where(
            login_throttle.c.updated_at < quiet_since,
            (login_throttle.c.locked_until.is_(None)) | (login_throttle.c.locked_until <= now),
        )
    )
    return int(result.rowcount or 0)
