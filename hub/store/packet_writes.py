"""Sealed packets written: a share batch's packets, recipients, wrapped keys and parts, and the
agencies it makes active on its cases, in one multi-row insert per table (on PostgreSQL one
statement, with the batch's log entries beside them where it can: ``insert_packets_beside``).
Reads stay in ``hub.store.packets``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto.packet_format import MANIFEST
from hub.store.hot import HotRead
from hub.store.hot_batch import Beside, HotInserts
from hub.store.hot_writes import HotInsert
from hub.store.packets import PacketRow, StoredWrappedKey, recipient_ids_text
from hub.store.schema import case_agencies, packet_keys, packet_parts, packet_recipients, packets

# Every share's batch inserts into these (on the driver where it can: hub.store.hot).
# The batch's agencies active on its cases go in with them (an agency already active keeps its
# row, and so its first date): on PostgreSQL one round trip fewer a batch.
_INSERT_PACKETS = HotInserts(
    HotInsert(packets),
    HotInsert(packet_recipients),
    HotInsert(packet_keys),
    HotInsert(packet_parts),
    HotInsert(case_agencies, skip_existing=True),
)


@dataclass(frozen=True)
class NewPacket:
    """A sealed packet's rows, ready to insert."""

    row: PacketRow
    wrapped_keys: Sequence[StoredWrappedKey]
    parts: Mapping[str, bytes]


async def insert_packet(
    conn: AsyncConnection,
    *,
    row: PacketRow,
    wrapped_keys: Sequence[StoredWrappedKey],
    parts: Mapping[str, bytes],
) -> None:
    await insert_packets(conn, [NewPacket(row, wrapped_keys, parts)])


async def insert_packets(
    conn: AsyncConnection,
    new: Sequence[NewPacket],
    members: Sequence[Mapping[str, Any]] = (),
    *,
    then_read: tuple[HotRead, Mapping[str, Any]] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert packets, whatever their number, with one multi-row insert per table (on PostgreSQL
    all in one statement: ``HotInserts``), and ``members``, rows of agencies now active on their
    cases (``hub.store.workflows.membership_rows``). Either may be empty: a table given no rows
    is left out. ``then_read``: a read run after them in the same transaction (on PostgreSQL in
    the same statement), whose rows are returned."""
    return await _INSERT_PACKETS.run(conn, _packet_rows(new, members), then_read=then_read)


async def insert_packets_beside(
    conn: AsyncConnection,
    new: Sequence[NewPacket],
    members: Sequence[Mapping[str, Any]],
    beside: Beside,
    *,
    then_read: tuple[HotRead, Mapping[str, Any]] | None = None,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
    """``insert_packets`` with ``beside`` (the batch's log entries: ``hub.store.ledger_chain``) in
    the same statement on PostgreSQL: (the read's rows, beside's rows). None elsewhere, and
    nothing written: the caller writes the parts apart."""
    return await _INSERT_PACKETS.run_beside(
        conn, _packet_rows(new, members), beside, then_read=then_read
    )


def _packet_rows(
    new: Sequence[NewPacket], members: Sequence[Mapping[str, Any]]
) -> list[Sequence[Mapping[str, Any]]]:
    """The rows of each of ``_INSERT_PACKETS``' tables."""
    return [
        [
            {
                "id": p.row.id,
                "packet_type": p.row.packet_type,
                "case_id": p.row.case_id,
                "sender_agency_id": p.row.sender_agency_id,
                "sender_user_id": p.row.sender_user_id,
                "purpose": p.row.purpose,
                "lawful_basis": p.row.lawful_basis,
                "created_at": p.row.created_at,
                "header": p.row.header,
                "signature": p.row.signature,
                "signer_key_id": p.row.signer_key_id,
                "reply_to": p.row.reply_to,
                "recipient_ids": recipient_ids_text(p.row.recipient_agency_ids),
                "manifest": p.parts.get(MANIFEST),
            }
            for p in new
        ],
        [
            {"packet_id": p.row.id, "agency_id": a, "created_at": p.row.created_at}
            for p in new
            for a in p.row.recipient_agency_ids
        ],
        [
            {"packet_id": p.row.id, "agency_id": k.agency_id, "key_id": k.key_id,
             "sealed": k.sealed}
            for p in new
            for k in p.wrapped_keys
        ],
        [
            {"packet_id": p.row.id, "name": n, "data": d}
            for p in new
            for n, d in p.parts.items()
        ],
        members,
    ]  # fmt: skip
