"""Third-party disclosures (the register per case and area) and the approvals recorded on them:
proposed, approved or refused, delivered. Split from ``hub.store.workflows``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import disclosure_decisions, disclosures


@dataclass(frozen=True)
class DisclosureRow:
    id: int
    case_id: int
    area_id: int
    proposal_packet_id: str
    proposer_user_id: int
    # The person behind the proposing account; None only for some rows older than migration 0009.
    proposer_person_id: int | None
    proposer_agency_id: int
    recipient_kind: str
    method: str
    offender_to_be_told: bool
    purpose: str
    lawful_basis: str
    categories: str
    status: str
    approvals_needed: list[dict[str, Any]]
    policy_version: str
    created_at: datetime
    decided_at: datetime | None
    delivered_at: datetime | None
    delivered_by_user_id: int | None
    delivered_by_person_id: int | None


@dataclass(frozen=True)
class DecisionRow:
    id: int
    disclosure_id: int
    approver_user_id: int
    approver_person_id: int | None
    approver_agency_id: int
    role: str
    decision: str
    reasons: str
    conditions: str
    decided_at: datetime


def _disclosure(r: RowMapping) -> DisclosureRow:
    values = {name: r[name] for name in DisclosureRow.__dataclass_fields__}
    values["approvals_needed"] = json.loads(r["approvals_needed"])
    values["offender_to_be_told"] = bool(r["offender_to_be_told"])
    return DisclosureRow(**values)


def _decision(r: RowMapping) -> DecisionRow:
    return DecisionRow(**{name: r[name] for name in DecisionRow.__dataclass_fields__})


async def insert_disclosure(
    conn: AsyncConnection, approvals_needed: Sequence[dict[str, Any]], **values: Any
) -> int:
    result = await conn.execute(
        insert(disclosures)
        .values(approvals_needed=json.dumps(list(approvals_needed)), **values)
        .returning(disclosures.c.id)
    )
    return int(result.scalar_one())


async def disclosure_by_id(conn: AsyncConnection, disclosure_id: int) -> DisclosureRow | None:
    stmt = select(disclosures).where(disclosures.c.id == disclosure_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _disclosure(row) if row else None


async def disclosures_for_packet(conn: AsyncConnection, packet_id: str) -> list[DisclosureRow]:
    stmt = select(disclosures).where(disclosures.c.proposal_packet_id == packet_id)
    return [_disclosure(r) for r in (await conn.execute(stmt)).mappings()]


async def update_disclosure(
    conn: AsyncConnection, disclosure_id: int, expect_status: str, **values: Any
) -> bool:
    """Move a disclosure on from ``expect_status``; False if someone else moved it first."""
    result = await conn.execute(
        update(disclosures)
        .where(disclosures.c.id == disclosure_id, disclosures.c.status == expect_status)
        .values(**values)
    )
    return bool(result.rowcount)


async def insert_decision(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(disclosure_decisions).values(**values))


async def decisions_for(conn: AsyncConnection, disclosure_ids: Sequence[int]) -> list[DecisionRow]:
    if not disclosure_ids:
        return []
    stmt = (
        select(disclosure_decisions)
        .where(disclosure_decisions.c.disclosure_id.in_(list(disclosure_ids)))
        .order_by(disclosure_decisions.c.decided_at, disclosure_decisions.c.id)
    )
    return [_decision(r) for r in (await conn.execute(stmt)).mappings()]


async def disclosure_register(
    conn: AsyncConnection,
    *,
    area_id: int | None = None,
    case_id: int | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[DisclosureRow]:
    stmt = select(disclosures).order_by(disclosures.c.created_at.desc(), disclosures.c.id.desc())
    if area_id is not None:
        stmt = stmt.where(disclosures.c.area_id == area_id)
    if case_id is not None:
        stmt = stmt.where(disclosures.c.case_id == case_id)
    if status is not None:
        stmt = stmt.where(disclosures.c.status == status)
    return [_disclosure(r) for r in (await conn.execute(stmt.limit(limit))).mappings()]
