"""Pinned peer hubs, their signed directory documents, and the nonces of their signed calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import peer_nonces, peers


@dataclass(frozen=True)
class StoredPeer:
    id: int
    name: str
    url: str
    signing_key: bytes
    fingerprint: str
    active: bool
    directory: bytes | None
    directory_fetched_at: datetime | None
    added_at: datetime


def _peer(row: object) -> StoredPeer:
    r = dict(row)  # type: ignore[call-overload]
    return StoredPeer(
        id=int(r["id"]),
        name=r["name"],
        url=r["url"],
        signing_key=bytes.fromhex(r["signing_key"]),
        fingerprint=r["fingerprint"],
        active=bool(r["active"]),
        directory=bytes(r["directory"]) if r["directory"] is not None else None,
        directory_fetched_at=r["directory_fetched_at"],
        added_at=r["added_at"],
    )


async def all_peers(conn: AsyncConnection) -> list[StoredPeer]:
    result = await conn.execute(select(peers).order_by(peers.c.name))
    return [_peer(r) for r in result.mappings()]


async def peer_by_name_or_fingerprint(conn: AsyncConnection, which: str) -> StoredPeer | None:
    """By name, or by fingerprint (full, lower-case hex). Inactive peers too: callers decide."""
    stmt = select(peers).where(or_(peers.c.name == which, peers.c.fingerprint == which.lower()))
    row = (await conn.execute(stmt)).mappings().first()
    return _peer(row) if row else None


async def peer_by_key(conn: AsyncConnection, public_key: bytes) -> StoredPeer | None:
    stmt = select(peers).where(peers.c.signing_key == public_key.hex())
    row = (await conn.execute(stmt)).mappings().first()
    return _peer(row) if row else None


async def add_peer(
    conn: AsyncConnection, name: str, url: str, key: bytes, fingerprint: str, when: datetime
) -> StoredPeer:
    values = {
        "name": name,
        "url": url,
        "signing_key": key.hex(),
        "fingerprint": fingerprint,
        "active": True,
        "added_at": when,
    }
    result = await conn.execute(insert(peers).values(**values).returning(peers.c.id))
    return StoredPeer(int(result.scalar_one()), name, url, key, fingerprint, True, None, None, when)


async def repin_peer(
    conn: AsyncConnection, peer_id: int, url: str, key: bytes, fingerprint: str, when: datetime
) -> None:
    """A removed peer pinned again (perhaps with a new key): its old directory goes with it."""
    await conn.execute(
        update(peers)
        .where(peers.c.id == peer_id)
        .values(
            url=url,
            signing_key=key.hex(),
            fingerprint=fingerprint,
            active=True,
            directory=None,
            directory_fetched_at=None,
            added_at=when,
        )
    )


async def deactivate_peer(conn: AsyncConnection, peer_id: int) -> None:
    """Peers are never deleted: transfers, cosignatures and the log refer to them."""
    await conn.execute(
        update(peers)
        .where(peers.c.id == peer_id)
        .values(active=False, directory=None, directory_fetched_at=None)
    )


async def store_directory(
    conn: AsyncConnection, peer_id: int, document: bytes, when: datetime
) -> None:
    await conn.execute(
        update(peers)
        .where(peers.c.id == peer_id)
        .values(directory=document, directory_fetched_at=when)
    )


async def remember_nonce(conn: AsyncConnection, peer_id: int, nonce: str, when: datetime) -> bool:
    """Record a request's nonce; False if this peer used it before (a replay)."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(peer_nonces).values(peer_id=peer_id, nonce=nonce, seen_at=when)
            )
    except IntegrityError:
        return False
    return True


async def forget_nonces_before(conn: AsyncConnection, when: datetime) -> int:
    """Nonces whose requests are too old to be accepted anyway need not be kept."""
    result = await conn.execute(delete(peer_nonces).where(peer_nonces.c.seen_at < when))
    return int(result.rowcount or 0)
