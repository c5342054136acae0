"""Web sessions, stored server-side under the SHA-256 of the cookie value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
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
