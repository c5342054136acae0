"""Email notifications: queued inside the transaction of the event that causes them.

Each function here takes the caller's write connection, so a notification exists exactly when its
cause was committed (a rolled-back send queues nothing). A notification holds no case content:
the event, a link into the inbox, the case (its id; the message shows the hub reference), the
agency and the person. adapters/email builds and sends it.

Only active accounts with an email address are notified, one message per person per cause (the
dedupe key), each as the person chose for that group of notifications (``DEFAULTS``):

- new packets for your agency: immediate;
- requests for information due soon: daily digest;
- decisions awaiting you (a third-party disclosure, a share held for approval): immediate;
- overdue (requests, actions, minutes, reviews, referrals): immediate, and never off.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.directory import Role
from hub.store import directory as directory_store
from hub.store import email_outbox as outbox
from hub.store import inbox_events
from hub.store import notification_settings as settings_store
from hub.store.hot import HotRead
from hub.store.notification_settings import Recipient
from hub.store.workflows import WorkItemRow
from hub.workflows.deadlines import ItemKind

# The right-hand side of every Message-ID the hub makes: random on the left, so it says nothing.
MESSAGE_ID_DOMAIN = "mappa-hub.invalid"
EMAIL_CHANNEL = "email"


class Group(StrEnum):
    """What a person chooses for: the kinds of notification, grouped as people think of them."""

    NEW_PACKETS = "new-packets"
    REQUESTS_DUE = "requests-due"
    DECISIONS = "decisions"
    OVERDUE = "overdue"


IMMEDIATE, DIGEST, OFF = "immediate", "digest", "off"
DEFAULTS: dict[Group, str] = {
    Group.NEW_PACKETS: IMMEDIATE,
    Group.REQUESTS_DUE: DIGEST,
    Group.DECISIONS: IMMEDIATE,
    Group.OVERDUE: IMMEDIATE,
}
# Overdue reminders are the hub's answer to minutes and actions left late: never switched off.
ALLOWED: dict[Group, tuple[str, ...]] = {
    Group.NEW_PACKETS: (IMMEDIATE, DIGEST, OFF),
    Group.REQUESTS_DUE: (IMMEDIATE, DIGEST, OFF),
    Group.DECISIONS: (IMMEDIATE, DIGEST, OFF),
    Group.OVERDUE: (IMMEDIATE, DIGEST),
}


class Notice(StrEnum):
    NEW_PACKET = "new-packet"
    REQUEST_DUE_SOON = "request-due-soon"
    REQUEST_OVERDUE = "request-overdue"
    ACTION_OVERDUE = "action-overdue"
    MINUTES_LATE = "minutes-late"
    REVIEW_OVERDUE = "review-overdue"
    REFERRAL_OVERDUE = "referral-overdue"
    DISCLOSURE_AWAITING = "disclosure-awaiting"
    SHARE_AWAITING = "share-awaiting"
    TRANSFER_AWAITING = "transfer-awaiting"
    TRANSFER_DECIDED = "transfer-decided"
    TRANSFER_OVERDUE = "transfer-overdue"
    TRANSFER_ESCALATED = "transfer-escalated"


GROUP_OF: dict[Notice, Group] = {
    Notice.NEW_PACKET: Group.NEW_PACKETS,
    Notice.REQUEST_DUE_SOON: Group.REQUESTS_DUE,
    Notice.DISCLOSURE_AWAITING: Group.DECISIONS,
    Notice.SHARE_AWAITING: Group.DECISIONS,
    Notice.TRANSFER_AWAITING: Group.DECISIONS,
    Notice.TRANSFER_DECIDED: Group.DECISIONS,
    Notice.TRANSFER_OVERDUE: Group.OVERDUE,
    Notice.TRANSFER_ESCALATED: Group.OVERDUE,
    Notice.REQUEST_OVERDUE: Group.OVERDUE,
    Notice.ACTION_OVERDUE: Group.OVERDUE,
    Notice.MINUTES_LATE: Group.OVERDUE,
    Notice.REVIEW_OVERDUE: Group.OVERDUE,
    Notice.REFERRAL_OVERDUE: Group.OVERDUE,
}

# Who reads packets (PacketService's readers) and who answers requests (RequestService).
PACKET_READERS = (Role.PRACTITIONER.value, Role.COORDINATOR.value, Role.SENIOR_MANAGER.value)
REQUEST_HANDLERS = (Role.PRACTITIONER.value, Role.COORDINATOR.value)
_COORDINATORS = (Role.COORDINATOR.value,)

_OVERDUE_EVENT = {
    ItemKind.REQUEST: Notice.REQUEST_OVERDUE,
    ItemKind.ACTION: Notice.ACTION_OVERDUE,
    ItemKind.MINUTES: Notice.MINUTES_LATE,
    ItemKind.REVIEW: Notice.REVIEW_OVERDUE,
    ItemKind.REFERRAL: Notice.REFERRAL_OVERDUE,
    ItemKind.TRANSFER_DECISION: Notice.TRANSFER_OVERDUE,
    ItemKind.TRANSFER_SEND: Notice.TRANSFER_OVERDUE,
    ItemKind.TRANSFER_RECEIPT: Notice.TRANSFER_OVERDUE,
}


def effective_mode(group: Group, stored: str | None) -> str:
    """The person's choice if it is one the group allows, else the default."""
    return stored if stored in ALLOWED[group] else DEFAULTS[group]


