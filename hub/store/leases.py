"""Leases on background jobs, timed by the database's clock (one clock for every gateway).

Each statement is a compare-and-set on the job's one row, so two processes asking at once cannot
both win: the row's lock (PostgreSQL) or the write lock (SQLite) orders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import leases

# Seconds since the epoch, now, on the database's clock (clock_timestamp: not the transaction's
# start, which a long transaction would leave behind).
_NOW = {
    "postgresql": "extract(epoch from clock_timestamp())",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}


def db_now(dialect: str) -> ColumnElement[float]:
    return literal_column(_NOW[dialect], Float)


def upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT for this dialect (both speak it, in SQLAlchemy's two spellings)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@dataclass(frozen=True)
class LeaseRow:
    name: str
    holder: str
    epoch: int
    acquired_at: float
    expires_at: float


async def take(
    conn: AsyncConnection, name: str, holder: str, seconds: float
) -> tuple[int, float] | None:
    """Take the lease if nobody holds it or its holder's time ran out, or renew it if ``holder``
    already has it: (epoch, seconds left), or None if another process holds it."""
    now = db_now(conn.dialect.name)
    created = await conn.execute(
        upsert(conn.dialect.name)(leases)
        .values(name=name, holder=holder, epoch=1, acquired_at=now, expires_at=now + seconds)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(leases.c.epoch, leases.c.expires_at - leases.c.acquired_at)
    )
    row = created.first()
    if row is None:
        mine = leases.c.holder == holder
        taken = await conn.execute(
            update(leases)
            .where(leases.c.name == name, or_(mine, leases.c.expires_at <= now))
            .values(
                epoch=case((mine, leases.c.epoch), else_=leases.c.epoch + 1),
                acquired_at=case((mine, leases.c.acquired_at), else_=now),
                holder=holder,
                expires_at=now + seconds,
            )
            .returning(leases.c.epoch, leases.c.expires_at - now)
        )
        row = taken.first()
    return None if row is None else (int(row[0]), float(row[1]))


def _held(name: str, holder: str, epoch: int) -> ColumnElement[bool]:
    return and_(leases.c.name == name, leases.c.holder == holder, leases.c.epoch == epoch)


async def renew(
    conn: AsyncConnection, name: str, holder: str, epoch: int, seconds: float
) -> float | None:
    """Extend a lease this holder still has at this epoch: the seconds left, else None."""
    now = db_now(conn.dialect.name)
    result = await conn.execute(
        update(leases)
        .where(_held(name, holder, epoch))
        .values(expires_at=now + seconds)
        .returning(leases.c.expires_at - now)
    )
    row = result.first()
    return None if row is None else float(row[0])


async def release(conn: AsyncConnection, name: str, holder: str, epoch: int) -> None:
    """End the lease now, so that another process need not wait for it to run out."""
    now = db_now(conn.dialect.name)
    await conn.execute(update(leases).where(_held(name, holder, epoch)).values(expires_at=now))


async def still_held(conn: AsyncConnection, name: str, holder: str, epoch: int) -> bool:
    """Inside a job's write transaction: does this holder still hold the lease? On PostgreSQL
    the row stays locked until the transaction ends, so no one can take the lease over while
    the job's work commits (a fence, not only a check)."""
    now = db_now(conn.dialect.name)
    query = select(leases.c.epoch).where(_held(name, holder, epoch), leases.c.expires_at > now)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first() is not None


async def all_leases(conn: AsyncConnection) -> list[tuple[LeaseRow, float]]:
    """Every lease, with the seconds it has left on the database's clock (negative: ran out)."""
    now = db_now(conn.dialect.name)
    result = await conn.execute(
        select(
            leases.c.name, leases.c.holder, leases.c.epoch, leases.c.acquired_at,
            leases.c.expires_at, leases.c.expires_at - now,
        ).order_by(leases.c.name)
    )  # fmt: skip
    return [(LeaseRow(*row[:5]), float(row[5])) for row in result]
