"""A batch of shares and its log entries in one statement on PostgreSQL (hub.services.log_writer).

On PostgreSQL the log's head is locked from the statement that appends to it until the commit,
so a batch appends in its last statement, after its other inserts: a batch holding shares and
nothing else to write (no idempotency key to remember, nobody's read to mark, nobody to tell by
e-mail) in its packets' statement; a batch that tells people by e-mail in its messages' statement.
Which of the two is forecast from the last batch to the same agencies (``EmailForecast``). The
hub still renders every entry itself and refuses the batch, before its commit, if the database
chained one otherwise. SQLite's writer has no round trips to save and writes as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.demo import DemoLogin
from hub.errors import IntegrityFailure
from hub.ledger.entries import Action, Event, Record
from hub.model.packets import Draft
from hub.services import ledger
from hub.store import email_outbox as outbox
from hub.store import ledger as ledger_store
from hub.store import packet_writes
from hub.store.hot_batch import Beside
from hub.store.schema import email_outbox, ledger_entries, packets
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def _draft(hub: Hub, subject: str = "Address check") -> Draft:
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject=subject,
        body="Is the proposed address suitable?",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )


async def _counts(hub: Hub) -> tuple[int, int, tuple[int, str]]:
    async with hub.db.read() as conn:
        stored = (await conn.execute(select(func.count()).select_from(packets))).scalar_one()
        logged = (await conn.execute(select(func.count()).select_from(ledger_entries))).scalar_one()
        head = await ledger_store.head(conn)
    return int(stored), int(logged), head


async def _told_by_email(hub: Hub, told: bool) -> int:
    """Give housing's people an e-mail address each (told of every share), or take them away
    (nobody told): how many have one."""
    housing = await agency_id(hub, "DBY-HOUSING")
    people = [u for u in await hub.directory.users() if u.agency_id == housing]
    for user in people:
        await hub.notices.set_email(
            user.username, f"{user.username}@housing.test" if told else None
        )
    return len(people) if told else 0


async def _queued_for(hub: Hub, packet_ids: list[str]) -> int:
    async with hub.db.read() as conn:
        query = select(func.count()).where(email_outbox.c.ref.in_(packet_ids))
        return int((await conn.execute(query)).scalar_one())


async def _twelve_at_once(hub: Hub, driver_statements: list[str]) -> tuple[list[str], list[str]]:
    """Twelve shares sent together, after one that lets the log writer learn whom its shares
    tell: their ids, and the statements run on the driver meanwhile (each entry checked)."""
    police = await actor_for(hub, "dby.police")
    draft = await _draft(hub)
    await hub.packets.send(police, draft)
    stored, logged, _ = await _counts(hub)
    before = len(driver_statements)
    sent = await asyncio.gather(*(hub.packets.send(police, draft) for _ in range(12)))
    statements = driver_statements[before:]
    after = await _counts(hub)
    assert after[:2] == (stored + 12, logged + 12) and after[2][0] == logged + 12
    assert await ledger.verify(hub.db) == logged + 12
    async with hub.db.read() as conn:
        for summary in sent:
            entries = await ledger_store.entries_for_packet(conn, summary.id)
            assert [e["event"] for e in entries] == ["packet-sent"]
    return [s.id for s in sent], statements


def _entries_went_in_with(statements: list[str], table: str) -> None:
    """Every statement inserting into ``table`` appended its batch's entries, and no statement
    appended on its own."""
    carriers = [s for s in statements if f"INSERT INTO {table}" in s]
    assert carriers and all("INSERT INTO ledger_entries" in s for s in carriers)
    assert [s for s in statements if "ledger_entries" in s] == carriers


async def test_shares_telling_nobody_go_in_with_their_entries_in_one_statement(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    await _told_by_email(hub, False)
    ids, statements = await _twelve_at_once(hub, driver_statements)
    assert await _queued_for(hub, ids) == 0
    if hub.db.engine.dialect.name != "postgresql":
        assert statements == []  # SQLite's writer runs its statements on its own thread
        return
    _entries_went_in_with(statements, "packets")


async def test_shares_telling_people_by_email_append_with_their_messages(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    """The head is locked after the messages' insert, the batch's last statement before its
    commit: not over it, as it would be from the packets' statement."""
    people = await _told_by_email(hub, True)
    assert people
    ids, statements = await _twelve_at_once(hub, driver_statements)
    assert await _queued_for(hub, ids) == 12 * people
    if hub.db.engine.dialect.name != "postgresql":
        return
    writes = [s for s in statements if "INSERT INTO packets" in s]
    assert writes and not any("ledger_entries" in s for s in writes)
    _entries_went_in_with(statements, "email_outbox")


