"""Pages of a box (inbox or sent), each with all a listing shows of its packets, in one read.

A listing needs, for each packet on the page, its recipients, its case's reference, the reading
agency's wrapped keys and the manifest. Here the box (ordered and limited) is a subquery,
outer-joined to the case and the agency's keys: one statement, one output row per wrapped key (a
packet without one, erased or sealed elsewhere, still appears once, with none). The recipients
and the manifest are read from the packet's own row, where they are copied when it is stored
(migration 0026): looked up beside it, in ``packet_recipients`` and ``packet_parts``, they were
two index descents a packet, over half of what a page cost PostgreSQL.
The API's boxes (``inbox``, ``outbox``) are read on the driver (``hub.store.hot``); the web
inbox's filtered pages (``listing``) are built per filter and run through SQLAlchemy.
tests/integration/test_hot_paths.py holds both to what the separate reads
(``hub.store.packets``) answer.

A page's rows leave out each packet's signed header (about 1.4 KB), its signature and signer
(``ListedRow``). A listing does not use them: a subject is decrypted from the reader's wrapped key
and the manifest alone (``hub.services.listed_subjects``), and the header is checked against the
columns when the packet is opened. Read, they were carried through the sort after the join and
copied out of the database, a hundred a page, to be dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    ScalarSelect,
    Select,
    bindparam,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotRead
from hub.store.packets import (
    LISTED_TO,
    SENT,
    Box,
    PacketFilter,
    PacketRow,
    Position,
    StoredWrappedKey,
    box_query,
    recipient_ids,
)
from hub.store.schema import cases, packet_keys, packet_recipients, packets
from hub.store.types import UTCDateTime

# The most rows a box is read at once (so at most this many statements a box are kept).
MAX_BOX_LIMIT = 200


class ListedRow(NamedTuple):
    """A packet as a listing reads it: ``PacketRow`` without what only decrypting needs."""

    id: str
    packet_type: str
    case_id: int
    sender_agency_id: int
    sender_user_id: int | None
    purpose: str
    lawful_basis: str
    created_at: datetime
    recipient_agency_ids: tuple[int, ...]
    reply_to: str | None = None


def listed(row: PacketRow) -> ListedRow:
    """A packet read whole, as a listing shows it."""
    return ListedRow(*(getattr(row, f) for f in ListedRow._fields))


# The box's own columns: a ListedRow's (the recipients as stored), then the manifest.
_LISTED = [
    packets.c.recipient_ids if f == "recipient_agency_ids" else packets.c[f]
    for f in ListedRow._fields
] + [packets.c.manifest]


def _unseen(name: str, type_: Integer | UTCDateTime) -> ScalarSelect[Any]:
    """The parameter ``name`` as ``(SELECT :name)``, a value PostgreSQL's planner does not look
    at. Given the value itself, PostgreSQL could plan each page anew: where the statistics made
    the plan for the values (an agency's share of the rows, a time's) a little cheaper than the
    same plan for any value, it never kept one, and a page's planning cost about 240 µs of the
    server's CPU, on top of about 600 µs to run it (bench/README.md, seventeenth session). Unseen,
    the two estimates are equal and the plan is kept: the box's index, ranged by the agency and
    the time, as before. SQLite's plan does not change."""
    return select(bindparam(name, type_=type_)).scalar_subquery()


# A packet held for approval (``held_shares``) is in no box until released (``SENT``). An inbox
# names the recipient row's copy of the flag too (``LISTED_TO``), which its index holds after the
# agency (migration 0027).
# Each box orders by its own index's time (the recipient row's for the inbox, the packet's for
# the sent box), then id; the page carries that time out as "sort_at" to order the joined rows.
_INBOX = (
    select(*_LISTED, packet_recipients.c.created_at.label("sort_at"))
    .join(packet_recipients, packet_recipients.c.packet_id == packets.c.id)
    .where(packet_recipients.c.agency_id == _unseen("agency", Integer()), LISTED_TO, SENT)
    .order_by(packet_recipients.c.created_at.desc(), packet_recipients.c.packet_id.desc())
)
_INBOX_BEFORE = _INBOX.where(packet_recipients.c.created_at < _unseen("before", UTCDateTime()))
_OUTBOX = (
    select(*_LISTED, packets.c.created_at.label("sort_at"))
    .where(packets.c.sender_agency_id == _unseen("agency", Integer()), SENT)
    .order_by(packets.c.created_at.desc(), packets.c.id.desc())
)
_OUTBOX_BEFORE = _OUTBOX.where(packets.c.created_at < _unseen("before", UTCDateTime()))


def _limited(box: Select[Any], limit: int, most: int = MAX_BOX_LIMIT) -> Select[Any]:
    """``box`` with its limit written into the SQL: a planner that does not know it may sort the
    whole box. (A checked int, so nothing but digits is written.)"""
    if not isinstance(limit, int) or not 0 < limit <= most:
        raise ValueError(f"a box is read {most} rows at most")
    return box.limit(literal_column(str(limit), Integer))


