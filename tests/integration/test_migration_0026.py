"""Each packet's recipients and manifest on its own row (migration 0026): written with every packet
stored, filled in for the packets already there when a hub is upgraded, and gone again when it
goes down; a listing reads them."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.demo import seed
from hub.model.packets import Draft
from hub.store.database import Database, head_revision
from hub.store.schema import packet_parts, packet_recipients, packets
from hub.wiring import Hub, initialise
from tests.conftest import (
    NECESSITY,
    SHARE_CATEGORIES,
    START,
    TickingClock,
    actor_for,
    agency_id,
    case_id,
)


async def _copies_and_originals(conn: AsyncConnection) -> list[tuple[object, ...]]:
    """(id, recipients and manifest on the row, the same read from their own tables) a packet."""
    manifest = (
        select(packet_parts.c.data)
        .where(packet_parts.c.packet_id == packets.c.id, packet_parts.c.name == "manifest")
        .scalar_subquery()
    )
    rows = (
        await conn.execute(
            select(packets.c.id, packets.c.recipient_ids, packets.c.manifest, manifest).order_by(
                packets.c.id
            )
        )
    ).all()
    out = []
    for packet_id, on_row, manifest_on_row, part in rows:
        listed = (
            await conn.execute(
                select(packet_recipients.c.agency_id)
                .where(packet_recipients.c.packet_id == packet_id)
                .order_by(packet_recipients.c.agency_id)
            )
        ).scalars()
        expected = ",".join(str(a) for a in listed)
        out.append((packet_id, on_row, expected, manifest_on_row, part))
    return out


async def _send_some(hub: Hub) -> list[str]:
    police = await actor_for(hub, "dby.police")
    housing, csc = await agency_id(hub, "DBY-HOUSING"), await agency_id(hub, "DBY-CSC")
    sent = []
    for k in range(4):
        draft = Draft(
            case_id=await case_id(hub, "Harlow"),
            # Listed in descending order: stored ascending all the same.
            recipient_agency_ids=(max(housing, csc), min(housing, csc)) if k % 2 else (housing,),
            subject=f"Upgrade {k}",
            body="Body",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        )
        sent.append((await hub.packets.send(police, draft)).id)
    return sent


async def test_rows_carry_their_recipients_and_manifest_through_an_upgrade(
    config: Config,
) -> None:
    await initialise(config)
    hub = await Hub.open(config, TickingClock(START))
    try:
        await seed(hub)
        sent = await _send_some(hub)
        async with hub.db.read() as conn:
            stored = await _copies_and_originals(conn)
    finally:
        await hub.close()
    # Written with each packet: the recipients ascending, the manifest as its part.
    assert {s[0] for s in stored} >= set(sent)
    assert any("," in s[1] for s in stored)  # type: ignore[operator]
    for packet_id, on_row, expected, manifest_on_row, part in stored:
        assert on_row == expected and manifest_on_row == part is not None, packet_id

    db = Database(config.database_url)
    try:
        await db.downgrade("0025")
        async with db.engine.connect() as conn:
            columns = (await conn.execute(select(packets.c.id).limit(1))).all()
            assert columns  # the packets are still there, and the columns are not:
            with pytest.raises(Exception, match="recipient_ids"):
                await conn.execute(select(packets.c.recipient_ids).limit(1))
        await db.migrate()
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            assert await _copies_and_originals(conn) == stored
        if db.engine.dialect.name == "postgresql":
            # No default left to hide an insert that forgets the recipients.
            async with db.engine.connect() as conn:
                row = (await conn.execute(select(packets).where(packets.c.id == sent[0]))).one()
                values = dict(row._mapping, id="00000000-0000-4000-8000-000000000026")
                del values["recipient_ids"]
                with pytest.raises(IntegrityError, match="recipient_ids"):
                    await conn.execute(insert(packets).values(values))
    finally:
        await db.dispose()

    # And a listing after the upgrade shows what it showed before.
    hub = await Hub.open(config, TickingClock(START))
    try:
        housing = await actor_for(hub, "dby.housing")
        listed = {s.id: s for s in await hub.packets.inbox(housing)}
        for k, packet_id in enumerate(sent):
            assert listed[packet_id].subject == f"Upgrade {k}"
            assert len(listed[packet_id].recipient_agency_ids) == (2 if k % 2 else 1)
    finally:
        await hub.close()
