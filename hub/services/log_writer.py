"""Shares and consultations, written in batches: one transaction and a few statements per batch.

A share is a packet's rows, the agencies it makes active on its case, the API token's idempotency
key if any, and its log entry. Everything waiting when a batch starts goes in together: one
multi-row insert per table, the log head locked and moved once, one commit. So the cost per share
falls as the load rises, rather than each share queueing for its own statements and its own fsync.
Each caller resumes only when its batch is committed (acknowledged means on disk, with its log
entry). If a batch fails (an idempotency key used twice within it, say), every item in it is
written again on its own, so that only the faulty one fails and nothing is half-written.

On PostgreSQL the log's entries go in the batch's last statement before its commit, after its
other rows, since the append locks the log's head until the commit (``EmailForecast``): a batch
of shares that tells nobody by e-mail is three round trips (BEGIN, one statement for its packets,
the people it tells and its log entries, COMMIT); one that tells people is four (its messages and
its log entries in the second statement). Either way the hub checks each entry the database
chained (``hub.store.ledger_chain``) against its own rendering before the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Conflict
from hub.ledger.entries import Entry, Event, Record
from hub.services import ledger, notices
from hub.store import email_outbox as outbox
from hub.store import packet_reads, packet_writes
from hub.store import packets as packet_store
from hub.store import workflows as workflow_store
from hub.store.database import Database
from hub.store.hot import HotRead
from hub.store.hot_batch import Beside
from hub.store.packet_writes import NewPacket

# At most this many items per batch: bounds a batch's statements and the cost of a retry.
MAX_BATCH = 512


@dataclass(frozen=True)
class Idempotency:
    token_id: int
    key: str
    digest: str


@dataclass(frozen=True)
class PendingWrite:
    """One thing to log, with the rows that must be written in its transaction."""

    record: Record
    when: datetime
    packet: NewPacket | None = None
    # (case id, agencies now active on it)
    joins: tuple[int, frozenset[int]] | None = None
    idempotency: Idempotency | None = None
    # A person opening the packet the record names: marked read for them (``packet_reads``).
    read_by: int | None = None


class EmailForecast:
    """Whether a share batch's recipient agencies will have people to tell by e-mail, as the last
    batch delivered to each found (unknown: yes, the default being to tell each reader).

    On PostgreSQL the head of the log is locked from the statement that appends to it until the
    commit, and every batch of every serving process waits for it, so the append goes in a batch's
    last statement. A batch that will queue no messages appends in its packets' statement; one that
    will, in its messages' statement, after them. Which one is known only once the packets'
    statement has read the people, so it is forecast; a wrong forecast costs time (the head held over
    the messages' insert, or a round trip), never a row."""

    def __init__(self) -> None:
        self._telling: dict[int, bool] = {}

    def quiet(self, agency_ids: Iterable[int]) -> bool:
        return all(self._telling.get(a) is False for a in agency_ids)

    def learn(self, agency_ids: Iterable[int], messages: Sequence[Mapping[str, Any]]) -> None:
        told = {m["agency_id"] for m in messages}
        for agency in agency_ids:
            self._telling[agency] = agency in told


async def write(
    conn: AsyncConnection, items: list[PendingWrite], forecast: EmailForecast | None = None
) -> list[Entry]:
    """The rows of ``items`` and their log entries, in order, in the caller's transaction.
    ``forecast``: where the log's entries go on PostgreSQL (without it, in the packets' statement
    where they can)."""
    for item in items:
        idem = item.idempotency
        if idem is not None and await packet_store.idempotent_send(conn, idem.token_id, idem.key):
            # Another request with this key committed first: this one writes nothing.
            raise Conflict("A request with this idempotency key was just processed.")
    when = max(i.when for i in items)
    new = [i.packet for i in items if i.packet is not None]
    joins = [i.joins for i in items if i.joins is not None]
    members = workflow_store.membership_rows(joins, when) if joins else []
    # The recipients' people are told, in the share's transaction (a rolled-back batch tells no one).
    sent = [
        (i.record.packet_id, i.record.case_id, i.record.recipients)
        for i in items
        if i.record.event is Event.PACKET_SENT and i.record.packet_id and i.record.recipients
    ]
    recipients = {a for _, _, agencies in sent for a in agencies}
    # On PostgreSQL the people told are read (and the inbox pages told) in the packets' own
    # statement: a round trip fewer a batch. Elsewhere ``told`` stays None and they are read below.
    told = notices.delivery_read(conn, sent) if sent and new else None
    records = [i.record for i in items]
    people, entries = None, None
    only_shares = not any(i.idempotency is not None or i.read_by is not None for i in items)
    if new and only_shares and (forecast is None or forecast.quiet(recipients)):
        both = await _packets_with_entries(conn, records, new, members, told)
        if both is not None:
            people, entries = both
    if entries is None and (new or members):
        people = await packet_writes.insert_packets(conn, new, members, then_read=told)
    for item in items:
        idem, packet_id = item.idempotency, item.record.packet_id
        if idem is not None and packet_id is not None:
            try:
                await packet_store.remember_send(
                    conn, idem.token_id, idem.key, idem.digest, packet_id, item.when
                )
            except IntegrityError:
                # A concurrent request with this key got there first (on PostgreSQL both can
                # pass the check above before either commits): this one writes nothing.
                raise Conflict("A request with this idempotency key was just processed.") from None
    reads = [
        (i.read_by, i.record.packet_id, i.when)
        for i in items
        if i.read_by is not None and i.record.packet_id is not None
    ]
    if reads:
        await packet_reads.mark_read(conn, reads)
    messages: list[dict[str, Any]] = []
    if sent:
        read = people if told is not None else None
        messages = await notices.delivery_messages(conn, sent, when, read=read)
        if forecast is not None:
            forecast.learn(recipients, messages)
    # The append last: on PostgreSQL it locks the log's head row until the commit. It goes in the
    # messages' statement, after their insert, where it can.
    if messages and entries is None:
        with_messages = await ledger.append_beside(
            conn, records, lambda beside: outbox.enqueue_beside(conn, messages, beside)
        )
        if with_messages is not None:
            return with_messages
    if messages:
        await outbox.enqueue_hot(conn, messages)
    return entries if entries is not None else await ledger.append_many(conn, records)


async def _packets_with_entries(
    conn: AsyncConnection,
    records: list[Record],
    new: list[NewPacket],
    members: list[dict[str, Any]],
    told: tuple[HotRead, Mapping[str, Any]] | None,
) -> tuple[list[tuple[Any, ...]], list[Entry]] | None:
    """On PostgreSQL, a batch's packets and its log entries in one statement (the head is then
    locked from that statement to the commit: ``EmailForecast``): the rows ``told`` read, and the
    entries. None elsewhere, with nothing written."""
    read: list[list[tuple[Any, ...]]] = []

    async def write(beside: Beside) -> list[tuple[Any, ...]] | None:
        both = await packet_writes.insert_packets_beside(conn, new, members, beside, then_read=told)
        if both is None:
            return None
        read.append(both[0])
        return both[1]

    entries = await ledger.append_beside(conn, records, write)
    return None if entries is None else (read[0], entries)


class LogWriter:
    """Collects pending writes from concurrent requests and writes them in batches."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[PendingWrite, asyncio.Future[Entry]]] = []
        self._pending: set[asyncio.Future[Entry]] = set()
        self._forecast = EmailForecast()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: PendingWrite) -> Entry:
        """Write ``item`` with the next batch; its log entry once the batch is committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Entry] = loop.create_future()
        self._queue.append((item, done))
        self._pending.add(done)
        done.add_done_callback(self._pending.discard)
        if self._task is None or self._task.done() or self._wake is None:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(self._wake))
        self._wake.set()
        return await done

    async def close(self) -> None:
        """Finish the writes already submitted, then stop."""
        if self._task is not None and not self._task.done():
            await asyncio.gather(*self._pending, return_exceptions=True)
            self._task.cancel()

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._flush(batch)

    async def _flush(self, batch: list[tuple[PendingWrite, asyncio.Future[Entry]]]) -> None:
        items = [item for item, _ in batch]
        try:
            entries = await self._db.run_write(lambda conn: write(conn, items, self._forecast))
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # Something in the batch was refused: write each alone, so only it fails.
            await asyncio.gather(*(self._alone(item, done) for item, done in batch))
            return
        for (_, done), entry in zip(batch, entries, strict=True):
            _settle(done, entry)

    async def _alone(self, item: PendingWrite, done: asyncio.Future[Entry]) -> None:
        try:
            entries = await self._db.run_write(lambda conn: write(conn, [item], self._forecast))
        except Exception as exc:
            _settle(done, exc)
        else:
            _settle(done, entries[0])


def _settle(done: asyncio.Future[Entry], outcome: Entry | Exception) -> None:
    if done.done():  # its caller was cancelled; the write stands
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
