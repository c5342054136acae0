"""The live inbox's events (``hub.services.inbox_events``), on real SQLite and PostgreSQL: announced
only once the transaction that delivers packets commits, only to the subscribers of the agencies
that received them, and on PostgreSQL heard again after the LISTEN connection is killed."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.services import notices
from hub.services.inbox_events import (
    INBOX,
    REFRESH,
    SHUTDOWN,
    SUPERSEDED,
    InboxEvents,
    Subscription,
    TooManyStreams,
)
from hub.services.notices import PACKET_READERS, Group
from hub.services.share_approvals import HeldSummary
from hub.store import inbox_events as inbox_store
from hub.store import notification_settings as settings_store
from hub.store import packet_writes
from hub.store.schema import email_outbox
from hub.wiring import Hub
from tests.conftest import PG_ADMIN_URL, actor_for, agency_id
from tests.integration.test_notices import _note  # the same note to housing

QUIET = 0.4  # long enough for a NOTIFY that should not come to have come


async def _listening(hub: Hub) -> InboxEvents:
    await hub.inbox_events.start()
    assert hub.inbox_events.listening.is_set()
    return hub.inbox_events


async def _drain(sub: Subscription) -> list[str]:
    """Everything already heard, without waiting for more."""
    heard = []
    while (kind := await sub.next(0)) is not None:
        heard.append(kind)
    return heard


async def test_announced_on_commit_never_before_and_never_on_rollback(
    hub: Hub, logins: object
) -> None:
    events = await _listening(hub)
    housing = await agency_id(hub, "DBY-HOUSING")
    with events.subscribe(housing, "session-a") as sub:
        with pytest.raises(RuntimeError, match="rolled back"):
            async with hub.db.write() as conn:
                await inbox_store.announce(conn, [housing])
                raise RuntimeError("rolled back")
        assert await sub.next(QUIET) is None

        async with hub.db.write() as conn:
            await inbox_store.announce(conn, [housing])
            # Inside the transaction, PostgreSQL holds the notification back; SQLite's is not
            # even handed over yet.
            assert await sub.next(QUIET) is None
        assert await sub.next(2) == INBOX


async def test_a_job_that_fails_in_a_group_commit_announces_nothing(hub: Hub) -> None:
    """On SQLite the two jobs share one transaction, each in its savepoint: only the one that
    stands is announced. On PostgreSQL each is its own transaction."""
    events = await _listening(hub)

    async def fails(conn: AsyncConnection) -> None:
        await inbox_store.announce(conn, [1])
        raise RuntimeError("refused")

    async def stands(conn: AsyncConnection) -> None:
        await inbox_store.announce(conn, [2])

    with events.subscribe(1, "a") as failed, events.subscribe(2, "b") as kept:
        outcomes = await asyncio.gather(
            hub.db.run_write(fails), hub.db.run_write(stands), return_exceptions=True
        )
        assert isinstance(outcomes[0], RuntimeError) and outcomes[1] is None
        assert await kept.next(2) == INBOX
        assert await failed.next(QUIET) is None


async def test_a_share_reaches_its_recipients_subscribers_only(hub: Hub, logins: object) -> None:
    events = await _listening(hub)
    police = await actor_for(hub, "dby.police")
    housing_id = await agency_id(hub, "DBY-HOUSING")
    with (
        events.subscribe(housing_id, "housing") as housing,
        events.subscribe(police.agency.id, "police") as sender,
        events.subscribe(await agency_id(hub, "DBY-PROBATION"), "probation") as other,
    ):
        await hub.packets.send(police, await _note(hub))
        assert await housing.next(2) == INBOX
        await asyncio.sleep(QUIET)
        # The sender's own agency (its Sent box changed, not its inbox) and a bystander hear nothing.
        assert await _drain(sender) == []
        assert await _drain(other) == []
        # Ten arrivals unread by the page are one event: the page fetches its inbox once.
        for _ in range(3):
            await hub.packets.send(police, await _note(hub))
        await asyncio.sleep(QUIET)
        assert await _drain(housing) == [INBOX]


async def test_a_held_share_is_announced_when_released_not_when_held(
    hub: Hub, logins: object
) -> None:
    events = await _listening(hub)
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    housing_id = await agency_id(hub, "DBY-HOUSING")
    restricted = replace(
        await _note(hub),
        data_categories=("address", "risk-summary", "victim-address"),
        restricted_reason="Housing must not offer him any property near the victim's home.",
    )
    with events.subscribe(housing_id, "housing") as housing:
        held = await hub.packets.send(police, restricted)
        assert isinstance(held, HeldSummary)
        assert await housing.next(QUIET) is None
        await hub.share_approvals.decide(
            coordinator, held.share_id, "approve", "The victim's safety outweighs the intrusion."
        )
        assert await housing.next(2) == INBOX


async def test_streams_per_session_and_per_process_are_bounded(hub: Hub) -> None:
    events = InboxEvents(hub.db, per_session=2, max_streams=3)
    first = events.subscribe(1, "session-a")
    second = events.subscribe(1, "session-a")
    # A third page of the same session: its oldest stream is told to stop and let go.
    third = events.subscribe(1, "session-a")
    assert await first.next(0) == SUPERSEDED
    assert events.open_streams == 2
    events.subscribe(2, "session-b")
    with pytest.raises(TooManyStreams):
        events.subscribe(2, "session-c")
    second.close()
    third.close()
    events.end_streams()
    assert events.open_streams == 0
    with pytest.raises(TooManyStreams):
        events.subscribe(1, "session-a")  # the server is stopping


def test_a_payload_names_agencies_and_nothing_else() -> None:
    assert inbox_store.agencies_in("3,7,12") == frozenset({3, 7, 12})
    assert inbox_store.agencies_in("*") is None
    # Any session on the database may NOTIFY: whatever is not a list of ids names no agency.
    for forged in ("", "3;DROP", "-1", "1,,2", "x" * 20, "1" * 13, "\u00b2", "\uff11"):
        assert inbox_store.agencies_in(forged) == frozenset()


async def test_stopping_ends_every_stream(hub: Hub) -> None:
    events = await _listening(hub)
    sub = events.subscribe(1, "session-a")
    await events.stop()
    assert await sub.next(1) == SHUTDOWN


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_listener_comes_back_after_its_connection_is_killed(
    hub: Hub, logins: object
) -> None:
    events = await _listening(hub)
    police = await actor_for(hub, "dby.police")
    housing_id = await agency_id(hub, "DBY-HOUSING")
    with events.subscribe(housing_id, "housing") as housing:
        killed = events.listener_pid
        assert killed is not None
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", killed)
        finally:
            await admin.close()
        # Reconnected: every page is told to fetch again (it may have missed something)...
        assert await housing.next(10) == REFRESH
        assert events.listener_pid not in (None, killed)
        # ... and new packets are heard again.
        await hub.packets.send(police, await _note(hub))
        assert await housing.next(2) == INBOX


async def test_the_people_told_are_read_with_the_announcement(hub: Hub, logins: object) -> None:
    """A share's batch sends the announcement with its read of the people told (on PostgreSQL in
    the same statement): the same people as the read alone, the note sent on commit only, and
    sent when no one is found."""
    events = await _listening(hub)
    housing = await agency_id(hub, "DBY-HOUSING")
    aisha = await hub.notices.set_email("dby.housing", "aisha@housing.derby.example")
    group, note = Group.NEW_PACKETS.value, inbox_store.announcement([housing])
    with events.subscribe(housing, "session-a") as sub:
        with pytest.raises(RuntimeError, match="rolled back"):
            async with hub.db.write() as conn:
                await settings_store.recipients(
                    conn, group, roles=PACKET_READERS, agency_ids=[housing], announcing=note
                )
                raise RuntimeError("rolled back")
        assert await sub.next(QUIET) is None

        async with hub.db.write() as conn:
            told = await settings_store.recipients(
                conn, group, roles=PACKET_READERS, agency_ids=[housing], announcing=note
            )
            alone = await settings_store.recipients(
                conn, group, roles=PACKET_READERS, agency_ids=[housing]
            )
            assert await sub.next(QUIET) is None
        assert told == alone and aisha.id in [p.user_id for p in told]
        assert await sub.next(2) == INBOX

        async with hub.db.write() as conn:  # no one of this role: the note goes all the same
            nobody = await settings_store.recipients(
                conn, group, roles=["no-such-role"], agency_ids=[housing], announcing=note
            )
        assert nobody == []
        assert await sub.next(2) == INBOX


async def test_a_share_batch_reads_the_people_told_in_its_packets_statement(
    hub: Hub, logins: object, driver_statements: list[str]
) -> None:
    """On PostgreSQL a share's batch reads the people told, with the announcement, in the
    statement that inserts its packets (``HotInserts``'s ``then_read``): a round trip fewer. The
    reader is still e-mailed, the inbox page still hears of it once the batch commits, and a
    packets' statement refused announces nothing. Elsewhere the people are read on their own."""
    events = await _listening(hub)
    police = await actor_for(hub, "dby.police")
    housing = await agency_id(hub, "DBY-HOUSING")
    aisha = await hub.notices.set_email("dby.housing", "aisha@housing.derby.example")
    statements = driver_statements
    with events.subscribe(housing, "session-a") as sub:
        sent = await hub.packets.send(police, await _note(hub))
        assert await sub.next(2) == INBOX
    async with hub.db.read() as conn:
        told = (
            await conn.execute(
                select(email_outbox.c.to_address).where(email_outbox.c.ref == sent.id)
            )
        ).all()
    assert [r.to_address for r in told] == [aisha.email]
    announcing = [s for s in statements if "pg_notify" in s]
    if hub.db.engine.dialect.name != "postgresql":
        assert statements == []  # SQLite's writer runs its statements on its own thread
        return
    assert len(announcing) == 1 and "INSERT INTO packets" in announcing[0]
    assert not [s for s in statements if "notification_settings" in s and s not in announcing]

    # A packets' statement refused (no such case for its member row) takes the note with it.
    deliveries = [("never-stored", None, [housing])]

    async def refused(conn: AsyncConnection) -> None:
        read = notices.delivery_read(conn, deliveries)
        assert read is not None
        member = {"case_id": 10**9, "agency_id": housing, "joined_at": hub.clock.now()}
        await packet_writes.insert_packets(conn, [], [member], then_read=read)

    with events.subscribe(housing, "session-b") as sub:
        with pytest.raises(IntegrityError):
            await hub.db.run_write(refused)
        assert await sub.next(QUIET) is None
