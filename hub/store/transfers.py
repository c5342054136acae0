"""Transfer rows: insert, read, list by area, and move a transfer from one state to the next."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.transfers import Transfer, TransferState
from hub.store import case_events as event_store
from hub.store.schema import case_agencies, cases, transfers, work_items

_OPEN = [s.value for s in TransferState if not s.closed]


def _transfer(r: RowMapping) -> Transfer:
    values = {name: r[name] for name in Transfer.__dataclass_fields__}
    values["state"] = TransferState(values["state"])
    return Transfer(**values)


async def insert_transfer(conn: AsyncConnection, **values: Any) -> int:
    result = await conn.execute(insert(transfers).values(**values).returning(transfers.c.id))
    return int(result.scalar_one())


async def transfer_by_id(conn: AsyncConnection, transfer_id: int) -> Transfer | None:
    row = (
        (await conn.execute(select(transfers).where(transfers.c.id == transfer_id)))
        .mappings()
        .first()
    )
    return _transfer(row) if row else None


async def transfer_by_remote(
    conn: AsyncConnection, peer_name: str, remote_id: str
) -> Transfer | None:
    stmt = select(transfers).where(
        transfers.c.peer_name == peer_name, transfers.c.remote_id == remote_id
    )
    row = (await conn.execute(stmt)).mappings().first()
    return _transfer(row) if row else None


async def transfer_by_work_item(conn: AsyncConnection, item_id: int) -> Transfer | None:
    stmt = select(transfers).where(transfers.c.work_item_id == item_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _transfer(row) if row else None


async def open_for_case(conn: AsyncConnection, case_id: int) -> list[Transfer]:
    stmt = select(transfers).where(transfers.c.case_id == case_id, transfers.c.state.in_(_OPEN))
    return [_transfer(r) for r in (await conn.execute(stmt)).mappings()]


async def for_case(conn: AsyncConnection, case_id: int) -> list[Transfer]:
    stmt = (
        select(transfers)
        .where(transfers.c.case_id == case_id)
        .order_by(transfers.c.created_at, transfers.c.id)
    )
    return [_transfer(r) for r in (await conn.execute(stmt)).mappings()]


async def for_area(conn: AsyncConnection, area_id: int, limit: int = 500) -> list[Transfer]:
    """Transfers out of and into an area, newest first."""
    stmt = (
        select(transfers)
        .where(
            or_(transfers.c.sending_area_id == area_id, transfers.c.receiving_area_id == area_id)
        )
        .order_by(transfers.c.created_at.desc(), transfers.c.id.desc())
        .limit(limit)
    )
    return [_transfer(r) for r in (await conn.execute(stmt)).mappings()]


async def move(
    conn: AsyncConnection,
    transfer_id: int,
    from_states: Iterable[TransferState],
    to_state: TransferState,
    when: datetime,
    **values: Any,
) -> bool:
    """Move a transfer on, only from one of ``from_states``: False if another step got there
    first (two coordinators deciding at once change it once)."""
    result = await conn.execute(
        update(transfers)
        .where(
            transfers.c.id == transfer_id,
            transfers.c.state.in_([s.value for s in from_states]),
        )
        .values(state=to_state.value, updated_at=when, **values)
    )
    return bool(result.rowcount)


async def set_values(conn: AsyncConnection, transfer_id: int, **values: Any) -> None:
    await conn.execute(update(transfers).where(transfers.c.id == transfer_id).values(**values))


async def owed_to_peers(conn: AsyncConnection, now: datetime, limit: int) -> list[Transfer]:
    """Transfers owing their peer a message whose next attempt is due, the longest due first."""
    stmt = (
        select(transfers)
        .where(
            transfers.c.peer_owed.is_not(None),
            or_(transfers.c.peer_next_at.is_(None), transfers.c.peer_next_at <= now),
        )
        .order_by(transfers.c.peer_next_at, transfers.c.id)
        .limit(limit)
    )
    return [_transfer(r) for r in (await conn.execute(stmt)).mappings()]


async def accepted_from_peers(conn: AsyncConnection) -> list[Transfer]:
    """Transfers a peer hub proposed that this hub accepted and has not yet received."""
    stmt = select(transfers).where(
        transfers.c.peer_name.is_not(None),
        transfers.c.sending_area_id.is_(None),
        transfers.c.state == TransferState.ACCEPTED.value,
    )
    return [_transfer(r) for r in (await conn.execute(stmt)).mappings()]


async def peer_delivered(
    conn: AsyncConnection, transfer_id: int, message: str, **values: Any
) -> bool:
    """Clear the message owed, if it is still that one (a later step may owe another)."""
    result = await conn.execute(
        update(transfers)
        .where(transfers.c.id == transfer_id, transfers.c.peer_owed == message)
        .values(peer_owed=None, peer_next_at=None, peer_error=None, **values)
    )
    return bool(result.rowcount)


async def peer_failed(
    conn: AsyncConnection, transfer_id: int, message: str, error: str, next_at: datetime
) -> None:
    await conn.execute(
        update(transfers)
        .where(transfers.c.id == transfer_id, transfers.c.peer_owed == message)
        .values(peer_attempts=transfers.c.peer_attempts + 1, peer_error=error, peer_next_at=next_at)
    )


async def retained_read_ends(
    conn: AsyncConnection, case_id: int, area_id: int
) -> list[tuple[datetime, datetime | None]]:
    """For a case transferred away from ``area_id``: (completed at, read access until) of each
    completed transfer, for the packet-reading rule."""
    # A case that came back to the area is the area's own again.
    stmt = (
        select(transfers.c.completed_at, transfers.c.sending_read_until)
        .join(cases, cases.c.id == transfers.c.case_id)
        .where(
            transfers.c.case_id == case_id,
            transfers.c.sending_area_id == area_id,
            transfers.c.state == TransferState.COMPLETED.value,
            cases.c.area_id != area_id,
        )
    )
    return [(r[0], r[1]) for r in (await conn.execute(stmt)).all()]


# -- the hand-over on completion: rows of other tables the transfer moves, in its transaction --


async def hand_over_case(
    conn: AsyncConnection,
    case_id: int,
    *,
    area_id: int,
    lead_agency_id: int,
    leaving_agency_ids: Iterable[int],
    when: datetime,
    grading: tuple[int, int] | None = None,
) -> None:
    """The receiving area owns the case: its area and lead agency change (and its category and
    level, ``grading``, as another jurisdiction records them), the sending area's agencies are
    no longer active on it, and its open deadlines pass to the new lead agency."""
    leaving = sorted(set(leaving_agency_ids))
    regraded = {"category": grading[0], "level": grading[1]} if grading else {}
    await conn.execute(
        update(cases)
        .where(cases.c.id == case_id)
        .values(area_id=area_id, lead_agency_id=lead_agency_id, **regraded)
    )
    await event_store.sync_grading(conn, case_id, when)
    await leave_case(conn, case_id, leaving)
    await conn.execute(
        update(work_items)
        .where(work_items.c.case_id == case_id, work_items.c.status == "open")
        .values(area_id=area_id)
    )
    if leaving:
        await conn.execute(
            update(work_items)
            .where(
                work_items.c.case_id == case_id,
                work_items.c.status == "open",
                work_items.c.owner_agency_id.in_(leaving),
            )
            .values(owner_agency_id=lead_agency_id, owner_user_id=None)
        )


async def leave_case(conn: AsyncConnection, case_id: int, agency_ids: Iterable[int]) -> None:
    """These agencies are no longer active on the case (they lose its page and its sharing)."""
    ids = sorted(set(agency_ids))
    if ids:
        await conn.execute(
            delete(case_agencies).where(
                case_agencies.c.case_id == case_id, case_agencies.c.agency_id.in_(ids)
            )
        )


async def read_ended(
    conn: AsyncConnection, case_id: int, area_id: int, packet_created_at: datetime, now: datetime
) -> bool:
    """Whether an agency of ``area_id`` has lost read access to a packet of ``case_id`` made at
    ``packet_created_at``: the case was transferred away from the area after the packet was
    shared, and the period policies/transfer.toml leaves the sending area has passed."""
    return any(
        packet_created_at <= completed and (until is None or until < now)
        for completed, until in await retained_read_ends(conn, case_id, area_id)
    )
