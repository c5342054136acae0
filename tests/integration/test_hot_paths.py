"""The share path's shortcuts give the same answers as the long way, on real databases.

Hot reads run on the driver itself (hub.store.hot), and so do the batch's inserts on the SQLite
writer thread; SQLite reads run on the event loop's own
thread and fall back to a worker thread when the database is busy, the rate limit's side file does
the same, and agencies and areas are kept once read (hub.services.known_directory).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.demo import DemoLogin
from hub.model.packets import Draft
from hub.services.api_callers import _CALLER
from hub.services.known_directory import KnownDirectory
from hub.store import box_pages
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import email_outbox as outbox
from hub.store import hot as hot_module
from hub.store import ledger as ledger_store
from hub.store import notification_settings as settings_store
from hub.store import packets as packet_store
from hub.store import workflows as workflow_store
from hub.store.hot import HotRead, HotReadIn
from hub.store.hot_batch import HotInserts
from hub.store.hot_writes import HotInsert, HotWrite
from hub.store.outage import database_unavailable
from hub.store.packets import Box, PacketFilter, Position
from hub.store.rate_limits import SideFile
from hub.store.schema import (
    case_agencies,
    cases,
    email_outbox,
    ledger_head,
    notification_settings,
    packet_keys,
    packet_parts,
    packets,
    users,
)
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def test_a_hot_read_answers_what_sqlalchemy_answers(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """Every column of the token read (datetimes, booleans, NULLs, joined and labelled columns)
    comes back from the driver as SQLAlchemy's own execution gives it."""
    token = await hub.tokens.issue(None, "DBY-POLICE", "hot read", ["packets:send"])
    token_id = int(token.secret.split("_")[1])

    async def both(conn: AsyncConnection) -> tuple[object, object]:
        fast = await _CALLER.first(conn, {"id": token_id})
        slow = (await conn.execute(_CALLER.statement, {"id": token_id})).mappings().one()
        return fast, dict(slow)

    fast, slow = await hub.db.run_read(both)
    assert fast == slow
    assert fast is not None and fast["revoked_at"] is None
    assert fast["expires_at"].tzinfo is not None
    # Through an ordinary transaction too (aiosqlite or asyncpg under SQLAlchemy).
    async with hub.db.read() as conn:
        assert await _CALLER.first(conn, {"id": token_id}) == slow
        assert await _CALLER.first(conn, {"id": 2**31 - 1}) is None


async def test_a_case_and_its_agencies_in_one_read(hub: Hub, logins: dict[str, DemoLogin]) -> None:
    target = await case_id(hub, "Harlow")

    async def read(conn: AsyncConnection) -> object:
        return (
            await case_store.case_with_agencies(conn, target),
            await case_store.case_by_id(conn, target),
            await workflow_store.case_agency_ids(conn, target),
            await case_store.case_with_agencies(conn, 2**31 - 1),
        )

    combined, case, active, missing = await hub.db.run_read(read)  # type: ignore[misc]
    assert combined == (case, active)
    assert active, "the demo case has agencies active on it"
    assert missing is None


