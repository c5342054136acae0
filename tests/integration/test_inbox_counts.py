"""An inbox's counts ("1-50 of 73", how many rows come before a page) on the inbox's index alone
(migration 0027): a share held for approval is counted, listed and shown unread by nobody until it
is released, then by its recipients like any other, and the counts agree with what a count that
looks up every packet's own flag gives. On real SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model.packets import Draft
from hub.services.actor import Actor
from hub.services.share_approvals import HeldSummary
from hub.store import packets as store
from hub.store.packets import PacketFilter, Position, box_query
from hub.store.schema import packets
from hub.wiring import Hub
from tests.conftest import actor_for, agency_id, harlow_note

APPROVE = "The victim's safety outweighs the intrusion; housing needs the street to avoid it."


async def _draft(hub: Hub, subject: str, **changes: object) -> Draft:
    return replace(await harlow_note(hub, subject), **changes)  # type: ignore[arg-type]


async def _held(hub: Hub, police: Actor) -> HeldSummary:
    draft = await _draft(
        hub,
        "Victim's address: exclusion for housing",
        data_categories=("address", "risk-summary", "victim-address"),
        restricted_reason="Housing must not offer him any property near the victim's home.",
    )
    held = await hub.packets.send(police, draft)
    assert isinstance(held, HeldSummary)
    return held


async def _counted_by_each_packet(
    conn: AsyncConnection, agency: int, flt: PacketFilter, newer_than: Position | None = None
) -> int:
    """The count as it was made before migration 0027: every row's packet looked up."""
    stmt, when, key = box_query("inbox", agency, flt)
    if newer_than is not None:
        stmt = stmt.where(tuple_(when, key) > tuple_(newer_than.created_at, newer_than.id))
    inner = stmt.with_only_columns(key).subquery()
    return int((await conn.execute(select(func.count()).select_from(inner))).scalar_one())


async def _assert_counts_agree(hub: Hub, housing: Actor) -> int:
    agency = housing.agency.id
    page = await hub.packets.listing.page(housing, "inbox", limit=3)
    newest = page.rows[0]
    flts = [
        PacketFilter(),
        PacketFilter(since=newest.created_at - timedelta(minutes=5)),
        PacketFilter(until=newest.created_at),
    ]
    async with hub.db.read() as conn:
        for flt in flts:
            exact = await _counted_by_each_packet(conn, agency, flt)
            assert await store.count_listing(conn, "inbox", agency, flt, 1000) == exact, flt
            # Capped as before: never more than the cap, whatever the box holds.
            assert await store.count_listing(conn, "inbox", agency, flt, 2) == min(exact, 2)
            last = Position(page.rows[-1].created_at, page.rows[-1].id)
            assert await store.count_listing(
                conn, "inbox", agency, flt, 1000, newer_than=last
            ) == await _counted_by_each_packet(conn, agency, flt, last)
        return await _counted_by_each_packet(conn, agency, PacketFilter())