def _messages(
    people: Iterable[Recipient],
    *,
    event: Notice,
    ref: str,
    link: str,
    case_id: int | None,
    when: datetime,
    exclude: Collection[int] = (),
) -> list[dict[str, Any]]:
    """One message per person (as each chose), none to ``exclude``: rows for
    ``outbox.enqueue_many``, which each caller runs once for all it has to say."""
    messages = []
    seen: set[int] = set(exclude)
    for person in people:
        if person.user_id in seen:
            continue
        seen.add(person.user_id)
        mode = effective_mode(GROUP_OF[event], person.mode)
        if mode == OFF:
            continue
        messages.append(
            outbox.message(
                dedupe_key=f"{event.value}:{ref}:{person.user_id}",
                message_id=outbox.new_message_id(MESSAGE_ID_DOMAIN),
                kind=outbox.NOTIFICATION,
                event=event.value,
                channel=EMAIL_CHANNEL,
                agency_id=person.agency_id,
                to_address=person.email,
                when=when,
                user_id=person.user_id,
                case_id=case_id,
                link=link,
                ref=ref,
                status=outbox.PENDING if mode == IMMEDIATE else outbox.DIGEST,
            )
        )
    return messages


Deliveries = Sequence[tuple[str, int | None, Sequence[int]]]


def delivery_read(
    conn: AsyncConnection, deliveries: Deliveries
) -> tuple[HotRead, dict[str, Any]] | None:
    """PostgreSQL: the read of ``packets_delivered`` (the readers of the recipient agencies, and
    the note to the inbox pages open now) for the caller to run in a statement of its own (the
    share batch's packets' statement: a round trip fewer); its rows then go to
    ``packets_delivered`` as ``read``. None elsewhere, or where it cannot be one statement:
    ``packets_delivered`` then reads for itself."""
    agency_ids = {a for _, _, recipients in deliveries for a in recipients}
    note = inbox_events.announcement(agency_ids)
    if conn.dialect.name != "postgresql" or note is None:
        return None
    return settings_store.announcing_read(
        Group.NEW_PACKETS.value, roles=PACKET_READERS, agency_ids=agency_ids, announcing=note
    )


async def packets_delivered(
    conn: AsyncConnection,
    deliveries: Deliveries,
    when: datetime,
    *,
    read: list[tuple[Any, ...]] | None = None,
) -> int:
    """Packets (id, case id, recipient agency ids) now listed in their recipients' inboxes: tell
    each recipient agency's readers, and the inbox pages open now (``hub.services.inbox_events``:
    every share, reply, request and released share passes here). One query for a whole batch,
    and one statement for its messages. ``read``: the rows of ``delivery_read`` for these
    deliveries, run by the caller in the same transaction (the note went with them)."""
    messages = await delivery_messages(conn, deliveries, when, read=read)
    return await outbox.enqueue_many(conn, messages)


async def delivery_messages(
    conn: AsyncConnection,
    deliveries: Deliveries,
    when: datetime,
    *,
    read: list[tuple[Any, ...]] | None = None,
) -> list[dict[str, Any]]:
    """What ``packets_delivered`` queues, not yet queued: for a caller that queues the messages
    in a statement of its own (the share batch, with its log entries: ``hub.services.log_writer``).
    Without ``read``, the readers are read here and the inbox pages told."""
    agency_ids = {a for _, _, recipients in deliveries for a in recipients}
    if not agency_ids:
        return []
    if read is not None:
        people = settings_store.recipients_of(read)
    else:
        people = await settings_store.recipients(
            conn,
            Group.NEW_PACKETS.value,
            roles=PACKET_READERS,
            agency_ids=agency_ids,
            announcing=inbox_events.announcement(agency_ids),  # with the read: a round trip fewer
        )
    # Every person told of every packet in the batch, in one statement.
    messages = []
    for packet_id, case_id, recipients in deliveries:
        wanted = set(recipients)
        messages += _messages(
            (p for p in people if p.agency_id in wanted),
            event=Notice.NEW_PACKET,
            ref=packet_id,
            link=f"/packets/{packet_id}",
            case_id=case_id,
            when=when,
        )
    return messages


