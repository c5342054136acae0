"""Helpers for the workflow tests: typed drafts, and a snapshot of everything a send could write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from hub.model.cases import MappaCategory, MappaLevel
from hub.model.packets import Draft, PacketType
from hub.services.cases import NewCase
from hub.services.casework import DueItem
from hub.store import ledger as ledger_store
from hub.store import workflows as wf_store
from hub.store.schema import (
    case_agencies,
    disclosure_decisions,
    disclosures,
    info_requests,
    ledger_entries,
    meetings,
    packet_recipients,
    packets,
    work_items,
)
from hub.wiring import Hub
from tests.conftest import actor_for, agency_id

WHY = {"why": "The panel's decisions must reach every agency that carries out the plan."}
WHY_WHO_USE = {
    "why": "He has applied for a driver's job delivering to primary schools.",
    "who": "The employer's managing director only, who has agreed to keep it confidential.",
    "use": "To refuse or restrict the role; the letter is destroyed after the decision.",
}


async def typed_draft(
    hub: Hub,
    packet_type: PacketType,
    case: int,
    recipients: tuple[str, ...],
    form: Mapping[str, Any] | None,
    *,
    categories: tuple[str, ...] = ("identity", "risk-summary", "risk-management-plan"),
    purpose: str = "mappa-meeting",
    necessity: Mapping[str, str] = WHY,
    subject: str | None = None,
) -> Draft:
    return Draft(
        case_id=case,
        recipient_agency_ids=tuple([await agency_id(hub, code) for code in recipients]),
        subject=subject or packet_type.value.replace("-", " ").capitalize(),
        body="",
        purpose=purpose,
        lawful_basis="cja2003-s325",
        packet_type=packet_type,
        data_categories=categories,
        necessity=necessity,
        form=form,
    )


async def new_case(hub: Hub, family_name: str, level: int = 2, lead: str = "DBY-PROBATION") -> int:
    """A case of our own, opened by the coordinator: only its lead agency is active on it.

    The demo world seeds meetings, requests and disclosures on its cases; a fresh case keeps a
    test's deadlines and recipients exactly those the test made.
    """
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await hub.cases.add(
        coordinator,
        NewCase(
            family_name, "Test", MappaCategory.VIOLENT_OR_OTHER_SEXUAL, MappaLevel(level), lead
        ),
    )
    return case.id


def on_case(items: list[DueItem], case: int) -> list[DueItem]:
    """The items of one case (area and agency lists also hold the demo world's)."""
    return [i for i in items if i.row.case_id == case]


@dataclass(frozen=True)
class Snapshot:
    """Row counts of every table a send or a workflow step may write, and the ledger head."""

    ledger_head: tuple[int, str]
    counts: dict[str, int]


async def snapshot(hub: Hub) -> Snapshot:
    tables = {
        "ledger_entries": ledger_entries,
        "packets": packets,
        "packet_recipients": packet_recipients,
        "case_agencies": case_agencies,
        "meetings": meetings,
        "work_items": work_items,
        "info_requests": info_requests,
        "disclosures": disclosures,
        "disclosure_decisions": disclosure_decisions,
    }
    async with hub.db.read() as conn:
        head = await ledger_store.head(conn)
        counts = {
            name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for name, t in tables.items()
        }
    return Snapshot(head, counts)


async def assert_only_refusals_logged(hub: Hub, before: Snapshot, refusals: int) -> None:
    """Since ``before``, nothing was stored but ``refusals`` entries on the log, each a share the
    policy refused (hub.services.refused_shares)."""
    after = await snapshot(hub)
    logged = before.counts["ledger_entries"] + refusals
    assert after.counts == {**before.counts, "ledger_entries": logged}
    async with hub.db.read() as conn:
        entries = await ledger_store.entries_after(conn, before.ledger_head[0], refusals + 1)
    assert [(e["event"], e["decision"]) for e in entries] == [("share-refused", "DENY")] * refusals


async def case_items(hub: Hub, case: int) -> list[wf_store.WorkItemRow]:
    async with hub.db.read() as conn:
        return await wf_store.case_items(conn, case)


async def case_meetings(hub: Hub, case: int) -> list[wf_store.MeetingRow]:
    async with hub.db.read() as conn:
        return await wf_store.case_meetings(conn, case)


async def active_on(hub: Hub, case: int) -> set[int]:
    async with hub.db.read() as conn:
        return await wf_store.case_agency_ids(conn, case)


async def ledger_rows(hub: Hub) -> list[Mapping[str, Any]]:
    async with hub.db.read() as conn:
        return [dict(r) async for r in ledger_store.stream_entries(conn)]
