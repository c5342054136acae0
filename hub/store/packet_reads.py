"""Who has opened which packet: the inbox's unread markers (the ledger stays the record of reads).

A row is written the first time a person opens a packet, in the transaction that logs the reading
(``hub.services.log_writer``); later readings leave it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Integer, and_, bindparam, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.packets import LISTED_TO, SENT
from hub.store.schema import packet_keys, packet_reads, packet_recipients, packets

# How far back the unread count looks: the newest this many packets of an inbox. A count over a
# whole inbox would cost a scan of it on every page; beyond this the badge says "99+" anyway.
UNREAD_WINDOW = 100

_READ_AMONG = select(packet_reads.c.packet_id).where(
    packet_reads.c.user_id == bindparam("user"),
    packet_reads.c.packet_id.in_(bindparam("ids", expanding=True)),
)
_NEWEST = (
    select(packet_recipients.c.packet_id)
    .join(packets, packets.c.id == packet_recipients.c.packet_id)
    .where(
        packet_recipients.c.agency_id == bindparam("agency"),
        # The recipient row's copy of the flag too, which the inbox's index holds (0027).
        LISTED_TO,
        SENT,
    )
    .order_by(packet_recipients.c.created_at.desc(), packet_recipients.c.packet_id.desc())
    .limit(bindparam("window", type_=Integer, literal_execute=True))
    .subquery()
)
_UNREAD_COUNT = (
    select(func.count())
    .select_from(_NEWEST)
    .where(
        ~exists().where(
            packet_reads.c.user_id == bindparam("user"),
            packet_reads.c.packet_id == _NEWEST.c.packet_id,
        ),
        # An erased packet (its keys destroyed) can never be opened: it is not waiting to be read.
        exists().where(
            and_(
                packet_keys.c.packet_id == _NEWEST.c.packet_id,
                packet_keys.c.agency_id == bindparam("agency"),
            )
        ),
    )
)


async def mark_read(conn: AsyncConnection, reads: Iterable[tuple[int, str, datetime]]) -> None:
    """Record (user id, packet id, when) as read, leaving earlier first reads alone."""
    first: dict[tuple[int, str], datetime] = {}
    for user, packet, when in reads:
        key = (user, packet)
        first[key] = min(when, first.get(key, when))
    rows = [
        {"user_id": user, "packet_id": packet, "first_read_at": when}
        for (user, packet), when in sorted(first.items())
    ]
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(packet_reads).on_conflict_do_nothing(
        index_elements=[packet_reads.c.user_id, packet_reads.c.packet_id]
    )
    await conn.execute(stmt, rows)


async def read_among(conn: AsyncConnection, user_id: int, packet_ids: Sequence[str]) -> set[str]:
    """Which of ``packet_ids`` the user has opened."""
    if not packet_ids:
        return set()
    result = await conn.execute(_READ_AMONG, {"user": user_id, "ids": list(packet_ids)})
    return {row[0] for row in result}


async def unread_count(
    conn: AsyncConnection, user_id: int, agency_id: int, window: int = UNREAD_WINDOW
) -> int:
    """Packets among the agency's newest ``window`` that the user has not opened (erased ones
    aside): one index range of the inbox and a primary-key probe per packet."""
    params = {"user": user_id, "agency": agency_id, "window": window}
    return int((await conn.execute(_UNREAD_COUNT, params)).scalar_one())
