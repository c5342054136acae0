"""The archive of policy versions the hub has run with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import policy_versions


async def archive_version(conn: AsyncConnection, digest: str, files: bytes, when: datetime) -> bool:
    """Store a version's files unless already stored; True if it is new."""
    found = await conn.execute(
        select(policy_versions.c.digest).where(policy_versions.c.digest == digest)
    )
    if found.first() is not None:
        return False
    await conn.execute(
        insert(policy_versions).values(digest=digest, first_loaded_at=when, files=files)
    )
    return True


async def version_files(conn: AsyncConnection, digest: str) -> bytes | None:
    stmt = select(policy_versions.c.files).where(policy_versions.c.digest == digest)
    row = (await conn.execute(stmt)).first()
    return bytes(row[0]) if row else None


async def list_versions(conn: AsyncConnection) -> list[tuple[str, datetime]]:
    stmt = select(policy_versions.c.digest, policy_versions.c.first_loaded_at).order_by(
        policy_versions.c.first_loaded_at
    )
    return [(d, t) for d, t in (await conn.execute(stmt)).all()]