async def test_a_case_no_agency_is_active_on_has_an_empty_set(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    target = await case_id(hub, "Harlow")
    async with hub.db.write() as conn:
        await conn.execute(case_agencies.delete().where(case_agencies.c.case_id == target))
    found = await hub.db.run_read(lambda conn: case_store.case_with_agencies(conn, target))
    assert found is not None and found[1] == set()


async def test_a_hot_read_of_a_list_answers_what_sqlalchemy_answers(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """A page's ids read with one placeholder each (``HotReadIn``), in parts past MAX_ITEMS:
    the same rows as an expanding IN through SQLAlchemy, however long the list."""
    async with hub.db.read() as conn:
        all_ids = [r[0] for r in await conn.execute(select(cases.c.id))]
    wanted = sorted({*all_ids, *range(10_000, 10_000 + HotReadIn.MAX_ITEMS + 40)})
    slow_statement = select(cases.c.id, cases.c.reference).where(cases.c.id.in_(wanted))

    async def both(conn: AsyncConnection) -> tuple[object, object, object]:
        fast = await case_store.references_by_ids(conn, wanted)
        slow = {i: r for i, r in (await conn.execute(slow_statement)).all()}
        short = await case_store.references_by_ids(conn, all_ids[:1])
        return fast, slow, short

    fast, slow, short = await hub.db.run_read(both)  # type: ignore[misc]
    assert fast == slow and len(slow) == len(all_ids)  # type: ignore[arg-type]
    assert short == {all_ids[0]: slow[all_ids[0]]}  # type: ignore[index]
    async with hub.db.read() as conn:  # outside a hot path too (aiosqlite or asyncpg)
        assert await case_store.references_by_ids(conn, wanted) == slow


async def test_a_box_page_in_one_read_answers_what_the_separate_reads_answer(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The API's inbox and sent box (``hub.store.box_pages``), one statement on the driver on
    both databases, give the rows in the order SQLAlchemy's execution of the box gives them, and
    the recipients, wrapped keys, manifests and case references the separate reads give: for
    packets to several agencies, one whose keys were erased, one whose manifest is missing and
    one with two keys for the reader. A limit past the bound is refused."""
    police = await actor_for(hub, "dby.police")
    housing, csc = await agency_id(hub, "DBY-HOUSING"), await agency_id(hub, "DBY-CSC")
    sent = []
    for k in range(12):
        draft = Draft(
            case_id=await case_id(hub, "Harlow" if k % 2 else "Pritchard"),
            recipient_agency_ids=(housing, csc) if k % 3 else (housing,),
            subject=f"Box read {k}",
            body="Body",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        )
        sent.append((await hub.packets.send(police, draft)).id)
    erased, unmanifested, rekeyed = sent[3], sent[5], sent[8]
    async with hub.db.write() as conn:
        await conn.execute(
            packet_keys.delete().where(
                packet_keys.c.packet_id == erased, packet_keys.c.agency_id == housing
            )
        )
        await conn.execute(
            packet_parts.delete().where(
                packet_parts.c.packet_id == unmanifested, packet_parts.c.name == "manifest"
            )
        )
        await conn.execute(
            packets.update().where(packets.c.id == unmanifested).values(manifest=None)
        )
        (sealed,) = (
            await conn.execute(
                select(packet_keys.c.sealed).where(
                    packet_keys.c.packet_id == rekeyed, packet_keys.c.agency_id == housing
                )
            )
        ).one()
        await conn.execute(
            packet_keys.insert().values(
                packet_id=rekeyed, key_id="zz-second-key", agency_id=housing, sealed=sealed
            )
        )
    async with hub.db.read() as conn:
        sender = police.agency.id
        times = sorted(t for (t,) in await conn.execute(select(packets.c.created_at)))
    middle = times[len(times) // 2]
    reads = [
        (box_pages.inbox, box_pages._INBOX, housing, None),
        (box_pages.inbox, box_pages._INBOX_BEFORE, housing, middle),
        (box_pages.outbox, box_pages._OUTBOX, sender, None),
        (box_pages.outbox, box_pages._OUTBOX_BEFORE, sender, middle),
    ]
    seen_keys: list[int] = []
    for read, statement, agency, before in reads:
        for limit in (1, 7, 200):

            async def both(conn: AsyncConnection) -> tuple[box_pages.BoxPage, list[object]]:
                fast = await read(conn, agency, limit, before)  # noqa: B023
                params = {"agency": agency, "before": before}  # noqa: B023
                slow_rows = (await conn.execute(statement.limit(limit), params)).all()  # noqa: B023
                rows = [await packet_store.packet_by_id(conn, r.id) for r in slow_rows]
                ids = [r.id for r in rows]
                keys, manifests = await packet_store.keys_and_manifests_for(conn, ids, agency)  # noqa: B023
                references = await case_store.references_by_ids(conn, (r.case_id for r in rows))
                return fast, [rows, keys, manifests, references]

            fast, (rows, keys, manifests, references) = await hub.db.run_read(both)
            assert rows and fast.rows == [box_pages.listed(r) for r in rows], (statement, limit)
            assert {k: sorted(v) for k, v in fast.keys.items()} == {
                k: sorted(v) for k, v in keys.items()
            }
            assert fast.manifests == manifests and fast.references == references
            seen_keys.extend(len(v) for v in fast.keys.values())
    # The awkward rows were met: several recipients, no key, two keys, no manifest.
    assert any(len(r.recipient_agency_ids) == 2 for r in rows) and 2 in seen_keys
    async with hub.db.read() as conn:
        page = await box_pages.inbox(conn, housing, 200)
        with pytest.raises(ValueError):
            await box_pages.inbox(conn, housing, box_pages.MAX_BOX_LIMIT + 1)
    assert erased in [r.id for r in page.rows] and erased not in page.keys
    assert page.manifests[unmanifested] == b"" and len(page.keys[rekeyed]) == 2


async def _web_page_both_ways(
    conn: AsyncConnection,
    *,
    box: Box,
    agency: int,
    flt: PacketFilter,
    limit: int,
    before: Position | None,
    after: Position | None,
) -> tuple[box_pages.BoxPage, list[Any]]:
    """A web inbox page in one read, and the same by the box's own statement and the separate
    reads of its recipients, keys, manifests and references."""
    fast = await box_pages.listing(conn, box, agency, flt, limit, before=before, after=after)
    stmt, when, key = packet_store.box_query(box, agency, flt)
    if after is not None:
        stmt = stmt.where(tuple_(when, key) > tuple_(after.created_at, after.id))
        stmt = stmt.order_by(when.asc(), key.asc())
    else:
        if before is not None:
            stmt = stmt.where(tuple_(when, key) < tuple_(before.created_at, before.id))
        stmt = stmt.order_by(when.desc(), key.desc())
    rows = packet_store._rows((await conn.execute(stmt.limit(limit))).all())
    ids = [r.id for r in rows]
    keys, manifests = await packet_store.keys_and_manifests_for(conn, ids, agency)
    references = await case_store.references_by_ids(conn, (r.case_id for r in rows))
    return fast, [rows, keys, manifests, references]


async def test_postgresql_keeps_one_plan_for_each_box_page(
    hub: Hub, logins: dict[str, DemoLogin], config: Config
) -> None:
    """PostgreSQL plans a prepared statement for its values five times, then keeps the plan for
    any value if that is estimated no dearer. Given the agency and the time as values, a box
    page's plan for them could be estimated a little cheaper, and every page was then planned
    anew (about 240 µs of the server's CPU). Given as ``(SELECT $n)``, unseen by the planner, the
    plan for any value is kept after the fifth page, for each box and either way of paging."""
    if config.is_sqlite:
        pytest.skip("PostgreSQL's plans for prepared statements")
    housing = await agency_id(hub, "DBY-HOUSING")
    sender = await agency_id(hub, "DBY-POLICE")
    since = hub.clock.now()

    async def pages(conn: AsyncConnection) -> list[Any]:
        for _ in range(8):
            await box_pages.inbox(conn, housing, 100)
            await box_pages.inbox(conn, housing, 100, since)
            await box_pages.outbox(conn, sender, 100)
            await box_pages.outbox(conn, sender, 100, since)
        driver: Any = (await hot_module.pooled(conn)).driver_connection
        return list(
            await driver.fetch(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%packet_keys.sealed%' AND statement NOT LIKE '%pg_prep%'"
            )
        )

    plans = await hub.db.run_read(pages)
    assert len(plans) == 4  # the four statements, each prepared once on this connection
    for statement, generic, custom in plans:
        # Five for the values, then the one kept (more if the connection ran pages before).
        assert custom == 5 and generic >= 3, statement
        # This small database's statistics would let PostgreSQL keep a plan for bare values too;
        # a large one's did not (bench/README.md). So: no value the planner could look at.
        values = re.findall(r"\(?\w* ?\$\d+", statement)
        assert values and all(v.startswith("(SELECT $") for v in values), statement


async def test_a_web_inbox_page_in_one_read_answers_what_the_separate_reads_answer(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The web inbox's filtered pages (``hub.store.box_pages.listing``), one statement built per
    filter, give the rows of the filtered box in its keyset order, newest first before a
    position and oldest first after it, with the recipients, keys, manifests and references the
    separate reads give."""
    police = await actor_for(hub, "dby.police")
    housing, csc = await agency_id(hub, "DBY-HOUSING"), await agency_id(hub, "DBY-CSC")
    harlow = await case_id(hub, "Harlow")
    for k in range(9):
        draft = Draft(
            case_id=harlow if k % 2 else await case_id(hub, "Pritchard"),
            recipient_agency_ids=(housing, csc) if k % 3 else (housing,),
            subject=f"Web page {k}",
            body="Body",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        )
        await hub.packets.send(police, draft)
    sender = police.agency.id
    async with hub.db.read() as conn:
        inbox = await box_pages.listing(conn, "inbox", housing, PacketFilter(), 200)
    middle = inbox.rows[len(inbox.rows) // 2]
    at = Position(middle.created_at, middle.id)
    # The agency filter is the sender in an inbox, a recipient in a sent box.
    for box, agency, other in (("inbox", housing, sender), ("outbox", sender, csc)):
        for flt in (PacketFilter(), PacketFilter(case_id=harlow), PacketFilter(agency_id=other)):
            for before, after, limit in ((None, None, 4), (at, None, 201), (None, at, 3)):
                read = partial(_web_page_both_ways, box=box, agency=agency, flt=flt)
                both = partial(read, limit=limit, before=before, after=after)
                fast, (rows, keys, manifests, refs) = await hub.db.run_read(both)
                listed = [box_pages.listed(r) for r in rows]
                assert rows and fast.rows == listed, (box, flt, before, after)
                assert fast.keys == keys and fast.manifests == manifests
                assert fast.references == refs
    async with hub.db.read() as conn:
        with pytest.raises(ValueError):
            await box_pages.listing(conn, "inbox", housing, PacketFilter(), 202)


async def test_a_hot_insert_stores_what_sqlalchemy_stores(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """Rows inserted on the driver (SQLite's writer thread) read back as SQLAlchemy's do: the
    same values, the time as the same aware datetime; a key used twice is SQLAlchemy's
    IntegrityError, failing its own job only."""
    target = await case_id(hub, "Harlow")
    fast_agency, slow_agency = await agency_id(hub, "DBY-YOT"), await agency_id(hub, "DBY-MH")
    async with hub.db.write() as conn:
        await conn.execute(
            case_agencies.delete().where(
                case_agencies.c.case_id == target,
                case_agencies.c.agency_id.in_([fast_agency, slow_agency]),
            )
        )
    when = hub.clock.now()
    hot = HotInsert(case_agencies)

    def row(agency: int) -> dict[str, object]:
        return {"case_id": target, "agency_id": agency, "joined_at": when}

    async def fast(conn: AsyncConnection) -> None:
        await hot.run(conn, [row(fast_agency)])

    async def slow(conn: AsyncConnection) -> None:
        await conn.execute(hot.statement(conn.dialect), [row(slow_agency)])

    async def twice(conn: AsyncConnection) -> None:
        await hot.run(conn, [row(fast_agency)])

    # One batch: the duplicate fails alone, the other two commit.
    results = await asyncio.gather(
        hub.db.run_write(fast), hub.db.run_write(slow), return_exceptions=True
    )
    assert results == [None, None]
    with pytest.raises(IntegrityError):
        await hub.db.run_write(twice)
    async with hub.db.read() as conn:
        stored = {
            r.agency_id: r.joined_at
            for r in await conn.execute(
                select(case_agencies).where(
                    case_agencies.c.case_id == target,
                    case_agencies.c.agency_id.in_([fast_agency, slow_agency]),
                )
            )
        }
    assert stored == {fast_agency: when, slow_agency: when}
    assert stored[fast_agency].tzinfo is not None


async def test_hot_inserts_write_parents_children_and_the_write_after_together(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """``HotInserts`` (on PostgreSQL one statement, the inserts as CTEs over ``unnest``): a
    packet and its parts go in together (the foreign key is checked at the statement's end), a
    row already there is skipped where its insert skips, and the write after runs with its own
    values; each table's values read back as SQLAlchemy stores them. A value too long for its
    column is refused, not cut short, and the job writes nothing."""
    police = await actor_for(hub, "dby.police")
    target = await case_id(hub, "Harlow")
    sent = await hub.packets.send(
        police,
        Draft(
            case_id=target,
            recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject="Hot inserts",
            body="Body",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        ),
    )
    async with hub.db.read() as conn:
        original = dict(
            (await conn.execute(select(packets).where(packets.c.id == sent.id))).one()._mapping
        )
        joined = (
            await conn.execute(select(case_agencies).where(case_agencies.c.case_id == target))
        ).first()
    assert joined is not None
    copy = {k: v for k, v in original.items() if k != "held"} | {"id": "hot-inserts-copy"}
    together = HotInserts(
        HotInsert(packets),
        HotInsert(case_agencies, skip_existing=True),
        HotInsert(packet_parts),
        then=HotWrite(
            update(cases)
            .where(cases.c.id == bindparam("case"))
            .values(given_names=bindparam("names"))
        ),
    )
    parts = [{"packet_id": "hot-inserts-copy", "name": n, "data": bytes([i]) * 3}
             for i, n in enumerate(("manifest", "body"))]  # fmt: skip

    async def write(conn: AsyncConnection) -> None:
        await together.run(
            conn,
            [[copy], [dict(joined._mapping)], parts],
            {"case": target, "names": "Written after"},
        )

    await hub.db.run_write(write)
    async with hub.db.read() as conn:
        stored = dict(
            (await conn.execute(select(packets).where(packets.c.id == "hot-inserts-copy")))
            .one()
            ._mapping
        )
        stored_parts = (
            await conn.execute(
                select(packet_parts.c.name, packet_parts.c.data)
                .where(packet_parts.c.packet_id == "hot-inserts-copy")
                .order_by(packet_parts.c.name)
            )
        ).all()
        names = (
            await conn.execute(select(cases.c.given_names).where(cases.c.id == target))
        ).scalar_one()
    assert stored == original | {"id": "hot-inserts-copy"}
    assert stored["created_at"].tzinfo is not None
    assert [tuple(p) for p in stored_parts] == [("body", b"\x01" * 3), ("manifest", b"\x00" * 3)]
    assert names == "Written after"

    too_long = [{"packet_id": sent.id, "name": "n" * 40, "data": b"x"}]  # name is VARCHAR(32)

    async def overlong(conn: AsyncConnection) -> None:
        await together.run(
            conn,
            [[copy | {"id": "hot-inserts-second"}], [], too_long],
            {"case": target, "names": "Never written"},
        )

    with pytest.raises(ValueError):
        await hub.db.run_write(lambda conn: together.run(conn, [[copy]], {"case": 1, "names": ""}))
    if hub.db.engine.dialect.name != "postgresql":
        return  # SQLite keeps a string of any length whatever the column's declared one
    with pytest.raises(DBAPIError, match="too long"):
        await hub.db.run_write(overlong)
    async with hub.db.read() as conn:
        assert (
            await conn.execute(select(packets.c.id).where(packets.c.id == "hot-inserts-second"))
        ).first() is None
        names = (
            await conn.execute(select(cases.c.given_names).where(cases.c.id == target))
        ).scalar_one()
    assert names == "Written after"


async def test_hot_inserts_then_a_read_answer_what_the_read_alone_answers(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """``HotInserts`` with a read after its inserts (``then_read``; on PostgreSQL the
    statement's last part): the rows written, and the read's rows as the read alone gives them,
    typed. On PostgreSQL the read does not see the rows just written (one statement, one
    snapshot); on SQLite it runs after them and does."""
    target = await case_id(hub, "Harlow")
    housing = await agency_id(hub, "DBY-HOUSING")
    async with hub.db.write() as conn:
        await conn.execute(case_agencies.delete().where(case_agencies.c.case_id == target))
    joined = select(case_agencies.c.agency_id, case_agencies.c.joined_at).where(
        case_agencies.c.case_id == bindparam("case")
    )
    read = HotRead(select(cases.c.id, cases.c.created_at).where(cases.c.id == bindparam("case")))
    inserts = HotInserts(HotInsert(case_agencies, skip_existing=True))
    member = {"case_id": target, "agency_id": housing, "joined_at": hub.clock.now()}

    async def write(conn: AsyncConnection) -> tuple[list[Any], list[Any], list[Any]]:
        before = await HotRead(joined).all_in_transaction(conn, {"case": target})
        got = await inserts.run(conn, [[member]], then_read=(read, {"case": target}))
        alone = await read.all_in_transaction(conn, {"case": target})
        return before, got, alone

    before, got, alone = await hub.db.run_write(write)
    assert before == [] and got == alone and len(got) == 1
    assert got[0][1].tzinfo is not None, "read through its column types"
    other = {**member, "agency_id": await agency_id(hub, "DBY-PROBATION")}
    seen = await hub.db.run_write(
        lambda conn: inserts.run(conn, [[other]], then_read=(HotRead(joined), {"case": target}))
    )
    postgres = hub.db.engine.dialect.name == "postgresql"
    assert len(seen) == (1 if postgres else 2), "the statement's snapshot, on PostgreSQL"
    async with hub.db.read() as conn:
        stored = (await conn.execute(joined, {"case": target})).all()
    assert sorted(tuple(r) for r in stored) == sorted(
        (m["agency_id"], m["joined_at"]) for m in (member, other)
    )
    with pytest.raises(ValueError, match="not both"):
        await hub.db.run_write(
            lambda conn: HotInserts(HotInsert(case_agencies), then=HotWrite(update(cases))).run(
                conn, [[member]], {}, then_read=(read, {"case": target})
            )
        )


async def test_a_hot_insert_refuses_what_it_cannot_render(hub: Hub) -> None:
    with pytest.raises(ValueError, match="client-side defaults"):
        HotInsert(users)  # its defaults need SQLAlchemy to fill them in
    hot = HotInsert(case_agencies)

    async def uneven(conn: AsyncConnection) -> None:
        await hot.run(conn, [{"case_id": 1, "agency_id": 1, "joined_at": hub.clock.now()},
                             {"case_id": 1, "agency_id": 2}])  # fmt: skip

    with pytest.raises((ValueError, StatementError)):  # refused by hot or by SQLAlchemy
        await hub.db.run_write(uneven)


async def test_hot_inserts_into_a_table_with_defaults_take_rows_that_give_them(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The e-mail outbox's ``attempts`` has a client-side default: a hot insert into it takes
    rows that give it, and refuses a row that leaves it out. A message already queued under the
    same cause is not queued again, within one insert as across two."""
    housing = await agency_id(hub, "DBY-HOUSING")
    one = HotInserts(
        HotInsert(
            email_outbox, skip_existing=True, conflict_on=("dedupe_key",), defaults_given=True
        )
    )

    def message(key: str) -> dict[str, object]:
        return outbox.message(
            dedupe_key=key, message_id=outbox.new_message_id("hub.test"),
            kind=outbox.NOTIFICATION, event="new-packet", channel="email", agency_id=housing,
            to_address="reader@housing.test", when=hub.clock.now(),
        )  # fmt: skip

    first, again, other = message("hot:1"), message("hot:1"), message("hot:2")

    async def queue(conn: AsyncConnection) -> None:
        await one.run(conn, [[first, again]])
        await one.run(conn, [[message("hot:1"), other]])

    await hub.db.run_write(queue)
    async with hub.db.read() as conn:
        query = select(
            email_outbox.c.dedupe_key, email_outbox.c.message_id, email_outbox.c.attempts
        )
        stored = (await conn.execute(query.where(email_outbox.c.dedupe_key.like("hot:%")))).all()
    assert sorted(stored) == [
        ("hot:1", first["message_id"], 0),
        ("hot:2", other["message_id"], 0),
    ]

    async def without_attempts(conn: AsyncConnection) -> None:
        row = {k: v for k, v in message("hot:3").items() if k != "attempts"}
        await one.run(conn, [[row]])

    with pytest.raises(ValueError, match="must give"):
        await hub.db.run_write(without_attempts)


async def test_columns_alike_in_every_row_store_what_arrays_store(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    """``alike`` columns holding one value in every row go once, not as arrays (on PostgreSQL):
    the rows stored are the rows given, whichever columns were alike, and on PostgreSQL a value
    too long for its column is refused, not cut, as in an array."""
    housing = await agency_id(hub, "DBY-HOUSING")
    case = await case_id(hub, "Harlow")
    alike = ("kind", "event", "channel", "status", "created_at", "body_sealed", "link")
    plain = HotInserts(HotInsert(email_outbox, defaults_given=True))
    once = HotInserts(HotInsert(email_outbox, defaults_given=True, alike=alike))
    when = hub.clock.now()

    def message(key: str, status: str, event: str = "new-packet") -> dict[str, object]:
        return outbox.message(
            dedupe_key=key, message_id=outbox.new_message_id("hub.test"), kind=outbox.NOTIFICATION,
            event=event, channel="email", agency_id=housing, to_address=f"{key}@housing.test",
            when=when, user_id=None, case_id=case, link=None, ref="ref " + key,
            body_sealed=b"\x00\xffsealed" if status == outbox.DIGEST else None, status=status,
        )  # fmt: skip

    batches = [
        (plain, [message("alike:a1", outbox.PENDING), message("alike:a2", outbox.DIGEST)]),
        (once, [message("alike:b1", outbox.PENDING), message("alike:b2", outbox.PENDING)]),
        (once, [message("alike:c1", outbox.PENDING), message("alike:c2", outbox.DIGEST)]),
        (once, [message("alike:d1", outbox.DIGEST)]),
    ]
    before = len(driver_statements)
    for inserts, rows in batches:

        async def insert(
            conn: AsyncConnection, i: HotInserts = inserts, r: list[dict[str, object]] = rows
        ) -> None:
            await i.run(conn, [r])

        await hub.db.run_write(insert)
    columns = [email_outbox.c[k] for k in batches[0][1][0]]
    async with hub.db.read() as conn:
        query = select(*columns).where(email_outbox.c.dedupe_key.like("alike:%"))
        stored = {r.dedupe_key: dict(r._mapping) for r in await conn.execute(query)}
    given = {row["dedupe_key"]: row for _, rows in batches for row in rows}
    assert stored == given
    if hub.db.engine.dialect.name == "postgresql":
        texts = driver_statements[before:]
        assert len(texts) == 4 and "AS given(" not in texts[0] and "AS given(" not in texts[3]
        assert texts[1] != texts[2] and all("AS given(" in t for t in texts[1:3])

        too_long = [message(f"alike:e{n}", outbox.PENDING, event="e" * 49) for n in range(2)]
        with pytest.raises(DBAPIError, match="too long"):
            await hub.db.run_write(lambda conn: once.run(conn, [too_long]))


async def test_a_hot_write_changes_what_sqlalchemy_changes(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """An UPDATE on the driver (SQLite's writer thread) changes the row as SQLAlchemy would, in
    the job's transaction; a constraint it breaks is SQLAlchemy's error and fails its job only."""
    target = await case_id(hub, "Harlow")
    rename = HotWrite(
        update(cases).where(cases.c.id == bindparam("case")).values(given_names=bindparam("names"))
    )

    async def renamed(names: str | None) -> None:
        await hub.db.run_write(lambda conn: rename.run(conn, {"case": target, "names": names}))

    results = await asyncio.gather(renamed("Hot Write"), renamed(None), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], IntegrityError)  # NOT NULL
    async with hub.db.read() as conn:
        stored = await conn.execute(select(cases.c.given_names).where(cases.c.id == target))
        assert stored.scalar_one() == "Hot Write"
    async with hub.db.write() as conn:  # an ordinary transaction: through SQLAlchemy
        await rename.run(conn, {"case": target, "names": "Through SQLAlchemy"})
    async with hub.db.read() as conn:
        stored = await conn.execute(select(cases.c.given_names).where(cases.c.id == target))
        assert stored.scalar_one() == "Through SQLAlchemy"


async def test_a_hot_write_first_in_a_transaction_is_inside_it(
    hub: Hub, logins: dict[str, DemoLogin], config: Config
) -> None:
    """On the driver as the first statement of a transaction (PostgreSQL begins it first, as
    SQLAlchemy would): a rolled-back transaction leaves nothing, a committed one keeps the row;
    a duplicate key is SQLAlchemy's IntegrityError. On PostgreSQL the driver path is the one
    taken: the adapter still offers what it needs."""
    target = await case_id(hub, "Harlow")
    yot = await agency_id(hub, "DBY-YOT")
    hot = HotInsert(case_agencies)
    row = {"case_id": target, "agency_id": yot, "joined_at": hub.clock.now()}
    async with hub.db.write() as conn:
        await conn.execute(
            case_agencies.delete().where(
                case_agencies.c.case_id == target, case_agencies.c.agency_id == yot
            )
        )
    with pytest.raises(LookupError):
        async with hub.db.write() as conn:
            if not config.is_sqlite:
                adapter = (await conn.get_raw_connection()).dbapi_connection
                assert all(hasattr(adapter, name) for name in hot_module._ADAPTER_NEEDS)
            await hot.run(conn, [row])
            raise LookupError("rolled back")
    assert not await hub.db.run_read(lambda c: workflow_store.is_active_on(c, target, yot))
    async with hub.db.write() as conn:
        await hot.run(conn, [row])
    assert await hub.db.run_read(lambda c: workflow_store.is_active_on(c, target, yot))
    with pytest.raises(IntegrityError):
        async with hub.db.write() as conn:
            await hot.run(conn, [row])


async def test_a_connection_lost_under_a_hot_write_is_not_pooled_again(
    hub: Hub, logins: dict[str, DemoLogin], config: Config
) -> None:
    """PostgreSQL ends the session under a hot insert: the caller gets SQLAlchemy's error, and
    the next transactions get a working connection, not the dead one back from the pool."""
    if config.is_sqlite:
        pytest.skip("a PostgreSQL session ended from outside")
    target = await case_id(hub, "Harlow")
    yot = await agency_id(hub, "DBY-YOT")
    hot = HotInsert(case_agencies)
    with pytest.raises(DBAPIError) as raised:
        async with hub.db.write() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with hub.db.read() as other:
                # With a timeout it returns once the session is gone, not when it is signalled:
                # otherwise the insert may still run, and the session die back in the pool.
                ended = await other.execute(
                    text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
                )
                assert ended.scalar_one() is True
            row = {"case_id": target, "agency_id": yot, "joined_at": hub.clock.now()}
            await hot.run(conn, [row])
    # Said as an outage (the edge answers 503 with Retry-After), not as a fault (500).
    assert raised.value.connection_invalidated
    assert database_unavailable(raised.value)
    for _ in range(4):  # more than one pooled connection's worth
        async with hub.db.write() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


# What PostgreSQL sends each idle session as it shuts down (an ErrorResponse, FATAL 57P01).
_SHUTDOWN_NOTICE = (
    b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0"
)


@pytest.mark.parametrize("statement", ["read", "insert"])
async def test_a_connection_told_of_a_shutdown_while_idle_is_not_pooled_again(
    hub: Hub, logins: dict[str, DemoLogin], config: Config, statement: str
) -> None:
    """A pooled connection hears the server's shutdown notice before its socket closes (a
    restart under load): the hot statement run on it next fails as an outage (503), not as a
    fault (500), and the dead connection is not handed out again."""
    if config.is_sqlite:
        pytest.skip("PostgreSQL's shutdown notice to an idle session")
    target = await case_id(hub, "Harlow")
    yot = await agency_id(hub, "DBY-YOT")
    with pytest.raises(DBAPIError) as raised:
        async with hub.db.write() as conn:
            driver = (await conn.get_raw_connection()).dbapi_connection._connection
            length = (len(_SHUTDOWN_NOTICE) + 4).to_bytes(4, "big")  # it counts itself
            frame = b"E" + length + _SHUTDOWN_NOTICE
            driver._protocol.data_received(frame)  # as the socket delivers it
            if statement == "read":
                await ledger_store.lock_head(conn)
            else:
                row = {"case_id": target, "agency_id": yot, "joined_at": hub.clock.now()}
                await HotInsert(case_agencies).run(conn, [row])
    assert "cannot switch to state" in str(raised.value.orig)
    assert raised.value.connection_invalidated
    assert database_unavailable(raised.value)
    for _ in range(4):  # more than one pooled connection's worth
        async with hub.db.write() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_the_log_head_stays_locked_until_its_transaction_ends(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The head read first in a transaction locks it (FOR UPDATE on PostgreSQL, the database
    lock on SQLite): a second appender waits for the first to commit, and continues the chain
    from where the first left it."""
    order: list[str] = []
    first_locked = asyncio.Event()

    async def first() -> None:
        async with hub.db.write() as conn:
            seq, _ = await ledger_store.lock_head(conn)
            first_locked.set()
            await asyncio.sleep(0.3)
            await conn.execute(
                update(ledger_head).where(ledger_head.c.id == 1).values(entry_hash="f" * 64)
            )
            order.append(f"first wrote after {seq}")

    async def second() -> None:
        await first_locked.wait()
        async with hub.db.write() as conn:
            _, entry_hash = await ledger_store.lock_head(conn)
            order.append(f"second read {entry_hash[:1]}")
            await conn.execute(
                update(ledger_head).where(ledger_head.c.id == 1).values(entry_hash=entry_hash)
            )

    async with hub.db.read() as conn:
        before = await ledger_store.head(conn)
    try:
        await asyncio.wait_for(asyncio.gather(first(), second()), 30)
        assert order == [f"first wrote after {before[0]}", "second read f"]
    finally:
        async with hub.db.write() as conn:
            await conn.execute(
                update(ledger_head).where(ledger_head.c.id == 1).values(entry_hash=before[1])
            )


async def test_a_batch_reads_the_recipients_sqlalchemy_reads(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The recipients of a batch's packets, read on the driver per number of agencies, are the
    people (with their choices, set or not) the expanding statement finds, in the same order,
    also for more agencies than one statement takes."""
    roles = ("practitioner", "coordinator", "senior-manager")
    for login in logins.values():  # addresses for all, so that role and agency decide
        await hub.notices.set_email(login.username, f"{login.username}@hub.example")
    async with hub.db.read() as conn:
        readers = (
            await conn.execute(
                select(users.c.id, users.c.agency_id)
                .where(users.c.role.in_(roles), users.c.email.is_not(None))
                .order_by(users.c.id)
            )
        ).all()
    agency_ids = [int(r.agency_id) for r in readers]
    someone = int(readers[0].id)
    async with hub.db.write() as conn:
        await conn.execute(
            notification_settings.insert().values(
                user_id=someone, event="new-packets", mode="digest", updated_at=hub.clock.now()
            )
        )
    many = sorted(set(agency_ids)) + list(range(10**6, 10**6 + HotReadIn.MAX_ITEMS))

    async def both(conn: AsyncConnection, ids: list[int]) -> tuple[object, object]:
        hot = await settings_store.recipients(conn, "new-packets", roles=roles, agency_ids=set(ids))
        slow = await conn.execute(
            settings_store._recipients_statement(True, False, False),
            {"group": "new-packets", "roles": list(roles), "agencies": ids},
        )
        expected = [settings_store.Recipient(r.id, r.agency_id, r.email, r.mode) for r in slow]
        return hot, expected

    for ids in (agency_ids[:1], many):
        on_writer = await hub.db.run_write(lambda conn, ids=ids: both(conn, ids))
        async with hub.db.read() as conn:
            through_sqlalchemy = await both(conn, ids)
        for hot, expected in (on_writer, through_sqlalchemy):
            assert hot == expected and expected
    chosen = [r.mode for r in on_writer[0] if r.user_id == someone]  # type: ignore[attr-defined]
    assert chosen == ["digest"], "a choice set is read with its person"


async def test_known_directory_reads_each_agency_once(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    police, housing = await agency_id(hub, "DBY-POLICE"), await agency_id(hub, "DBY-HOUSING")
    known = KnownDirectory()
    statements: list[str] = []

    async def read(conn: AsyncConnection) -> object:
        agencies = await known.agencies(conn, [police, housing, 2**31 - 1])
        areas = await known.areas(conn, [a.area_id for a in agencies.values()])
        return agencies, areas

    first_agencies, first_areas = await hub.db.run_read(read)  # type: ignore[misc]
    async with hub.db.read() as conn:
        expected = await directory_store.agencies_by_ids(conn, [police, housing])
        all_areas = {a.id: a for a in await directory_store.list_areas(conn)}
    assert first_agencies == expected, "an id that names nothing is simply absent"
    assert first_areas == {i: all_areas[i] for i in first_areas}

    # Known now: answered without the database (a connection that refuses every statement).
    class Refusing:
        async def execute(self, *args: object, **kwargs: object) -> None:
            statements.append("execute")
            raise AssertionError("the directory read the database again")

    again = await known.agencies(Refusing(), [police, housing])  # type: ignore[arg-type]
    assert again == expected and statements == []


async def test_a_busy_inline_read_runs_again_in_a_worker_thread(hub: Hub, config: Config) -> None:
    if not config.is_sqlite:
        pytest.skip("PostgreSQL reads run on the async driver")
    threads: list[str] = []

    async def job(conn: AsyncConnection) -> int:
        threads.append(threading.current_thread().name)
        if len(threads) == 1:
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise OperationalError("SELECT", {}, busy)
        return int((await conn.execute(select(1))).scalar_one())

    assert await hub.db.run_read(job) == 1
    assert threads[0] == threading.current_thread().name, "tried first on the loop's thread"
    assert threads[1].startswith("db-read"), "then on a reader thread, which may wait"


async def test_a_read_that_fails_otherwise_is_not_run_again(hub: Hub, config: Config) -> None:
    """Only a busy database sends a read to a thread: any other failure is the caller's."""
    calls: list[int] = []

    async def job(conn: AsyncConnection) -> None:
        calls.append(1)
        await conn.execute(select(1))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await hub.db.run_read(job)
    assert calls == [1]


async def test_an_inline_read_is_one_snapshot_and_ends_with_its_job(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """A job mixing a hot read (on the driver) and a statement through SQLAlchemy reads one
    snapshot, and leaves no transaction open behind it: the next job sees what was written
    meanwhile, also after a job that failed."""
    target = await case_id(hub, "Harlow")
    yot = await agency_id(hub, "DBY-YOT")
    async with hub.db.write() as conn:
        await conn.execute(
            case_agencies.delete().where(
                case_agencies.c.case_id == target, case_agencies.c.agency_id == yot
            )
        )

    async def both(conn: AsyncConnection) -> tuple[bool, bool]:
        hot = yot in await workflow_store.case_agency_ids(conn, target)
        slow = await workflow_store.is_active_on(conn, target, yot)
        return hot, slow

    async def failing(conn: AsyncConnection) -> None:
        await workflow_store.is_active_on(conn, target, yot)
        raise LookupError("the job fails after reading")

    assert await hub.db.run_read(both) == (False, False)
    with pytest.raises(LookupError):
        await hub.db.run_read(failing)
    await hub.db.run_write(
        lambda conn: workflow_store.join_cases(conn, [(target, frozenset({yot}))], hub.clock.now())
    )
    assert await hub.db.run_read(both) == (True, True)


async def test_the_rate_limit_waits_in_its_thread_while_another_process_writes(
    tmp_path: Path,
) -> None:
    """Another process holding the side file's write lock: the take is refused at once on the
    event loop's thread, waits on the limiter's own thread instead, and goes through once the
    lock is released. The event loop keeps running meanwhile."""
    path = tmp_path / "hub.sqlite3.limits"
    side = SideFile(path)
    try:
        assert await side.take(1, 0.1, 5) == 0.0  # creates the file
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        take = asyncio.create_task(side.take(1, 0.1, 5))
        await asyncio.sleep(0.3)
        assert not take.done(), "the take waits for the lock"
        assert ticks >= 10, "the event loop was not blocked while it waited"
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(take, 5) == 0.0
        ticker.cancel()
        # The bucket is the shared one: three more go, then the burst is spent.
        waits = [await side.take(1, 0.1, 5) for _ in range(4)]
        assert waits[:3] == [0.0] * 3 and waits[3] > 0
    finally:
        side.close()