async def disclosure_proposed(
    conn: AsyncConnection,
    *,
    disclosure_id: int,
    case_id: int,
    area_id: int,
    approver_roles: Collection[str],
    agency_ids: Collection[int],
    proposer_ids: Collection[int],
    when: datetime,
) -> int:
    """A third-party disclosure awaits a decision: tell the people of the roles the policy named,
    in the agencies the proposal reached (``DisclosureService`` lets only them decide), of the
    case's area; never the proposer."""
    people = await settings_store.recipients(
        conn, Group.DECISIONS.value, roles=list(approver_roles), agency_ids=agency_ids
    )
    in_area = await _agencies_in_area(conn, area_id, {p.agency_id for p in people})
    messages = _messages(
        (p for p in people if p.agency_id in in_area),
        event=Notice.DISCLOSURE_AWAITING,
        ref=f"disclosure-{disclosure_id}",
        link=f"/disclosures/{disclosure_id}",
        case_id=case_id,
        when=when,
        exclude=proposer_ids,
    )
    return await outbox.enqueue_many(conn, messages)


async def share_held(
    conn: AsyncConnection,
    *,
    share_id: int,
    case_id: int,
    needs: Iterable[tuple[str, int]],
    proposer_ids: Collection[int],
    when: datetime,
) -> int:
    """A share is held for approval: tell the approvers each need names (a role in an area),
    never the proposer."""
    messages = []
    for role, area_id in sorted(set(needs)):
        people = await settings_store.recipients(
            conn, Group.DECISIONS.value, roles=[role], area_id=area_id
        )
        messages += _messages(
            people,
            event=Notice.SHARE_AWAITING,
            ref=f"share-{share_id}",
            link=f"/shares/{share_id}",
            case_id=case_id,
            when=when,
            exclude=proposer_ids,
        )
    return await outbox.enqueue_many(conn, messages)


async def items_overdue(conn: AsyncConnection, rows: Iterable[WorkItemRow], when: datetime) -> int:
    """Work items the reminder sweep just stamped overdue (in the sweep's transaction)."""
    messages = []
    for row in rows:
        kind = ItemKind(row.kind)
        owner = [row.owner_user_id] if row.owner_user_id is not None else []
        if kind in (ItemKind.MINUTES, ItemKind.REVIEW) or kind.transfer:
            # The area's MAPPA coordinators chase late minutes and reviews, with the chair, and
            # the transfer steps their area is to take (the item's area is the one that acts).
            people = await settings_store.recipients(
                conn,
                Group.OVERDUE.value,
                roles=_COORDINATORS,
                area_id=row.area_id,
                user_ids=owner,
            )
        elif owner and kind is ItemKind.ACTION:
            people = await settings_store.recipients(
                conn, Group.OVERDUE.value, roles=(), user_ids=owner
            )
        else:
            people = await settings_store.recipients(
                conn,
                Group.OVERDUE.value,
                roles=REQUEST_HANDLERS,
                agency_ids=[row.owner_agency_id],
                user_ids=owner,
            )
        messages += _messages(
            people,
            event=_OVERDUE_EVENT[kind],
            ref=f"item-{row.id}",
            link="/requests" if kind is ItemKind.REQUEST else "/deadlines",
            case_id=row.case_id,
            when=when,
        )
    return await outbox.enqueue_many(conn, messages)


async def transfer_step(
    conn: AsyncConnection,
    *,
    event: Notice,
    transfer_id: int,
    step: str,
    case_id: int | None,
    area_id: int,
    roles: Collection[str],
    when: datetime,
    exclude: Collection[int] = (),
) -> int:
    """A case transfer needs the people of ``roles`` in ``area_id``: a decision awaiting the
    receiving coordinators, a decision told to the sending ones, an overdue step escalated to
    the senior managers. One message per person and step."""
    people = await settings_store.recipients(
        conn, GROUP_OF[event].value, roles=list(roles), area_id=area_id
    )
    messages = _messages(
        people,
        event=event,
        ref=f"transfer-{transfer_id}-{step}",
        link=f"/transfers/{transfer_id}",
        case_id=case_id,
        when=when,
        exclude=exclude,
    )
    return await outbox.enqueue_many(conn, messages)


async def requests_due_soon(
    conn: AsyncConnection, rows: Iterable[WorkItemRow], when: datetime
) -> int:
    """Requests for information falling due soon: tell the target agency's handlers (once per
    item and person, however often the sweep runs)."""
    messages = []
    for row in rows:
        people = await settings_store.recipients(
            conn,
            Group.REQUESTS_DUE.value,
            roles=REQUEST_HANDLERS,
            agency_ids=[row.owner_agency_id],
        )
        messages += _messages(
            people,
            event=Notice.REQUEST_DUE_SOON,
            ref=f"item-{row.id}",
            link="/requests",
            case_id=row.case_id,
            when=when,
        )
    return await outbox.enqueue_many(conn, messages)


async def _agencies_in_area(conn: AsyncConnection, area_id: int, ids: set[int]) -> set[int]:
    found = await directory_store.agencies_by_ids(conn, sorted(ids))
    return {a.id for a in found.values() if a.area_id == area_id}
