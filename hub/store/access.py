"""Access reports: the log rows about a case, or by a user (served by the case and actor indexes)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import ledger_entries

_COLUMNS = (
    ledger_entries.c.seq,
    ledger_entries.c.recorded_at,
    ledger_entries.c.action,
    ledger_entries.c.event,
    ledger_entries.c.actor_user_id,
    ledger_entries.c.actor_agency_id,
    ledger_entries.c.case_id,
    ledger_entries.c.packet_id,
    ledger_entries.c.recipients,
    ledger_entries.c.purpose,
    ledger_entries.c.lawful_basis,
    ledger_entries.c.policy_version,
    ledger_entries.c.decision,
)


async def entries_for_case(conn: AsyncConnection, case_id: int, limit: int) -> list[RowMapping]:
    stmt = (
        select(*_COLUMNS)
        .where(ledger_entries.c.case_id == case_id)
        .order_by(ledger_entries.c.seq.desc())
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings().all())


async def entries_by_user(conn: AsyncConnection, user_id: int, limit: int) -> list[RowMapping]:
    stmt = (
        select(*_COLUMNS)
        .where(ledger_entries.c.actor_user_id == user_id)
        .order_by(ledger_entries.c.seq.desc())
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings().all())