async def test_a_held_share_is_counted_only_once_released(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    coordinator = await actor_for(hub, "dby.coordinator")
    for k in range(3):
        await hub.packets.send(police, await _draft(hub, f"Counted {k}"))
    before = await hub.packets.listing.page(housing, "inbox")
    unread_before = await hub.packets.listing.unread_count(housing)
    listed = await _assert_counts_agree(hub, housing)
    assert before.total == listed

    held = await _held(hub, police)
    while_held = await hub.packets.listing.page(housing, "inbox")
    assert held.id not in {r.id for r in while_held.rows}
    assert while_held.total == before.total
    assert await hub.packets.listing.unread_count(housing) == unread_before
    assert await _assert_counts_agree(hub, housing) == listed

    await hub.share_approvals.decide(coordinator, held.share_id, "approve", APPROVE)
    released = await hub.packets.listing.page(housing, "inbox")
    assert released.rows[0].id == held.id and held.id in released.unread
    assert released.total == before.total + 1  # type: ignore[operator]
    # Listed at its arrival, so nothing comes before it ("Showing 1 to ..."), and a page that
    # starts after it starts with the next row (it was listed at the time it was proposed).
    assert released.offset == 0
    assert released.rows[0].created_at > before.rows[0].created_at
    newest = released.rows[0]
    rest = await hub.packets.listing.page(
        housing, "inbox", before=Position(newest.created_at, newest.id)
    )
    assert [r.id for r in rest.rows] == [r.id for r in released.rows[1:]]
    assert await hub.packets.listing.unread_count(housing) == unread_before + 1
    assert await _assert_counts_agree(hub, housing) == listed + 1


async def test_each_box_is_counted_on_its_index_alone(hub: Hub, logins: object) -> None:
    """An inbox's count reads ``packet_recipients`` only, and a sent box's ``packets`` only: each
    a range of its box's index, held packets left out by the index's second column, without
    visiting a row."""
    housing, police = await agency_id(hub, "DBY-HOUSING"), await agency_id(hub, "DBY-POLICE")
    inbox, _, _ = store._inbox_index(housing, PacketFilter())
    outbox = box_query("outbox", police, PacketFilter())[0].with_only_columns(packets.c.id)
    assert "packets" not in str(inbox).replace("packet_recipients", "")
    assert "packet_recipients" not in str(outbox)
    # (statement, its index, the agency's column and id): the index ranged by agency and flag.
    cases = [
        (inbox, "ix_packet_recipients_inbox", "agency_id", housing),
        (outbox, "ix_packets_sender_created", "sender_agency_id", police),
    ]
    async with hub.db.read() as conn:
        if conn.dialect.name == "postgresql":  # the demo's few rows would be read whole
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
        for stmt, index, column, agency in cases:
            counted = select(func.count()).select_from(stmt.limit(1001).subquery())
            sql = counted.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            if conn.dialect.name == "sqlite":
                explain = f"EXPLAIN QUERY PLAN {sql}"
                wanted = f"COVERING INDEX {index} ({column}=? AND held=?)"
            else:
                explain = f"EXPLAIN {sql}"
                wanted = f"Index Cond: (({column} = {agency}) AND (held = false))"
            plan = " ".join(str(r[-1]) for r in (await conn.execute(text(explain))).all())
            assert wanted in plan and index in plan, plan


async def test_a_count_walks_its_index_in_order_and_never_sorts(hub: Hub, logins: object) -> None:
    """The statement ``count_listing`` sends, with and without a page's position: ordered as its
    index is, so that the plan's other choice is a sort of the whole box, not a sequential scan
    costed as if the rows it wants came early (60-200 ms a count on PostgreSQL at a million
    packets, where the index's range takes about a millisecond)."""
    housing, police = await agency_id(hub, "DBY-HOUSING"), await agency_id(hub, "DBY-POLICE")
    police_actor = await actor_for(hub, "dby.police")
    page = await hub.packets.listing.page(police_actor, "outbox", limit=2)
    last = Position(page.rows[-1].created_at, page.rows[-1].id)
    cases = [
        ("inbox", housing, "ix_packet_recipients_inbox"),
        ("outbox", police, "ix_packets_sender_created"),
    ]
    async with hub.db.read() as conn:
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:  # the demo's few rows would be read whole, or sorted after a bitmap
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        for box, agency, index in cases:
            for newer_than in (None, last):
                stmt = store.count_statement(
                    box, agency, PacketFilter(), 1001, newer_than=newer_than
                )
                assert "ORDER BY" in str(stmt)
                sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                explain = f"EXPLAIN {sql}" if postgresql else f"EXPLAIN QUERY PLAN {sql}"
                plan = " ".join(str(r[-1]) for r in (await conn.execute(text(explain))).all())
                assert index in plan, plan
                assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
                if newer_than is not None and postgresql:
                    assert "Index Cond: ((" in plan and "ROW(created_at" in plan, plan
                elif newer_than is not None:
                    assert "AND (created_at," in plan, plan
