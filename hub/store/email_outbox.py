"""The email outbox: rows written in the transaction of the event that causes a message.

Services queue (``enqueue``) inside their own write transaction, so a message exists exactly when
its cause was committed. adapters/email drains the rows: it claims a batch (``claim``: a lease
with the claimer's name, so with ``serve --workers N`` a row is sent by one process only), sends,
and marks each ``sent`` or schedules a retry; a row that keeps failing becomes ``dead`` and stays
for an administrator to retry. Statuses:

- ``digest``: waiting for the person's daily digest (never claimed as it is);
- ``pending``: to send once ``next_attempt_at`` has passed;
- ``sending``: claimed until ``claimed_until`` (a claim that runs out is claimable again);
- ``sent``; ``dead``; ``folded`` (a digest row that went out inside digest message ``digest_id``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Insert, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot_batch import Beside, HotInserts
from hub.store.hot_writes import HotInsert
from hub.store.schema import email_outbox

DIGEST = "digest"
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
FOLDED = "folded"
STATUSES = (DIGEST, PENDING, SENDING, SENT, DEAD, FOLDED)

NOTIFICATION = "notification"
DIGEST_MESSAGE = "digest"
LETTER = "letter"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: str
    dedupe_key: str
    kind: str
    event: str
    channel: str
    user_id: int | None
    agency_id: int
    case_id: int | None
    to_address: str
    link: str | None
    ref: str | None
    body_sealed: bytes | None
    approval_ref: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    last_error: str | None
    body_digest: str | None
    digest_id: int | None
    created_at: datetime
    sent_at: datetime | None


def _row(r: Any) -> OutboxRow:
    return OutboxRow(**{name: r[name] for name in OutboxRow.__dataclass_fields__})


def new_message_id(domain: str) -> str:
    """An RFC 5322 msg-id, random (it says nothing about the case or the person)."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def message(
    *,
    dedupe_key: str,
    message_id: str,
    kind: str,
    event: str,
    channel: str,
    agency_id: int,
    to_address: str,
    when: datetime,
    user_id: int | None = None,
    case_id: int | None = None,
    link: str | None = None,
    ref: str | None = None,
    body_sealed: bytes | None = None,
    approval_ref: str | None = None,
    status: str = PENDING,
) -> dict[str, Any]:
    """One message's row, to queue with ``enqueue_many``."""
    if status not in (PENDING, DIGEST):
        raise ValueError("a message is queued pending or for a digest")
    return {
        "dedupe_key": dedupe_key,
        "message_id": message_id,
        "kind": kind,
        "event": event,
        "channel": channel,
        "agency_id": agency_id,
        "to_address": to_address,
        "user_id": user_id,
        "case_id": case_id,
        "link": link,
        "ref": ref,
        "body_sealed": body_sealed,
        "approval_ref": approval_ref,
        "status": status,
        "attempts": 0,
        "next_attempt_at": when,
        "created_at": when,
    }


async def enqueue(conn: AsyncConnection, row: Mapping[str, Any]) -> int | None:
    """Queue one message (a ``message``) in the caller's transaction; None if its dedupe key
    is already queued (the same cause for the same recipient is sent once)."""
    row_id = (
        await conn.execute(_enqueue_statement(conn.dialect.name), dict(row))
    ).scalar_one_or_none()
    return None if row_id is None else int(row_id)


async def enqueue_many(conn: AsyncConnection, messages: Sequence[Mapping[str, Any]]) -> int:
    """Queue ``messages`` (``message``'s rows) in the caller's transaction, in one statement
    (SQLAlchemy writes an executemany with RETURNING as multi-row inserts): every person told of
    a batch's shares in one round trip, not one each. The number queued: a message whose dedupe
    key is already queued, or is queued earlier in the same list, is not."""
    if not messages:
        return 0
    result = await conn.execute(_enqueue_statement(conn.dialect.name), list(messages))
    return len(result.all())


