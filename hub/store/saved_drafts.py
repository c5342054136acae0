"""Saved drafts: one sealed blob per half-written packet, found by its owner.

Every statement names the owner as well as the draft id, so that a draft id alone opens, changes or
deletes nothing: the service passes the signed-in user's id, never one taken from the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import saved_drafts


@dataclass(frozen=True)
class SavedDraftRow:
    id: str
    owner_user_id: int
    agency_id: int
    packet_type: str
    sealed: bytes
    size: int
    created_at: datetime
    updated_at: datetime


def _row(r: RowMapping) -> SavedDraftRow:
    return SavedDraftRow(**{name: r[name] for name in SavedDraftRow.__dataclass_fields__})


async def insert_draft(conn: AsyncConnection, row: SavedDraftRow) -> None:
    await conn.execute(
        insert(saved_drafts).values(
            {name: getattr(row, name) for name in SavedDraftRow.__dataclass_fields__}
        )
    )


async def replace_sealed(
    conn: AsyncConnection,
    draft_id: str,
    owner_user_id: int,
    *,
    packet_type: str,
    sealed: bytes,
    size: int,
    updated_at: datetime,
) -> bool:
    """Store a draft's new sealed content; False when the owner has no such draft."""
    result = await conn.execute(
        update(saved_drafts)
        .where(saved_drafts.c.id == draft_id, saved_drafts.c.owner_user_id == owner_user_id)
        .values(packet_type=packet_type, sealed=sealed, size=size, updated_at=updated_at)
    )
    return bool(result.rowcount)


async def draft_of(
    conn: AsyncConnection, draft_id: str, owner_user_id: int
) -> SavedDraftRow | None:
    stmt = select(saved_drafts).where(
        saved_drafts.c.id == draft_id, saved_drafts.c.owner_user_id == owner_user_id
    )
    found = (await conn.execute(stmt)).mappings().first()
    return _row(found) if found is not None else None


async def drafts_of(
    conn: AsyncConnection, owner_user_id: int, limit: int
) -> Sequence[SavedDraftRow]:
    """The owner's drafts, the most recently saved first (ix_saved_drafts_owner)."""
    stmt = (
        select(saved_drafts)
        .where(saved_drafts.c.owner_user_id == owner_user_id)
        .order_by(saved_drafts.c.updated_at.desc(), saved_drafts.c.id)
        .limit(limit)
    )
    return [_row(r) for r in (await conn.execute(stmt)).mappings()]


async def count_of(conn: AsyncConnection, owner_user_id: int, agency_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(saved_drafts)
        .where(saved_drafts.c.owner_user_id == owner_user_id, saved_drafts.c.agency_id == agency_id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def delete_draft(conn: AsyncConnection, draft_id: str, owner_user_id: int) -> bool:
    """Delete one of the owner's drafts; False when the owner has no such draft."""
    result = await conn.execute(
        delete(saved_drafts).where(
            saved_drafts.c.id == draft_id, saved_drafts.c.owner_user_id == owner_user_id
        )
    )
    return bool(result.rowcount)
