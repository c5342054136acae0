"""Sealed packets: header rows, recipients, wrapped content keys and encrypted parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotReadIn
from hub.store.schema import (
    case_agencies,
    idempotency_keys,
    packet_keys,
    packet_parts,
    packet_recipients,
    packets,
)


# Rows are named tuples, not frozen dataclasses: as immutable, and built in a fifth of the time
# (a listing page builds a hundred of each).
class PacketRow(NamedTuple):
    id: str
    packet_type: str
    case_id: int
    sender_agency_id: int
    sender_user_id: int | None
    purpose: str
    lawful_basis: str
    created_at: datetime
    header: bytes
    signature: bytes
    signer_key_id: str
    recipient_agency_ids: tuple[int, ...]
    reply_to: str | None = None


class StoredWrappedKey(NamedTuple):
    agency_id: int
    key_id: str
    sealed: bytes


# Hot-path statements are built once: a statement built per call costs more Python time (cache
# key generation, coercion) than SQLite takes to run it.
# A packet held for approval (``held_shares``) is in no listing and no lookup until released:
# the recipients cannot list or open it, and nothing else that reads packets meets it. Every read
# of packets names this (``hub.store.box_pages`` too).
SENT = packets.c.held == false()
# The same of a recipient row (its copy of the flag, migration 0027): the inbox's index holds it
# after the agency, so every read of an inbox names it, and a count needs nothing else.
LISTED_TO = packet_recipients.c.held == false()
_PACKET_BY_ID = select(packets).where(packets.c.id == bindparam("id"), SENT)
_HELD_OR_SENT_BY_ID = select(packets).where(packets.c.id == bindparam("id"))
_WRAPPED_KEYS = select(packet_keys).where(packet_keys.c.packet_id == bindparam("id"))
_INBOX_RECIPIENTS = (
    select(packet_recipients.c.agency_id)
    .where(packet_recipients.c.packet_id == bindparam("id"))
    .order_by(packet_recipients.c.agency_id)
)
# Packets' wrapped keys for the reading agency, each with its packet's manifest (which is only of
# use with a key), for a summary outside a listing page (a page joins them: hub.store.box_pages).
# The manifest is the copy on the packet's row, as a page reads it (migration 0026); NULL where
# the packet has none, so that it shows as failing its integrity check, not as erased.
_KEYS_AND_MANIFESTS_FOR = HotReadIn(
    lambda ids: (
        select(
            packet_keys.c.packet_id, packet_keys.c.key_id, packet_keys.c.sealed, packets.c.manifest
        )
        .join(packets, packets.c.id == packet_keys.c.packet_id)
        .where(packet_keys.c.packet_id.in_(ids), packet_keys.c.agency_id == bindparam("agency"))
    )
)
_PARTS = select(packet_parts.c.name, packet_parts.c.data).where(
    packet_parts.c.packet_id == bindparam("id")
)


Box = Literal["inbox", "outbox"]


@dataclass(frozen=True)
class Position:
    """Where a row sits in a listing's order (newest first): its time, then its id."""

    created_at: datetime
    id: str


@dataclass(frozen=True)
class PacketFilter:
    """The cheap filters of a listing, all on columns in clear (the subject is not one)."""

    case_id: int | None = None
    # In an inbox the sender agency; in an outbox one of the recipients.
    agency_id: int | None = None
    packet_type: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def box_query(
    box: Box, agency_id: int, flt: PacketFilter
) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any]]:
    """A box's packets with the filter applied, and the two columns of its order."""
    if box == "inbox":
        stmt = (
            select(packets)
            .join(packet_recipients, packet_recipients.c.packet_id == packets.c.id)
            .where(packet_recipients.c.agency_id == agency_id, LISTED_TO, SENT)
        )
        when: ColumnElement[Any] = packet_recipients.c.created_at
        key: ColumnElement[Any] = packet_recipients.c.packet_id
        if flt.agency_id is not None:
            stmt = stmt.where(packets.c.sender_agency_id == flt.agency_id)
    else:
        stmt = select(packets).where(packets.c.sender_agency_id == agency_id, SENT)
        when, key = packets.c.created_at, packets.c.id
        if flt.agency_id is not None:
            to = packet_recipients.alias("to_agency")
            stmt = stmt.where(
                exists().where(to.c.packet_id == packets.c.id, to.c.agency_id == flt.agency_id)
            )
    if flt.case_id is not None:
        stmt = stmt.where(packets.c.case_id == flt.case_id)
    if flt.packet_type is not None:
        stmt = stmt.where(packets.c.packet_type == flt.packet_type)
    return _in_time_range(stmt, when, flt), when, key


def _inbox_index(
    agency_id: int, flt: PacketFilter
) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any]]:
    """An inbox's rows as its index (ix_packet_recipients_inbox) holds them: not held, in a
    time range if the filter gives one. (``box_query`` with none of the packets' filters.)"""
    when, key = packet_recipients.c.created_at, packet_recipients.c.packet_id
    stmt = select(key).where(packet_recipients.c.agency_id == agency_id, LISTED_TO)
    return _in_time_range(stmt, when, flt), when, key