# What a batch's messages have in common, as a rule (``HotInsert``'s ``alike``).
_ALIKE = (
    "kind", "event", "channel", "status", "attempts", "next_attempt_at", "created_at",
    "body_sealed", "approval_ref",
)  # fmt: skip
# The share batch's messages on the driver (``enqueue_hot``), and with its log entries in one
# statement on PostgreSQL (``enqueue_beside``).
_QUEUE = HotInserts(
    HotInsert(
        email_outbox,
        skip_existing=True,
        conflict_on=("dedupe_key",),
        defaults_given=True,
        alike=_ALIKE,
    )
)


async def enqueue_hot(conn: AsyncConnection, messages: Sequence[Mapping[str, Any]]) -> None:
    """``enqueue_many`` for the share batch, whose messages are many and of one shape: run
    on the driver (``hub.store.hot_writes``), without SQLAlchemy's execution, and without telling
    how many were queued."""
    await _QUEUE.run(conn, [messages])


async def enqueue_beside(
    conn: AsyncConnection, messages: Sequence[Mapping[str, Any]], beside: Beside
) -> list[tuple[Any, ...]] | None:
    """On PostgreSQL, ``enqueue_many`` with ``beside`` (the share batch's log entries:
    ``hub.store.ledger_chain``) in the same statement, after the messages' insert: beside's rows.
    None elsewhere, or for no messages, and nothing written: the caller runs the parts apart.
    The number queued is not told (a message already queued is still not queued twice)."""
    if not messages:
        return None
    got = await _QUEUE.run_beside(conn, [messages], beside)
    return None if got is None else got[1]


@cache
def _enqueue_statement(dialect: str) -> Insert:
    """Built once per dialect, the values passed at execution: each share queues a message for
    each person told, and a statement built with its values cost more than the insert."""
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(email_outbox)
    return ins.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(email_outbox.c.id)


