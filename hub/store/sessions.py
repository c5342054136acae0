"""Web sessions, stored server-side under the SHA-256 of the cookie value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import web_sessions


@dataclass(frozen=True)
class SessionRow:
    token_hash: str
    user_id: int | None
    stage: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


async def insert_session(conn: AsyncConnection, row: SessionRow) -> None:
    await conn.execute(
        insert(web_sessions).values(
            token_hash=row.token_hash,
            user_id=row.user_id,
            stage=row.stage,
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
        )
    )


async def session_by_hash(conn: AsyncConnection, token_hash: str) -> SessionRow | None:
    stmt = select(web_sessions).where(web_sessions.c.token_hash == token_hash)
    row = (await conn.execute(stmt)).mappings().first()
    return SessionRow(**dict(row)) if row else None


async def touch(
    conn: AsyncConnection, token_hash: str, when: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        update(web_sessions)
        .where(web_sessions.c.token_hash == token_hash)
        .values(last_seen_at=when, expires_at=expires_at)
    )


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == token_hash))


async def delete_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
    return int(result.rowcount)


async def delete_user_sessions(
    conn: AsyncConnection, user_id: int, keep_hash: str | None = None
) -> int:
    """End every session of ``user_id`` (signed in or half-way), except ``keep_hash``."""
    stmt = delete(web_sessions).where(web_sessions.c.user_id == user_id)
    if keep_hash is not None:
        stmt = stmt.where(web_sessions.c.token_hash != keep_hash)
    result = await conn.execute(stmt)
    return int(result.rowcount or 0)


async def live_counts(
    conn: AsyncConnection, user_ids: Sequence[int], stage: str, now: datetime
) -> dict[int, int]:
    """How many unexpired sessions at ``stage`` each of ``user_ids`` has."""
    if not user_ids:
        return {}
    result = await conn.execute(
        select(web_sessions.c.user_id, func.count())
        .where(
            web_sessions.c.user_id.in_(list(user_ids)),
            web_sessions.c.stage == stage,
            web_sessions.c.expires_at > now,
        )
        .group_by(web_sessions.c.user_id)
    )
    return {int(uid): int(n) for uid, n in result.all()}
