"""Shares held for approval: the held share, its approvers' decisions, and the packet's flag."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import held_share_decisions, held_shares, packet_recipients, packets

AWAITING, RELEASED, REFUSED = "awaiting", "released", "refused"


@dataclass(frozen=True)
class Need:
    """Approvals wanted from one role of one area, and the policy rules that asked for them."""

    role: str
    area_id: int
    count: int
    rules: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "area_id": self.area_id,
            "count": self.count,
            "rules": list(self.rules),
        }


@dataclass(frozen=True)
class HeldShareRow:
    id: int
    packet_id: str
    case_id: int
    area_id: int
    proposer_user_id: int
    proposer_person_id: int
    proposer_token_id: int | None
    proposer_agency_id: int
    status: str
    restricted_reason: str | None
    approvals_needed: tuple[Need, ...]
    policy_version: str
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class HeldDecisionRow:
    id: int
    held_share_id: int
    approver_user_id: int
    approver_person_id: int
    approver_agency_id: int
    role: str
    area_id: int
    decision: str
    reasons: str
    decided_at: datetime


def _share(r: RowMapping) -> HeldShareRow:
    values = {name: r[name] for name in HeldShareRow.__dataclass_fields__}
    values["approvals_needed"] = tuple(
        Need(str(n["role"]), int(n["area_id"]), int(n["count"]), tuple(n["rules"]))
        for n in json.loads(r["approvals_needed"])
    )
    return HeldShareRow(**values)


def _decision(r: RowMapping) -> HeldDecisionRow:
    return HeldDecisionRow(**{name: r[name] for name in HeldDecisionRow.__dataclass_fields__})


async def insert_share(conn: AsyncConnection, needs: Sequence[Need], **values: Any) -> int:
    """The held share, and its packet marked held, in the caller's transaction."""
    await conn.execute(update(packets).where(packets.c.id == values["packet_id"]).values(held=True))
    # The recipient rows' copy (migration 0027): the inboxes' index ranges by it, so while held
    # the rows fall outside every inbox's range and count.
    await conn.execute(
        update(packet_recipients)
        .where(packet_recipients.c.packet_id == values["packet_id"])
        .values(held=True)
    )
    result = await conn.execute(
        insert(held_shares)
        .values(
            approvals_needed=json.dumps([n.to_json() for n in needs]), status=AWAITING, **values
        )
        .returning(held_shares.c.id)
    )
    return int(result.scalar_one())


async def share_by_id(
    conn: AsyncConnection, share_id: int, *, for_update: bool = False
) -> HeldShareRow | None:
    """``for_update`` locks the row (PostgreSQL) so that concurrent decisions on one share are
    made one after the other, each seeing the others' (SQLite writers are serialised anyway)."""
    stmt = select(held_shares).where(held_shares.c.id == share_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return _share(row) if row else None


async def share_for_packet(conn: AsyncConnection, packet_id: str) -> HeldShareRow | None:
    stmt = select(held_shares).where(held_shares.c.packet_id == packet_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _share(row) if row else None


async def awaiting(conn: AsyncConnection, limit: int = 500) -> list[HeldShareRow]:
    """Every share still awaiting approval, oldest first (the approvers' queues filter these:
    few shares need approval, and who may decide depends on the approvals each one wants)."""
    stmt = (
        select(held_shares)
        .where(held_shares.c.status == AWAITING)
        .order_by(held_shares.c.created_at, held_shares.c.id)
        .limit(limit)
    )
    return [_share(r) for r in (await conn.execute(stmt)).mappings()]


async def proposed_by_agency(
    conn: AsyncConnection, agency_id: int, *, unreleased: bool = False, limit: int = 100
) -> list[HeldShareRow]:
    """An agency's shares held for approval, newest first: whatever became of them, or only those
    not released (awaiting or refused)."""
    stmt = (
        select(held_shares)
        .where(held_shares.c.proposer_agency_id == agency_id)
        .order_by(held_shares.c.created_at.desc(), held_shares.c.id.desc())
        .limit(limit)
    )
    if unreleased:
        stmt = stmt.where(held_shares.c.status != RELEASED)
    return [_share(r) for r in (await conn.execute(stmt)).mappings()]


async def close_share(conn: AsyncConnection, share_id: int, status: str, when: datetime) -> bool:
    """Move an awaiting share to ``status``; False if someone else closed it first."""
    result = await conn.execute(
        update(held_shares)
        .where(held_shares.c.id == share_id, held_shares.c.status == AWAITING)
        .values(status=status, closed_at=when)
    )
    return bool(result.rowcount)


async def release_packet(conn: AsyncConnection, packet_id: str, when: datetime) -> None:
    """The packet reaches its recipients: listed and opened from now on, and in their inboxes at
    the time it was released (an inbox is ordered by arrival), not when it was proposed."""
    await conn.execute(update(packets).where(packets.c.id == packet_id).values(held=False))
    await conn.execute(
        update(packet_recipients)
        .where(packet_recipients.c.packet_id == packet_id)
        .values(created_at=when, held=False)
    )


async def insert_decision(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(held_share_decisions).values(**values))


async def decisions_for(conn: AsyncConnection, share_ids: Sequence[int]) -> list[HeldDecisionRow]:
    if not share_ids:
        return []
    stmt = (
        select(held_share_decisions)
        .where(held_share_decisions.c.held_share_id.in_(list(share_ids)))
        .order_by(held_share_decisions.c.decided_at, held_share_decisions.c.id)
    )
    return [_decision(r) for r in (await conn.execute(stmt)).mappings()]
