"""Recovery codes: a keyed digest of each, per person; a used code keeps its row, stamped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import recovery_codes


async def replace(
    conn: AsyncConnection, user_id: int, digests: Sequence[str], now: datetime
) -> None:
    """A new set for ``user_id``: every earlier code, used or not, stops working."""
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    if digests:
        await conn.execute(
            insert(recovery_codes),
            [{"user_id": user_id, "code_digest": d, "created_at": now} for d in digests],
        )


async def remove(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))


async def unused(conn: AsyncConnection, user_id: int) -> list[tuple[int, str]]:
    """(id, digest) of each code of ``user_id`` not yet used."""
    result = await conn.execute(
        select(recovery_codes.c.id, recovery_codes.c.code_digest)
        .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
        .order_by(recovery_codes.c.id)
    )
    return [(r.id, r.code_digest) for r in result]


async def count_unused(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(recovery_codes)
        .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
    )
    return int(result.scalar_one())


async def counts_unused(conn: AsyncConnection, user_ids: Sequence[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    result = await conn.execute(
        select(recovery_codes.c.user_id, func.count())
        .where(recovery_codes.c.user_id.in_(list(user_ids)), recovery_codes.c.used_at.is_(None))
        .group_by(recovery_codes.c.user_id)
    )
    return {int(uid): int(n) for uid, n in result.all()}


async def use(conn: AsyncConnection, code_id: int, now: datetime) -> bool:
    """Mark a code used, only if it was not: a code works once, even in a race."""
    result = await conn.execute(
        update(recovery_codes)
        .where(recovery_codes.c.id == code_id, recovery_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount == 1)
