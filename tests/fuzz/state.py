"""What a refused input must leave as it was: the rows of every table that holds case content,
the directory and keys, and the log's head. (Sessions and rate-limit buckets change on any
request, refused or not, and hold no content.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select

from hub.store import ledger as ledger_store
from hub.store import schema
from hub.store.database import Database

CONTENT: tuple[Table, ...] = (
    schema.areas, schema.agencies, schema.agency_keys, schema.cases, schema.case_agencies,
    schema.case_events, schema.packets, schema.packet_recipients, schema.packet_keys,
    schema.packet_parts, schema.ledger_entries, schema.visor_records, schema.transfer_imports,
    schema.saved_drafts, schema.held_shares, schema.disclosures, schema.info_requests,
    schema.meetings, schema.work_items, schema.email_outbox,
)  # fmt: skip


async def snapshot(db: Database) -> dict[str, Any]:
    async with db.read() as conn:
        counts: dict[str, Any] = {
            t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in CONTENT
        }
        counts["ledger head"] = await ledger_store.head(conn)
    return counts