def _in_time_range(stmt: Select[Any], when: ColumnElement[Any], flt: PacketFilter) -> Select[Any]:
    """``stmt`` limited to the filter's time range on ``when``, the box's own time."""
    if flt.since is not None:
        stmt = stmt.where(when >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(when < flt.until)
    return stmt


async def count_listing(
    conn: AsyncConnection,
    box: Box,
    agency_id: int,
    flt: PacketFilter,
    cap: int,
    *,
    newer_than: Position | None = None,
) -> int:
    """How many rows the filtered box holds (or hold newer than a position), up to ``cap``."""
    stmt = count_statement(box, agency_id, flt, cap, newer_than=newer_than)
    return int((await conn.execute(stmt)).scalar_one())


def count_statement(
    box: Box, agency_id: int, flt: PacketFilter, cap: int, *, newer_than: Position | None = None
) -> Select[Any]:
    """``count_listing``'s statement, counting no further than ``cap``: an index range of at
    most ``cap`` entries, whatever the box's size.

    An inbox filtered on nothing of the packets' own (at most on time) is counted on its index
    alone, and so is a sent box filtered so: each packet looked up to leave out the held ones cost
    PostgreSQL 6 to 32 ms a count at a million packets (migration 0027).

    Counted on an index, the rows are taken in the index's order. Without an order, PostgreSQL
    costed a sent box's count as a sequential scan that would meet ``cap`` matching rows early,
    as if they were spread evenly through the table. They are not: the table is in time order,
    so a count read every row between where its scan began (the first block, or where another
    scan of the table had got to) and the page's time. On a million packets that was up to 200
    ms a page, where the index's range takes 0.3-1.5 ms (bench/README.md, thirty-third session).
    In order, the other plan needs a sort of every matching row, and the range wins."""
    on_packets = (flt.agency_id, flt.case_id, flt.packet_type)  # filters on packets' columns
    on_index = on_packets == (None, None, None)
    if box == "inbox" and on_index:
        stmt, when, key = _inbox_index(agency_id, flt)
    else:
        stmt, when, key = box_query(box, agency_id, flt)
    if newer_than is not None:
        stmt = stmt.where(tuple_(when, key) > tuple_(newer_than.created_at, newer_than.id))
    if on_index:  # not with a case or type filter, whose own index may be the narrower range
        stmt = (
            stmt.order_by(when, key)
            if newer_than is not None
            else stmt.order_by(when.desc(), key.desc())
        )
    inner = stmt.with_only_columns(key).limit(cap).subquery()
    return select(func.count()).select_from(inner)


async def openable(conn: AsyncConnection, agency_id: int, packet_ids: Sequence[str]) -> set[str]:
    """Which of ``packet_ids`` were sent by or to the agency (and are not held for approval)."""
    if not packet_ids:
        return set()
    ids = list(set(packet_ids))
    sent = select(packets.c.id).where(
        packets.c.id.in_(ids), packets.c.sender_agency_id == agency_id, SENT
    )
    received = (
        select(packet_recipients.c.packet_id)
        .join(packets, packets.c.id == packet_recipients.c.packet_id)
        .where(
            packet_recipients.c.packet_id.in_(ids),
            packet_recipients.c.agency_id == agency_id,
            SENT,
        )
    )
    return {r[0] for r in await conn.execute(sent.union(received, _keyed(agency_id, ids)))}


def _keyed(agency_id: int, ids: list[str]) -> Any:
    """Packets the agency holds a wrapped content key for while active on the packet's case: a
    case transferred to its area within this hub (the import added its keys)."""
    return (
        select(packet_keys.c.packet_id)
        .join(packets, packets.c.id == packet_keys.c.packet_id)
        .join(
            case_agencies,
            (case_agencies.c.case_id == packets.c.case_id)
            & (case_agencies.c.agency_id == agency_id),
        )
        .where(packet_keys.c.packet_id.in_(ids), packet_keys.c.agency_id == agency_id, SENT)
    )


async def holds_key_on_case(conn: AsyncConnection, agency_id: int, packet_id: str) -> bool:
    """Whether the agency holds a wrapped key for the packet and is active on its case."""
    return (await conn.execute(_keyed(agency_id, [packet_id]).limit(1))).first() is not None


def recipient_ids_text(ids: Sequence[int]) -> str:
    """``packets.recipient_ids`` as stored: the ids ascending, comma-separated ("" for none)."""
    return ",".join(map(str, sorted(ids)))


def recipient_ids(text: str) -> tuple[int, ...]:
    """``packets.recipient_ids`` read back, ascending (sorted again: SQLite's ``group_concat``,
    which filled the rows stored before migration 0026, promises no order)."""
    if not text:
        return ()
    if "," not in text:  # most packets go to one agency
        return (int(text),)
    return tuple(sorted(map(int, text.split(","))))


# ``select(packets)``'s columns, in the table's order: every packet query here selects them, and
# rows are read by position (a listing's hundred rows, each built once, not through a dict).
_COLUMNS = (
    "id", "packet_type", "case_id", "sender_agency_id", "sender_user_id", "purpose",
    "lawful_basis", "created_at", "header", "signature", "signer_key_id", "reply_to", "held",
    "recipient_ids", "manifest",
)  # fmt: skip
if tuple(packets.c.keys()) != _COLUMNS:
    raise RuntimeError("packets' columns changed: update _COLUMNS and _row")
_WIDTH = len(_COLUMNS)


def _row(r: Sequence[Any]) -> PacketRow:
    """A packet from a row that begins with ``select(packets)``'s columns."""
    (packet_id, packet_type, case_id, sender_agency_id, sender_user_id, purpose, lawful_basis,
     created_at, header, signature, signer_key_id, reply_to, _held, recipients,
     _manifest) = r[:_WIDTH]  # fmt: skip
    return PacketRow(
        packet_id, packet_type, case_id, sender_agency_id, sender_user_id, purpose, lawful_basis,
        created_at, bytes(header), bytes(signature), signer_key_id, recipient_ids(recipients),
        reply_to,
    )  # fmt: skip


def _rows(result_rows: Sequence[Sequence[Any]]) -> list[PacketRow]:
    """Rows of ``select(packets)`` (each carries its packet's recipients: migration 0026)."""
    return [_row(r) for r in result_rows]


async def packet_by_id(
    conn: AsyncConnection, packet_id: str, *, include_held: bool = False
) -> PacketRow | None:
    """A sent packet; one held for approval too with ``include_held`` (``held_shares`` only)."""
    stmt = _HELD_OR_SENT_BY_ID if include_held else _PACKET_BY_ID
    row = (await conn.execute(stmt, {"id": packet_id})).first()
    if row is None:
        return None
    return _row(row)


async def inbox_recipients(conn: AsyncConnection, packet_id: str) -> tuple[int, ...]:
    """The agencies whose inboxes list the packet (``packet_recipients``), ascending: opening
    holds them to the packet's own ``recipient_ids``, which the signed header is checked against."""
    return tuple((await conn.execute(_INBOX_RECIPIENTS, {"id": packet_id})).scalars())


async def wrapped_keys(conn: AsyncConnection, packet_id: str) -> list[StoredWrappedKey]:
    return [
        StoredWrappedKey(r["agency_id"], r["key_id"], bytes(r["sealed"]))
        for r in (await conn.execute(_WRAPPED_KEYS, {"id": packet_id})).mappings()
    ]


async def keys_and_manifests_for(
    conn: AsyncConnection, packet_ids: Sequence[str], agency_id: int
) -> tuple[dict[str, list[StoredWrappedKey]], dict[str, bytes]]:
    """The agency's wrapped keys of each of these packets, and the manifests of those it holds a
    key to (none for a packet whose keys were erased, b"" for one whose manifest is missing)."""
    keys: dict[str, list[StoredWrappedKey]] = {}
    manifests: dict[str, bytes] = {}
    if not packet_ids:
        return keys, manifests
    for packet_id, key_id, sealed, manifest in await _KEYS_AND_MANIFESTS_FOR.all(
        conn, list(packet_ids), {"agency": agency_id}
    ):
        keys.setdefault(packet_id, []).append(StoredWrappedKey(agency_id, key_id, bytes(sealed)))
        manifests[packet_id] = b"" if manifest is None else bytes(manifest)
    return keys, manifests


async def parts(
    conn: AsyncConnection, packet_id: str, names: Sequence[str] | None = None
) -> dict[str, bytes]:
    stmt = _PARTS
    if names is not None:
        stmt = stmt.where(packet_parts.c.name.in_(list(names)))
    return {n: bytes(d) for n, d in (await conn.execute(stmt, {"id": packet_id})).all()}


async def delete_wrapped_keys(conn: AsyncConnection, packet_id: str) -> int:
    """Crypto-shredding: without any wrapped content key the parts can never be decrypted."""
    result = await conn.execute(delete(packet_keys).where(packet_keys.c.packet_id == packet_id))
    return int(result.rowcount)


async def case_packets(conn: AsyncConnection, case_id: int, limit: int = 500) -> list[PacketRow]:
    """A case's packets, oldest first (served by ix_packets_case_created)."""
    stmt = (
        select(packets)
        .where(packets.c.case_id == case_id, SENT)
        .order_by(packets.c.created_at, packets.c.id)
        .limit(limit)
    )
    return _rows((await conn.execute(stmt)).all())


async def idempotent_send(conn: AsyncConnection, token_id: int, key: str) -> tuple[str, str] | None:
    """(request digest, packet id) of an earlier send under this token and key."""
    stmt = select(idempotency_keys.c.request_digest, idempotency_keys.c.packet_id).where(
        idempotency_keys.c.token_id == token_id, idempotency_keys.c.key == key
    )
    row = (await conn.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def remember_send(
    conn: AsyncConnection, token_id: int, key: str, digest: str, packet_id: str, when: datetime
) -> None:
    await conn.execute(
        insert(idempotency_keys).values(
            token_id=token_id, key=key, request_digest=digest, packet_id=packet_id, created_at=when
        )
    )