def _page_statement(box: Select[Any], *, oldest_first: bool = False) -> Select[Any]:
    """The rows of ``box`` (ordered and limited, with its order's time as "sort_at") joined to
    what a listing shows of each (module note), in the same order."""
    page = box.subquery("page")
    joined = page.outerjoin(cases, cases.c.id == page.c.case_id).outerjoin(
        packet_keys,
        (packet_keys.c.packet_id == page.c.id)
        & (packet_keys.c.agency_id == _unseen("reader", Integer())),
    )
    order = (
        (page.c.sort_at.asc(), page.c.id.asc())
        if oldest_first
        else (page.c.sort_at.desc(), page.c.id.desc())
    )
    return (
        select(
            # ListedRow's fields, in its order, so that a row's first part is one; its time is the
            # box's own ("sort_at": for an inbox, when the packet arrived, which for a share held
            # for approval is when it was released), so that a page's cursors and the count of
            # the rows before it follow the box's order.
            *(
                page.c.sort_at.label("created_at") if c.name == "created_at" else page.c[c.name]
                for c in _LISTED
            ),
            cases.c.reference,
            packet_keys.c.key_id,
            packet_keys.c.sealed,
        )
        .select_from(joined)
        .order_by(*order, packet_keys.c.key_id)
    )


@dataclass(slots=True)
class BoxPage:
    """A page of a box, in its order, with what a listing shows of each packet."""

    rows: list[ListedRow]
    # The reading agency's wrapped keys of each packet (none: erased, or never given one).
    keys: dict[str, list[StoredWrappedKey]]
    # Manifests of the packets the agency holds a key to (b"": the manifest is missing).
    manifests: dict[str, bytes]
    # Case references by case id.
    references: dict[int, str]


async def inbox(
    conn: AsyncConnection, agency_id: int, limit: int, before: datetime | None = None
) -> BoxPage:
    """Packets addressed to an agency, newest first (served by ix_packet_recipients_inbox)."""
    box = _INBOX if before is None else _INBOX_BEFORE
    return await _read(conn, box, limit, agency_id, before)


async def outbox(
    conn: AsyncConnection, agency_id: int, limit: int, before: datetime | None = None
) -> BoxPage:
    """Packets an agency sent, newest first (served by ix_packets_sender_created)."""
    box = _OUTBOX if before is None else _OUTBOX_BEFORE
    return await _read(conn, box, limit, agency_id, before)


async def listing(
    conn: AsyncConnection,
    box: Box,
    agency_id: int,
    flt: PacketFilter,
    limit: int,
    *,
    before: Position | None = None,
    after: Position | None = None,
) -> BoxPage:
    """A page of a box as the web inbox pages it, filtered, by keyset on (time, id): newest
    first and older than ``before``, or (``after``) the ``limit`` rows just newer than
    ``after``, oldest first. Served by ix_packet_recipients_inbox and ix_packets_sender_created;
    built per filter, so through SQLAlchemy's execution, not a ``HotRead``."""
    query, when, key = box_query(box, agency_id, flt)
    stmt: Select[Any] = query.with_only_columns(*_LISTED, when.label("sort_at"))
    if after is not None:
        stmt = stmt.where(tuple_(when, key) > tuple_(after.created_at, after.id))
        stmt = stmt.order_by(when.asc(), key.asc())
    else:
        if before is not None:
            stmt = stmt.where(tuple_(when, key) < tuple_(before.created_at, before.id))
        stmt = stmt.order_by(when.desc(), key.desc())
    # A page and one more (to tell whether there are more), or a search's batch.
    limited = _limited(stmt, limit, MAX_BOX_LIMIT + 1)
    statement = _page_statement(limited, oldest_first=after is not None)
    return _collected(await conn.execute(statement, {"reader": agency_id}), agency_id)


# One statement per (box, limit), compiled once per dialect.
_PAGES: dict[tuple[Select[Any], int], HotRead] = {}


async def _read(
    conn: AsyncConnection, box: Select[Any], limit: int, agency_id: int, before: datetime | None
) -> BoxPage:
    hot = _PAGES.get((box, limit))
    if hot is None:  # (so a limit is checked before it is first used)
        hot = _PAGES[(box, limit)] = HotRead(_page_statement(_limited(box, limit)))
    values = {"agency": agency_id, "reader": agency_id, "before": before}
    return _collected(await hot.all(conn, values), agency_id)


def _collected(rows: Iterable[Sequence[Any]], agency_id: int) -> BoxPage:
    """A page from ``_page_statement``'s rows, one a wrapped key (or one a packet without).

    Each row's values are taken by position where they are used, and the named tuples made with
    ``tuple.__new__``: unpacking each row whole, and the named tuples' own constructors, took
    twice as long, a hundred times a page. The positions are ``_page_statement``'s columns
    (tests/unit/test_listed_rows.py holds each to its name)."""
    page = BoxPage([], {}, {}, {})
    listed, keys, manifests, references = page.rows, page.keys, page.manifests, page.references
    new = tuple.__new__
    last = None
    for r in rows:
        packet_id = r[0]
        if packet_id != last:  # a packet's rows are adjacent: its first
            last = packet_id
            listed.append(new(ListedRow, (*r[:8], recipient_ids(r[8]), r[9])))
            if r[11] is not None:
                references[r[2]] = r[11]
        key_id = r[12]
        if key_id is not None:
            wrapped = new(StoredWrappedKey, (agency_id, key_id, r[13]))
            if packet_id in keys:
                keys[packet_id].append(wrapped)
            else:
                keys[packet_id] = [wrapped]
            manifest = r[10]
            manifests[packet_id] = b"" if manifest is None else manifest
    return page
