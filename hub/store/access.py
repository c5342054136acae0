"""Access reports: the log rows about a case, or by a user (served by the case and actor indexes)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.schema import ledger_entries, packets

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
    ledger_entries.c.channel,
    ledger_entries.c.recipient_address,
    ledger_entries.c.actor_token_id,
    ledger_entries.c.content_digest,
)


def _narrowed(
    since: datetime | None, before: datetime | None, event: str | None
) -> list[ColumnElement[bool]]:
    """Optional bounds on an access report: a time window and one kind of event."""
    where = []
    if since is not None:
        where.append(ledger_entries.c.recorded_at >= since)
    if before is not None:
        where.append(ledger_entries.c.recorded_at < before)
    if event is not None:
        where.append(ledger_entries.c.event == event)
    return where


async def entries_for_case(
    conn: AsyncConnection,
    case_id: int,
    limit: int,
    *,
    since: datetime | None = None,
    before: datetime | None = None,
    event: str | None = None,
) -> list[RowMapping]:
    stmt = (
        select(*_COLUMNS)
        .where(ledger_entries.c.case_id == case_id, *_narrowed(since, before, event))
        .order_by(ledger_entries.c.seq.desc())
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings().all())


async def entries_by_user(
    conn: AsyncConnection,
    user_id: int,
    limit: int,
    *,
    since: datetime | None = None,
    before: datetime | None = None,
    event: str | None = None,
) -> list[RowMapping]:
    stmt = (
        select(*_COLUMNS)
        .where(ledger_entries.c.actor_user_id == user_id, *_narrowed(since, before, event))
        .order_by(ledger_entries.c.seq.desc())
        .limit(limit)
    )
    return list((await conn.execute(stmt)).mappings().all())


async def sent_packets(
    conn: AsyncConnection, packet_ids: Collection[str]
) -> dict[str, tuple[bytes, int | None]]:
    """These packets' stored signed headers and sender ids, by packet id (a report's rows: at most
    a thousand)."""
    if not packet_ids:
        return {}
    stmt = select(packets.c.id, packets.c.header, packets.c.sender_user_id).where(
        packets.c.id.in_(sorted(packet_ids))
    )
    return {row.id: (bytes(row.header), row.sender_user_id) for row in await conn.execute(stmt)}
