"""Each recipient row's copy of its packet's ``held`` (migration 0027): set from the packets when a
hub is upgraded, gone again when it goes down, and the inbox reads the same either side."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.demo import seed
from hub.services.share_approvals import HeldSummary
from hub.store.database import Database, head_revision
from hub.store.schema import packet_recipients, packets
from hub.wiring import Hub, initialise
from tests.conftest import START, TickingClock, actor_for
from tests.integration.test_inbox_counts import _draft, _held


async def _flags(conn: AsyncConnection) -> list[tuple[str, int, bool, bool]]:
    """(packet, agency, the row's flag, its packet's) for every recipient row."""
    rows = await conn.execute(
        select(
            packet_recipients.c.packet_id,
            packet_recipients.c.agency_id,
            packet_recipients.c.held,
            packets.c.held,
        )
        .join(packets, packets.c.id == packet_recipients.c.packet_id)
        .order_by(packet_recipients.c.packet_id, packet_recipients.c.agency_id)
    )
    return [(p, a, bool(h), bool(ph)) for p, a, h, ph in rows.all()]


async def test_recipient_rows_are_marked_from_their_packets_through_an_upgrade(
    config: Config,
) -> None:
    await initialise(config)
    hub = await Hub.open(config, TickingClock(START))
    try:
        await seed(hub)
        police = await actor_for(hub, "dby.police")
        for k in range(2):
            await hub.packets.send(police, await _draft(hub, f"Upgrade {k}"))
        held = await _held(hub, police)
        assert isinstance(held, HeldSummary)
        async with hub.db.read() as conn:
            stored = await _flags(conn)
        housing = await actor_for(hub, "dby.housing")
        listed = [
            (r.id, r.subject) for r in (await hub.packets.listing.page(housing, "inbox")).rows
        ]
    finally:
        await hub.close()
    assert all(row_flag == packet_flag for _, _, row_flag, packet_flag in stored)
    assert {p for p, _, flag, _ in stored if flag} == {held.id}

    db = Database(config.database_url)
    try:
        await db.downgrade("0026")
        async with db.engine.connect() as conn:
            with pytest.raises(Exception, match="held"):
                await conn.execute(select(packet_recipients.c.held).limit(1))
        await db.migrate()
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            assert await _flags(conn) == stored
    finally:
        await db.dispose()

    hub = await Hub.open(config, TickingClock(START))
    try:
        housing = await actor_for(hub, "dby.housing")
        page = await hub.packets.listing.page(housing, "inbox")
        assert [(r.id, r.subject) for r in page.rows] == listed
        assert held.id not in {r.id for r in page.rows} and page.total == len(listed)
    finally:
        await hub.close()
