"""The hub's signing keys and the signed checkpoints over the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.ledger import driver_connection
from hub.store.schema import hub_keys, ledger_checkpoints, ledger_entries


@dataclass(frozen=True)
class StoredHubKey:
    key_id: str
    public_key: bytes
    wrapped_private: bytes
    kek_id: str
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: str
    signed_at: datetime
    key_id: str
    body: bytes
    signature: bytes


async def add_hub_key(conn: AsyncConnection, key: StoredHubKey) -> None:
    await conn.execute(insert(hub_keys).values(**key.__dict__))


async def all_hub_keys(conn: AsyncConnection) -> list[StoredHubKey]:
    result = await conn.execute(select(hub_keys).order_by(hub_keys.c.created_at))
    return [
        StoredHubKey(
            **{
                **dict(r),
                "public_key": bytes(r["public_key"]),
                "wrapped_private": bytes(r["wrapped_private"]),
            }
        )
        for r in result.mappings()
    ]


async def add_checkpoint(conn: AsyncConnection, cp: StoredCheckpoint) -> None:
    await conn.execute(insert(ledger_checkpoints).values(**cp.__dict__))


def _checkpoint(row: object) -> StoredCheckpoint:
    r = dict(row)  # type: ignore[call-overload]
    return StoredCheckpoint(
        tree_size=int(r["tree_size"]),
        root_hash=r["root_hash"],
        signed_at=r["signed_at"],
        key_id=r["key_id"],
        body=bytes(r["body"]),
        signature=bytes(r["signature"]),
    )


async def checkpoint_at(conn: AsyncConnection, tree_size: int) -> StoredCheckpoint | None:
    stmt = select(ledger_checkpoints).where(ledger_checkpoints.c.tree_size == tree_size)
    row = (await conn.execute(stmt)).mappings().first()
    return _checkpoint(row) if row else None


async def latest_checkpoint(conn: AsyncConnection) -> StoredCheckpoint | None:
    stmt = select(ledger_checkpoints).order_by(ledger_checkpoints.c.tree_size.desc()).limit(1)
    row = (await conn.execute(stmt)).mappings().first()
    return _checkpoint(row) if row else None


async def all_checkpoints(conn: AsyncConnection) -> list[StoredCheckpoint]:
    stmt = select(ledger_checkpoints).order_by(ledger_checkpoints.c.tree_size)
    return [_checkpoint(r) for r in (await conn.execute(stmt)).mappings()]


async def leaf_hashes(conn: AsyncConnection, after: int, upto: int) -> bytes:
    """Entry hashes of seq in (after, upto], in order, packed as raw bytes (32 each)."""
    return b"".join([batch async for batch in leaf_hash_batches(conn, after, upto)])


async def leaf_hash_batches(conn: AsyncConnection, after: int, upto: int) -> AsyncIterator[bytes]:
    """``leaf_hashes`` a batch at a time, so that a caller building a tree never holds a second
    copy of a million hashes (the first checkpoint after a start reads them all).

    Read through the driver, a million hashes take a fraction of a second (SQLAlchemy rows and
    one ``bytes`` each took seconds).
    """
    driver = await driver_connection(conn)
    for lo in range(after, upto, _LEAF_BATCH):
        hi = min(lo + _LEAF_BATCH, upto)
        if conn.dialect.name == "sqlite":
            cursor = await driver.execute(_SQLITE_LEAVES, (lo, hi))
            try:
                rows = await cursor.fetchall()
            finally:
                await cursor.close()
        else:
            rows = await driver.fetch(_POSTGRES_LEAVES, lo, hi)
        yield bytes.fromhex("".join([row[0] for row in rows]))


_LEAF_BATCH = 100_000
_SQLITE_LEAVES = "SELECT entry_hash FROM ledger_entries WHERE seq > ? AND seq <= ? ORDER BY seq"
_POSTGRES_LEAVES = "SELECT entry_hash FROM ledger_entries WHERE seq > $1 AND seq <= $2 ORDER BY seq"


async def entry_by_seq(conn: AsyncConnection, seq: int) -> bytes | None:
    stmt = select(ledger_entries.c.entry).where(ledger_entries.c.seq == seq)
    row = (await conn.execute(stmt)).first()
    return bytes(row[0]) if row else None


async def sent_entry_seq(conn: AsyncConnection, packet_id: str) -> int | None:
    stmt = (
        select(ledger_entries.c.seq)
        # A share held for approval is disclosed when released, not when proposed.
        .where(
            ledger_entries.c.packet_id == packet_id,
            ledger_entries.c.event.in_(("packet-sent", "share-released")),
        )
        .limit(1)
    )
    row = (await conn.execute(stmt)).first()
    return int(row[0]) if row else None