async def claim(
    conn: AsyncConnection, claimer: str, now: datetime, lease: timedelta, limit: int = 20
) -> list[OutboxRow]:
    """Claim up to ``limit`` rows due now (pending, or sending with a lease run out) for
    ``claimer`` until ``now + lease``, in the caller's write transaction.

    On PostgreSQL the candidates are locked ``FOR UPDATE SKIP LOCKED``, so concurrent claimers
    take disjoint rows; on SQLite the write transaction holds the database's one write lock. The
    update re-checks the status, so a row is never claimed twice either way.
    """
    due = or_(
        and_(email_outbox.c.status == PENDING, email_outbox.c.next_attempt_at <= now),
        and_(email_outbox.c.status == SENDING, email_outbox.c.claimed_until < now),
    )
    pick = select(email_outbox.c.id).where(due).order_by(email_outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list((await conn.execute(pick)).scalars())
    if not ids:
        return []
    await conn.execute(
        update(email_outbox)
        .where(email_outbox.c.id.in_(ids), due)
        .values(status=SENDING, claimed_by=claimer, claimed_until=now + lease)
    )
    stmt = select(email_outbox).where(
        email_outbox.c.id.in_(ids),
        email_outbox.c.status == SENDING,
        email_outbox.c.claimed_by == claimer,
    )
    return [_row(r) for r in (await conn.execute(stmt.order_by(email_outbox.c.id))).mappings()]


async def mark_sent(
    conn: AsyncConnection, row_id: int, claimer: str, when: datetime, body_digest: str
) -> bool:
    """Record a delivery; False if the claim was lost meanwhile (another process re-claimed)."""
    result = await conn.execute(
        update(email_outbox)
        .where(
            email_outbox.c.id == row_id,
            email_outbox.c.status == SENDING,
            email_outbox.c.claimed_by == claimer,
        )
        .values(
            status=SENT,
            sent_at=when,
            body_digest=body_digest,
            attempts=email_outbox.c.attempts + 1,
            claimed_by=None,
            claimed_until=None,
            last_error=None,
        )
    )
    return bool(result.rowcount)


async def mark_failed(
    conn: AsyncConnection,
    row_id: int,
    claimer: str,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """Record a failed attempt: pending again from ``retry_at``, or ``dead`` if None. ``error``
    must hold no personal data (an SMTP code and the exception's class, not the server's text)."""
    result = await conn.execute(
        update(email_outbox)
        .where(
            email_outbox.c.id == row_id,
            email_outbox.c.status == SENDING,
            email_outbox.c.claimed_by == claimer,
        )
        .values(
            status=PENDING if retry_at is not None else DEAD,
            attempts=email_outbox.c.attempts + 1,
            next_attempt_at=retry_at if retry_at is not None else email_outbox.c.next_attempt_at,
            claimed_by=None,
            claimed_until=None,
            last_error=error[:500],
        )
    )
    return bool(result.rowcount)


async def retry(conn: AsyncConnection, row_ids: list[int], now: datetime) -> int:
    """Put dead letters back in the queue, due now, with their attempts counted afresh."""
    result = await conn.execute(
        update(email_outbox)
        .where(email_outbox.c.id.in_(row_ids), email_outbox.c.status == DEAD)
        .values(status=PENDING, attempts=0, next_attempt_at=now, last_error=None)
    )
    return int(result.rowcount)


async def by_id(conn: AsyncConnection, row_id: int) -> OutboxRow | None:
    row = (
        (await conn.execute(select(email_outbox).where(email_outbox.c.id == row_id)))
        .mappings()
        .first()
    )
    return None if row is None else _row(row)


async def listing(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    agency_id: int | None = None,
    limit: int = 200,
) -> list[OutboxRow]:
    """Newest first, optionally one status and one agency's messages."""
    stmt = select(email_outbox)
    if status is not None:
        stmt = stmt.where(email_outbox.c.status == status)
    if agency_id is not None:
        stmt = stmt.where(email_outbox.c.agency_id == agency_id)
    stmt = stmt.order_by(email_outbox.c.id.desc()).limit(limit)
    return [_row(r) for r in (await conn.execute(stmt)).mappings()]


async def counts(conn: AsyncConnection, agency_id: int | None = None) -> dict[str, int]:
    stmt = select(email_outbox.c.status, func.count()).group_by(email_outbox.c.status)
    if agency_id is not None:
        stmt = stmt.where(email_outbox.c.agency_id == agency_id)
    found = {status: int(n) for status, n in (await conn.execute(stmt)).all()}
    return {status: found.get(status, 0) for status in STATUSES}


async def digest_rows(conn: AsyncConnection, user_id: int) -> list[OutboxRow]:
    """A person's rows waiting for their digest, oldest first."""
    stmt = (
        select(email_outbox)
        .where(email_outbox.c.user_id == user_id, email_outbox.c.status == DIGEST)
        .order_by(email_outbox.c.id)
    )
    return [_row(r) for r in (await conn.execute(stmt)).mappings()]


async def users_with_digest(conn: AsyncConnection) -> list[int]:
    stmt = (
        select(email_outbox.c.user_id)
        .where(email_outbox.c.status == DIGEST, email_outbox.c.user_id.is_not(None))
        .distinct()
    )
    return [int(u) for u in (await conn.execute(stmt)).scalars()]


async def fold(conn: AsyncConnection, row_ids: list[int], digest_id: int) -> int:
    """Mark digest rows as gone out inside message ``digest_id`` (queued in this transaction)."""
    result = await conn.execute(
        update(email_outbox)
        .where(email_outbox.c.id.in_(row_ids), email_outbox.c.status == DIGEST)
        .values(status=FOLDED, digest_id=digest_id)
    )
    return int(result.rowcount)


async def folded_into(conn: AsyncConnection, digest_id: int) -> list[OutboxRow]:
    """The rows that went out inside digest message ``digest_id``, oldest first."""
    stmt = (
        select(email_outbox)
        .where(email_outbox.c.digest_id == digest_id, email_outbox.c.status == FOLDED)
        .order_by(email_outbox.c.id)
    )
    return [_row(r) for r in (await conn.execute(stmt)).mappings()]
