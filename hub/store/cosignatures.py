"""Witnessing: the newest checkpoint of each peer this hub cosigned, and the cosignatures that
this hub's own checkpoints received from its peers. Peers themselves: ``hub.store.peers``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto.canonical import canonical_json
from hub.ledger.checkpoint import Checkpoint
from hub.ledger.cosignature import Cosignature
from hub.store.schema import checkpoint_cosignatures, peers, witnessed_checkpoints


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint of a peer's log that this hub cosigned."""

    peer_id: int
    peer_name: str
    checkpoint: Checkpoint
    cosignature: Cosignature


@dataclass(frozen=True)
class Received:
    """One of this hub's checkpoints with the cosignature a peer returned for it."""

    peer_id: int
    peer_name: str
    checkpoint: Checkpoint
    cosignature: Cosignature


def _json(data: bytes) -> Any:
    return json.loads(bytes(data))


# -- witness side ------------------------------------------------------------------------------


def _witnessed(row: object) -> Witnessed:
    r = dict(row)  # type: ignore[call-overload]
    return Witnessed(
        r["peer_id"],
        r["name"],
        Checkpoint.from_json(_json(r["checkpoint"])),
        Cosignature.from_json(_json(r["cosignature"])),
    )


def _with_names(table: Table) -> Select[Any]:
    return select(table, peers.c.name).join(peers, peers.c.id == table.c.peer_id)


async def witnessed_for(conn: AsyncConnection, peer_id: int) -> Witnessed | None:
    stmt = _with_names(witnessed_checkpoints).where(witnessed_checkpoints.c.peer_id == peer_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _witnessed(row) if row else None


async def all_witnessed(conn: AsyncConnection) -> list[Witnessed]:
    stmt = _with_names(witnessed_checkpoints).order_by(peers.c.name)
    return [_witnessed(r) for r in (await conn.execute(stmt)).mappings()]


async def advance_witnessed(
    conn: AsyncConnection,
    peer_id: int,
    previous: Checkpoint | None,
    checkpoint: Checkpoint,
    cosignature: Cosignature,
) -> bool:
    """Move the peer's witnessed state from ``previous`` to ``checkpoint``: a compare-and-set, so
    that two requests checked against the same old state cannot both move it (False if another
    one did first; the caller reports a conflict)."""
    values = {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root.hex(),
        "checkpoint": canonical_json(checkpoint.to_json()),
        "cosignature": canonical_json(cosignature.to_json()),
        "cosigned_at": cosignature.cosigned_at,
    }
    if previous is None:
        try:
            async with conn.begin_nested():
                await conn.execute(insert(witnessed_checkpoints).values(peer_id=peer_id, **values))
        except IntegrityError:
            return False
        return True
    result = await conn.execute(
        update(witnessed_checkpoints)
        .where(
            witnessed_checkpoints.c.peer_id == peer_id,
            witnessed_checkpoints.c.tree_size == previous.tree_size,
            witnessed_checkpoints.c.root_hash == previous.root.hex(),
            witnessed_checkpoints.c.checkpoint == canonical_json(previous.to_json()),
        )
        .values(**values)
    )
    return bool(result.rowcount)


# -- log side ----------------------------------------------------------------------------------


async def latest_received(conn: AsyncConnection, peer_id: int) -> Received | None:
    """The newest of this hub's checkpoints that the peer cosigned."""
    c = checkpoint_cosignatures.c
    stmt = (
        _with_names(checkpoint_cosignatures)
        .where(c.peer_id == peer_id)
        .order_by(c.tree_size.desc())
        .limit(1)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return _received(row) if row else None


def _received(row: object) -> Received:
    r = dict(row)  # type: ignore[call-overload]
    return Received(
        r["peer_id"],
        r["name"],
        Checkpoint.from_json(_json(r["checkpoint"])),
        Cosignature.from_json(_json(r["cosignature"])),
    )


async def add_received(
    conn: AsyncConnection, peer_id: int, checkpoint: Checkpoint, cosignature: Cosignature
) -> None:
    """Keep a cosignature of this hub's checkpoint (a newer one from the same peer at the same size
    replaces the older)."""
    c = checkpoint_cosignatures.c
    values = {
        "root_hash": checkpoint.root.hex(),
        "checkpoint": canonical_json(checkpoint.to_json()),
        "witness_key": cosignature.witness_key.hex(),
        "cosignature": canonical_json(cosignature.to_json()),
        "cosigned_at": cosignature.cosigned_at,
    }
    where = (c.peer_id == peer_id) & (c.tree_size == checkpoint.tree_size)
    result = await conn.execute(update(checkpoint_cosignatures).where(where).values(**values))
    if not result.rowcount:
        await conn.execute(
            insert(checkpoint_cosignatures).values(
                peer_id=peer_id, tree_size=checkpoint.tree_size, **values
            )
        )


async def all_received(conn: AsyncConnection) -> list[Received]:
    """Every cosignature this hub's checkpoints received, oldest first, peer by peer."""
    c = checkpoint_cosignatures.c
    stmt = _with_names(checkpoint_cosignatures).order_by(peers.c.name, c.tree_size)
    return [_received(r) for r in (await conn.execute(stmt)).mappings()]