async def test_a_wrong_forecast_still_writes_every_row(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    """The log writer learnt that housing tells nobody; then its people give their addresses.
    The next batch appends with its packets, queues its messages after, and is whole; the one
    after it appends with its messages."""
    await _told_by_email(hub, False)
    police = await actor_for(hub, "dby.police")
    draft = await _draft(hub)
    await hub.packets.send(police, draft)
    people = await _told_by_email(hub, True)
    _, logged, _ = await _counts(hub)
    before = len(driver_statements)
    first = await hub.packets.send(police, draft)
    middle = len(driver_statements)
    second = await hub.packets.send(police, draft)
    assert await _queued_for(hub, [first.id, second.id]) == 2 * people
    assert await ledger.verify(hub.db) == logged + 2
    if hub.db.engine.dialect.name != "postgresql":
        return
    appends = [s for s in driver_statements[before:middle] if "INSERT INTO ledger_entries" in s]
    assert len(appends) == 1 and "INSERT INTO packets" in appends[0]
    appends = [s for s in driver_statements[middle:] if "INSERT INTO ledger_entries" in s]
    assert len(appends) == 1 and "INSERT INTO email_outbox" in appends[0]


async def test_an_entry_the_hub_would_render_otherwise_leaves_the_share_unwritten(
    hub: Hub, logins: dict[str, DemoLogin], monkeypatch: pytest.MonkeyPatch
) -> None:
    police = await actor_for(hub, "dby.police")
    draft = await _draft(hub)
    await hub.packets.send(police, draft)
    before = await _counts(hub)

    def rendered_otherwise(parts: tuple[bytes, bytes, bytes], seq: int, prev: str) -> bytes:
        a, b, c = parts
        return a + prev.encode() + b + b"%d" % seq + c.replace(b'"v":4', b'"v":5')

    monkeypatch.setattr(ledger, "join_around", rendered_otherwise)
    if hub.db.engine.dialect.name == "postgresql":
        with pytest.raises(IntegrityFailure, match="chained an entry otherwise"):
            await hub.packets.send(police, draft)
        assert await _counts(hub) == before  # neither the packet nor its entry
    else:  # SQLite chains in the hub, after the head it read: nothing to compare
        await hub.packets.send(police, draft)
        assert (await _counts(hub))[:2] == (before[0] + 1, before[1] + 1)
    monkeypatch.undo()
    assert await ledger.verify(hub.db) == (await _counts(hub))[1]


async def test_a_share_with_an_idempotency_key_appends_its_entry_apart(
    hub: Hub, logins: dict[str, DemoLogin], driver_statements: list[str]
) -> None:
    """The key is remembered between the packets and the entry, so that batch keeps the
    separate append (and the head is locked last, after the key's insert)."""
    issued = await hub.tokens.issue(None, "DBY-POLICE", "Case system", ["packets:send"])
    caller = await hub.callers.authenticate(issued.secret)
    draft = await _draft(hub)
    _, logged, _ = await _counts(hub)
    issuing = len(driver_statements)  # the token's own entry went in before
    summary = await hub.packets.send(caller.actor, draft, idempotency=("key-1", "digest"))
    statements = driver_statements[issuing:]
    async with hub.db.read() as conn:
        entries = await ledger_store.entries_for_packet(conn, summary.id)
    assert [e["event"] for e in entries] == ["packet-sent"]
    assert await ledger.verify(hub.db) == logged + 1
    if hub.db.engine.dialect.name == "postgresql":
        writes = [s for s in statements if "INSERT INTO packets" in s]
        assert len(writes) == 1 and "ledger_entries" not in writes[0]
        assert len([s for s in statements if "INSERT INTO ledger_entries" in s]) == 1


async def test_off_postgresql_the_combined_statement_writes_nothing(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """``insert_packets_beside`` answers None where it cannot be one statement, and has
    written nothing: the log writer then writes the parts apart."""
    if hub.db.engine.dialect.name == "postgresql":
        pytest.skip("on PostgreSQL the combined statement runs (the tests above)")
    housing = await agency_id(hub, "DBY-HOUSING")
    now = hub.clock.now()
    record = Record(
        action=Action.CONSULTATION,
        event=Event.PACKET_OPENED,
        recorded_at=now,
        actor_user_id=None,
        actor_agency_id=None,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
    )
    member = {"case_id": await case_id(hub, "Harlow"), "agency_id": housing, "joined_at": now}
    before = await _counts(hub)

    async def job(conn: AsyncConnection) -> object:
        assert ledger.chained_append(conn, [record]) is None
        beside = Beside(lambda after: "unused AS (SELECT 1)", "SELECT 1", 1, ())
        return await packet_writes.insert_packets_beside(conn, [], [member], beside)

    assert await hub.db.run_write(job) is None
    assert await _counts(hub) == before


def _consultation(hub: Hub, purpose: str) -> Record:
    return Record(
        action=Action.CONSULTATION,
        event=Event.PACKET_OPENED,
        recorded_at=hub.clock.now(),
        actor_user_id=None,
        actor_agency_id=None,
        purpose=purpose,
        lawful_basis="cja2003-s325",
    )


async def _an_append_passes_the_waiting_batch(
    hub: Hub,
    holding: str,
    held: tuple[Any, ...],
    inserts: Callable[[AsyncConnection, Beside], Awaitable[list[Any] | None]],
) -> None:
    """Another transaction runs ``holding`` (with ``held``) and stays open, so that the batch's
    insert (``inserts``, with the append beside it) waits for it; an append of its own must go
    through meanwhile, and the batch chain after it once the other rolls back."""
    url = hub.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(url)
    try:
        await other.execute("BEGIN")
        await other.execute(holding, *held)

        async def waiting_batch() -> list[Any]:
            async with hub.db.write() as conn:
                chain = ledger.chained_append(conn, [_consultation(hub, "risk-management")])
                assert chain is not None
                rows = await inserts(conn, chain[1])
                assert rows is not None
                return rows

        batch = asyncio.create_task(waiting_batch())
        waiting = 0
        for _ in range(1500):  # until its insert waits for the other transaction's row
            if batch.done():
                batch.result()  # it did not wait: raises what it met, if anything
                break
            # (Not by its text: pg_stat_activity may show a query asyncpg ran before it.)
            waiting = await other.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting == 1 and not batch.done()
        async with asyncio.timeout(10):  # not held up by the batch waiting beside it
            async with hub.db.write() as conn:
                (alone,) = await ledger.append_many(conn, [_consultation(hub, "public-protection")])
        await other.execute("ROLLBACK")
        chained = await asyncio.wait_for(batch, 10)
    finally:
        await other.close()
    assert [row[1] for row in chained] == [alone.seq + 1]  # chained after the one that passed it
    assert await ledger.verify(hub.db) == alone.seq + 1


async def test_the_head_is_locked_only_once_the_packets_went_in(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The log's head is the one row every batch of every serving process waits for: locked from
    the statement that takes it to the commit. Taken before the packets' inserts, it would be
    held while an insert waits (here for another transaction's row of the same case and agency),
    and every other append would wait too. So it is taken after them, as when the append was a
    statement of its own: an append beside the waiting batch goes through."""
    if hub.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer holds the database's lock for the whole batch")
    harlow = await case_id(hub, "Harlow")
    async with hub.db.read() as conn:
        agency = (
            await conn.execute(
                text(
                    "SELECT id FROM agencies WHERE id NOT IN "
                    "(SELECT agency_id FROM case_agencies WHERE case_id = :case) "
                    "ORDER BY id LIMIT 1"
                ),
                {"case": harlow},
            )
        ).scalar_one_or_none()
    assert agency is not None
    member = {"case_id": harlow, "agency_id": agency, "joined_at": hub.clock.now()}

    async def inserts(conn: AsyncConnection, beside: Beside) -> list[Any] | None:
        both = await packet_writes.insert_packets_beside(conn, [], [member], beside)
        return None if both is None else both[1]

    await _an_append_passes_the_waiting_batch(
        hub,
        "INSERT INTO case_agencies (case_id, agency_id, joined_at) VALUES ($1, $2, now())",
        (harlow, agency),
        inserts,
    )


async def test_the_head_is_locked_only_once_the_messages_went_in(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """The same for a batch that appends in its messages' statement: here the other transaction
    holds a message of the same cause and person, uncommitted."""
    if hub.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer holds the database's lock for the whole batch")
    housing = await agency_id(hub, "DBY-HOUSING")
    message = outbox.message(
        dedupe_key="new-packet:lock-test:1",
        message_id=outbox.new_message_id("hub.test"),
        kind=outbox.NOTIFICATION,
        event="new-packet",
        channel="email",
        agency_id=housing,
        to_address="reader@housing.test",
        when=hub.clock.now(),
    )

    async def inserts(conn: AsyncConnection, beside: Beside) -> list[Any] | None:
        return await outbox.enqueue_beside(conn, [message], beside)

    await _an_append_passes_the_waiting_batch(
        hub,
        "INSERT INTO email_outbox (message_id, dedupe_key, kind, event, channel, agency_id, "
        "to_address, status, attempts, next_attempt_at, created_at) "
        "VALUES ($1, $2, 'notification', 'new-packet', 'email', $3, 'x@housing.test', "
        "'pending', 0, now(), now())",
        ("<held@hub.test>", message["dedupe_key"], housing),
        inserts,
    )
    async with hub.db.read() as conn:
        query = select(email_outbox.c.message_id).where(
            email_outbox.c.dedupe_key == message["dedupe_key"]
        )
        assert (await conn.execute(query)).scalars().all() == [message["message_id"]]
