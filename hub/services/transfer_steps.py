"""What every transfer step writes besides the transfer row, in the step's own transaction: the
s62 log entry, the deadline of the next step (a work item), and the notices it causes; and the
escalation of an overdue step to the acting area's senior managers."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto.secrets import sha256_hex
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Role
from hub.model.transfers import Transfer
from hub.services import ledger, notices
from hub.services.actor import Actor
from hub.store import transfers as store
from hub.store import workflows as workflow_store
from hub.store.workflows import WorkItemRow
from hub.workflows import deadlines
from hub.workflows.deadlines import ItemKind

PURPOSE = "case-transfer"
CHANNEL = "transfer"
COORDINATORS = (Role.COORDINATOR.value,)


async def log_step(
    conn: AsyncConnection,
    actor: Actor | None,
    transfer: Transfer,
    event: Event,
    when: datetime,
    *,
    action: Action = Action.ALTERATION,
    lawful_basis: str,
    detail: str,
    recipients: Sequence[int] = (),
    channel: str | None = None,
) -> None:
    """The step on the log. ``detail`` (the transfer id, state and digests, never the reasons'
    words) is kept only as its digest, like a case change."""
    await ledger.append(
        conn,
        Record(
            action=action,
            event=event,
            recorded_at=when,
            actor_user_id=actor.user.id if actor else None,
            actor_token_id=actor.token_id if actor else None,
            actor_agency_id=actor.agency.id if actor else None,
            case_id=transfer.case_id,
            recipients=tuple(sorted(set(recipients))),
            purpose=PURPOSE,
            lawful_basis=lawful_basis,
            content_digest=sha256_hex(f"transfer:{transfer.id}:{detail}".encode()),
            channel=channel,
        ),
    )


async def next_deadline(
    conn: AsyncConnection,
    transfer: Transfer,
    when: datetime,
    *,
    kind: ItemKind | None,
    area_id: int | None,
    owner_agency_id: int | None,
    working_days: int = 0,
) -> date | None:
    """Close the current step's item and open the next one's (none when ``kind`` is None, or for
    a step with no local case or area to own it). Returns the new due date."""
    if transfer.work_item_id is not None:
        await workflow_store.close_item(conn, transfer.work_item_id, when)
    due = None
    item_id = None
    if kind is not None and transfer.case_id and area_id and owner_agency_id:
        due = deadlines.add_working_days(deadlines.local_date(when), working_days)
        item_id = await workflow_store.insert_item(
            conn,
            kind=kind.value,
            case_id=transfer.case_id,
            area_id=area_id,
            owner_agency_id=owner_agency_id,
            due_on=due,
            created_at=when,
        )
    await store.set_values(conn, transfer.id, work_item_id=item_id)
    return due


async def cancel_deadline(conn: AsyncConnection, transfer: Transfer, when: datetime) -> None:
    if transfer.work_item_id is not None:
        await workflow_store.close_item(conn, transfer.work_item_id, when, status="cancelled")
        await store.set_values(conn, transfer.id, work_item_id=None)


async def tell(
    conn: AsyncConnection,
    transfer: Transfer,
    event: notices.Notice,
    step: str,
    area_id: int | None,
    when: datetime,
    roles: Collection[str] = COORDINATORS,
    exclude: Collection[int] = (),
) -> int:
    if area_id is None:
        return 0
    return await notices.transfer_step(
        conn,
        event=event,
        transfer_id=transfer.id,
        step=step,
        case_id=transfer.case_id,
        area_id=area_id,
        roles=roles,
        when=when,
        exclude=exclude,
    )


async def escalate_overdue(
    conn: AsyncConnection, rows: Iterable[WorkItemRow], when: datetime, roles: Collection[str]
) -> int:
    """Overdue transfer steps the reminder sweep just stamped: each is escalated once to the
    senior managers (``roles``) of the area that must act, on the log and by email."""
    escalated = 0
    for row in rows:
        if not ItemKind(row.kind).transfer:
            continue
        transfer = await store.transfer_by_work_item(conn, row.id)
        if transfer is None or transfer.state.closed:
            continue
        await store.set_values(conn, transfer.id, escalated_at=when)
        await log_step(
            conn,
            None,
            transfer,
            Event.TRANSFER_ESCALATED,
            when,
            lawful_basis="cja2003-s325",
            detail=f"escalated:{row.kind}:{row.due_on.isoformat()}",
        )
        await tell(
            conn,
            transfer,
            notices.Notice.TRANSFER_ESCALATED,
            f"escalated-{row.id}",
            row.area_id,
            when,
            roles=roles,
        )
        escalated += 1
    return escalated
