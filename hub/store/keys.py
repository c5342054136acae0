"""Agency key pairs (public halves in clear, private halves wrapped under the KEK)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import agency_keys, hub_keys


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    agency_id: int
    purpose: str
    public_key: bytes
    # None for a public key imported for an agency whose own system holds the private key.
    wrapped_private: bytes | None
    kek_id: str | None
    created_at: datetime
    retired_at: datetime | None

    @property
    def active(self) -> bool:
        return self.retired_at is None

    @property
    def held_by_hub(self) -> bool:
        return self.wrapped_private is not None


async def add_key(
    conn: AsyncConnection,
    *,
    key_id: str,
    agency_id: int,
    purpose: str,
    public_key: bytes,
    wrapped_private: bytes | None,
    kek_id: str | None,
    created_at: datetime,
) -> None:
    await conn.execute(
        insert(agency_keys).values(
            key_id=key_id,
            agency_id=agency_id,
            purpose=purpose,
            public_key=public_key,
            wrapped_private=wrapped_private,
            kek_id=kek_id,
            created_at=created_at,
        )
    )


async def retire_active(
    conn: AsyncConnection, agency_id: int, purpose: str, when: datetime
) -> None:
    await conn.execute(
        update(agency_keys)
        .where(
            agency_keys.c.agency_id == agency_id,
            agency_keys.c.purpose == purpose,
            agency_keys.c.retired_at.is_(None),
        )
        .values(retired_at=when)
    )


async def all_keys(conn: AsyncConnection) -> list[StoredKey]:
    result = await conn.execute(select(agency_keys).order_by(agency_keys.c.created_at))
    return [StoredKey(**dict(r)) for r in result.mappings()]


async def key_by_id(conn: AsyncConnection, key_id: str) -> StoredKey | None:
    row = (
        (await conn.execute(select(agency_keys).where(agency_keys.c.key_id == key_id)))
        .mappings()
        .first()
    )
    return None if row is None else StoredKey(**dict(row))


async def keys_for_agency(conn: AsyncConnection, agency_id: int) -> list[StoredKey]:
    result = await conn.execute(
        select(agency_keys)
        .where(agency_keys.c.agency_id == agency_id)
        .order_by(agency_keys.c.created_at)
    )
    return [StoredKey(**dict(r)) for r in result.mappings()]


async def kek_ids(conn: AsyncConnection) -> set[str]:
    """The ids of every KEK that some stored private key is wrapped under."""
    agencies = await conn.execute(select(agency_keys.c.kek_id).distinct())
    hub = await conn.execute(select(hub_keys.c.kek_id).distinct())
    found = {k for (k,) in agencies.all()} | {k for (k,) in hub.all()}
    return {str(k) for k in found if k is not None}  # imported public keys wrap nothing
