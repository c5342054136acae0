"""Fewer B-trees a share on SQLite (migration 0028): the log's ``seq`` becomes the rowid and the
packets' key and recipient rows ``WITHOUT ROWID`` tables, every row kept through the rebuild and
back, the log still verifying, and the packets still opening. On PostgreSQL nothing changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.demo import seed
from hub.services import ledger
from hub.store.database import Database, head_revision
from hub.store.schema import ledger_entries, packet_keys, packet_recipients
from hub.wiring import Hub, initialise
from tests.conftest import START, TickingClock, actor_for
from tests.integration.test_inbox_counts import _draft

_TABLES = ("ledger_entries", "packet_keys", "packet_recipients")


async def _layout(conn: AsyncConnection) -> dict[str, tuple[bool, bool]]:
    """Each table's (WITHOUT ROWID, has an index of its primary key beside its rows) on SQLite."""
    if conn.dialect.name != "sqlite":
        return {}
    layout = {}
    for table in _TABLES:
        listed = await conn.exec_driver_sql(f"PRAGMA table_list({table})")
        without_rowid = bool(listed.one()[4])
        indexes = (await conn.exec_driver_sql(f"PRAGMA index_list({table})")).all()
        key_index = any(row[3] == "pk" for row in indexes) and not without_rowid
        layout[table] = (without_rowid, key_index)
    return layout


async def _rows(conn: AsyncConnection) -> list[list[Any]]:
    """Every row of the three tables, in key order, every column."""
    found = []
    for table, order in (
        (ledger_entries, [ledger_entries.c.seq]),
        (packet_keys, [packet_keys.c.packet_id, packet_keys.c.key_id]),
        (packet_recipients, [packet_recipients.c.packet_id, packet_recipients.c.agency_id]),
    ):
        found.append([tuple(r) for r in (await conn.execute(select(table).order_by(*order))).all()])
    return found


_OLD = {
    "ledger_entries": (False, True),
    "packet_keys": (False, True),
    "packet_recipients": (False, True),
}
_NEW = {
    "ledger_entries": (False, False),
    "packet_keys": (True, False),
    "packet_recipients": (True, False),
}


async def test_the_rebuilt_tables_keep_every_row_both_ways(config: Config) -> None:
    await initialise(config)
    hub = await Hub.open(config, TickingClock(START))
    try:
        await seed(hub)
        police = await actor_for(hub, "dby.police")
        sent = [await hub.packets.send(police, await _draft(hub, f"Rebuilt {k}")) for k in range(3)]
        entries = await ledger.verify(hub.db)
        async with hub.db.read() as conn:
            stored = await _rows(conn)
    finally:
        await hub.close()
    sqlite = config.database_url.startswith("sqlite")

    db = Database(config.database_url)
    try:
        async with db.engine.connect() as conn:
            assert await _layout(conn) == (_NEW if sqlite else {})
        await db.downgrade("0027")
        async with db.engine.connect() as conn:
            assert await _layout(conn) == (_OLD if sqlite else {})
            assert await _rows(conn) == stored
        await db.migrate()
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            assert await _layout(conn) == (_NEW if sqlite else {})
            assert await _rows(conn) == stored
            if sqlite:  # the log is read in seq order from its rows, with no index between
                plan = await conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT * FROM ledger_entries "
                    "WHERE seq > 1 AND seq <= 9 ORDER BY seq"
                )
                assert "INTEGER PRIMARY KEY" in " ".join(str(r[-1]) for r in plan.all())
    finally:
        await db.dispose()

    hub = await Hub.open(config, TickingClock(START))
    try:
        assert await ledger.verify(hub.db) == entries
        housing = await actor_for(hub, "dby.housing")
        for packet in sent:  # its key row found, its key unsealed, its body read; the read logged
            opened = await hub.packets.open(housing, packet.id)
            assert opened.summary.subject == packet.subject and opened.body
        # A share after the rebuild is written and logged as before, and the log still verifies.
        await hub.packets.send(police, await _draft(hub, "After the rebuild"))
        assert await ledger.verify(hub.db) == entries + len(sent) + 1
        async with hub.db.read() as conn:
            keys = await conn.execute(select(packet_keys).order_by(packet_keys.c.packet_id))
            assert len(keys.all()) > len(stored[1])
    finally:
        await hub.close()
