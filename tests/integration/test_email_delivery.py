"""The email adapter against a real SMTP relay on loopback (aiosmtpd, a test CA), on SQLite and
PostgreSQL: what arrives, what the ledger says, and what happens when the relay misbehaves."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.email.sender import Sender
from hub.clock import ManualClock
from hub.config import EmailConfig
from hub.ledger.entries import Event
from hub.store import email_outbox as store
from hub.store.schema import ledger_entries
from hub.wiring import Hub
from tests.conftest import agency_id, case_id
from tests.integration.email_support import LoopbackCA, Relay, email_config, free_port, make_ca

pytestmark = pytest.mark.usefixtures("logins")


@pytest.fixture
def ca(tmp_path: Path) -> LoopbackCA:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def relay(ca: LoopbackCA) -> Iterator[Relay]:
    running = Relay("starttls", ca).start()
    yield running
    running.stop()


def sender_for(hub: Hub, config: EmailConfig, claimer: str | None = None) -> Sender:
    return Sender(hub.db, hub.clock, hub.keyring, hub.policy, config, claimer=claimer)


async def queue(
    hub: Hub, n: int = 1, *, to: str = "officer@housing.example", event: str = "new-packet"
) -> list[int]:
    """Queue ``n`` notifications to Derby housing (a Duty to Cooperate agency) about a case."""
    agency = await agency_id(hub, "DBY-HOUSING")
    case = await case_id(hub, "Harlow")
    ids = []
    async with hub.db.write() as conn:
        for _ in range(n):
            row_id = await store.enqueue(
                conn,
                store.message(
                    dedupe_key=f"test/{store.new_message_id('x')}",
                    message_id=store.new_message_id("hub.example"),
                    kind=store.NOTIFICATION,
                    event=event,
                    channel="email",
                    agency_id=agency,
                    to_address=to,
                    when=hub.clock.now(),
                    case_id=case,
                    link="/packets/abc",
                    ref="abc",
                ),
            )
            assert row_id is not None
            ids.append(row_id)
    return ids


async def row(hub: Hub, row_id: int) -> store.OutboxRow:
    async with hub.db.read() as conn:
        found = await store.by_id(conn, row_id)
    assert found is not None
    return found


async def email_entries(hub: Hub) -> list[dict[str, object]]:
    async with hub.db.read() as conn:
        stmt = select(ledger_entries).where(
            ledger_entries.c.event.in_([Event.EMAIL_SENT.value, Event.LETTER_SENT.value])
        )
        return [
            dict(r) for r in (await conn.execute(stmt.order_by(ledger_entries.c.seq))).mappings()
        ]


async def test_starttls_delivery_headers_body_and_ledger(
    hub: Hub, relay: Relay, ca: LoopbackCA
) -> None:
    [row_id] = await queue(hub)
    queued = await row(hub, row_id)
    summary = await sender_for(hub, email_config(relay.port, ca)).drain()
    assert (summary.sent, summary.retrying, summary.dead) == (1, 0, 0)

    [got] = relay.messages
    assert got.rcpt_tos == ["officer@housing.example"]
    assert got.mail_from == "mappa-hub@hub.example"
    parsed = email.message_from_bytes(got.data, policy=email.policy.default)
    assert parsed["Message-ID"] == queued.message_id
    assert parsed["Subject"] == "MAPPA Hub: new information for your agency"
    assert parsed["From"] == "mappa-hub@hub.example" and parsed["Date"]
    text = parsed.get_body(("plain",)).get_content()
    reference = next(
        c.reference for c in await hub.cases.visible_to(None) if c.family_name == "Harlow"
    )
    assert reference in text
    assert "https://hub.example/packets/abc" in text
    assert "A new packet has arrived for your agency." in text
    # No name anywhere in the message: not the case's, not the person's.
    for name in ("Harlow", "Dean"):
        assert name.encode() not in got.data

    sent = await row(hub, row_id)
    assert sent.status == store.SENT and sent.attempts == 1 and sent.claimed_by is None
    [entry] = await email_entries(hub)
    # The digest is of the bytes the relay received (CRLF line ends, as sent).
    assert entry["content_digest"] == hashlib.sha256(got.data).hexdigest() == sent.body_digest
    assert entry["action"] == "disclosure" and entry["event"] == "email-sent"
    assert entry["channel"] == "email"
    assert entry["recipient_address"] == "officer@housing.example"
    assert entry["recipients"] == str(await agency_id(hub, "DBY-HOUSING"))
    assert entry["lawful_basis"] == "cja2003-s325" and entry["purpose"] == "risk-management"
    await hub.ledger.verify()


async def test_implicit_tls(hub: Hub, ca: LoopbackCA) -> None:
    running = Relay("implicit", ca).start()
    try:
        await queue(hub, 2)
        config = email_config(running.port, ca, tls="implicit")
        assert (await sender_for(hub, config).drain()).sent == 2
        assert len(running.messages) == 2
    finally:
        running.stop()


async def test_relay_down_then_back_nothing_lost_nothing_twice(hub: Hub, ca: LoopbackCA) -> None:
    port = free_port()
    ids = await queue(hub, 5)
    config = email_config(port, ca, timeout_seconds=1.0)
    sender = sender_for(hub, config)
    summary = await sender.drain()
    assert (summary.sent, summary.retrying) == (0, 5)
    for row_id in ids:
        waiting = await row(hub, row_id)
        assert waiting.status == store.PENDING and waiting.attempts == 1
        assert waiting.last_error and "Connect" in waiting.last_error
    assert await email_entries(hub) == []

    running = Relay("starttls", ca, port=port).start()
    try:
        assert isinstance(hub.clock, ManualClock)
        hub.clock.advance(timedelta(seconds=1))
        assert (await sender.drain()).sent == 5
        assert (await sender.drain()).handled == 0  # nothing left, nothing sent again
        ids_received = sorted(
            email.message_from_bytes(m.data)["Message-ID"] for m in running.messages
        )
        expected = sorted([(await row(hub, i)).message_id for i in ids])
        assert ids_received == expected
        assert len(await email_entries(hub)) == 5
    finally:
        running.stop()


async def test_relay_without_tls_refused_unless_allowed(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    running = Relay("plain", None).start()
    try:
        [row_id] = await queue(hub)
        summary = await sender_for(hub, email_config(running.port, None)).drain()
        assert summary.retrying == 1 and running.messages == []
        refused = await row(hub, row_id)
        assert refused.status == store.PENDING
        assert refused.last_error is not None and "STARTTLS" in refused.last_error

        assert isinstance(hub.clock, ManualClock)
        hub.clock.advance(timedelta(seconds=1))
        allowed = email_config(running.port, None, allow_plaintext_host="127.0.0.1")
        with caplog.at_level(logging.WARNING, logger="adapters.email"):
            assert (await sender_for(hub, allowed).drain()).sent == 1
        assert len(running.messages) == 1
        assert any("WITHOUT TLS" in r.getMessage() for r in caplog.records)
        [entry] = await email_entries(hub)
        assert entry["content_digest"] == hashlib.sha256(running.messages[0].data).hexdigest()
    finally:
        running.stop()


async def test_untrusted_certificate_refused(hub: Hub, relay: Relay, tmp_path: Path) -> None:
    other_ca = make_ca(tmp_path / "other", "Some other CA")
    [row_id] = await queue(hub)
    summary = await sender_for(hub, email_config(relay.port, other_ca)).drain()
    assert summary.retrying == 1 and relay.messages == []
    assert (await row(hub, row_id)).status == store.PENDING
    # The system store does not trust the test CA either.
    hub.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    summary = await sender_for(hub, email_config(relay.port, None)).drain()
    assert summary.retrying == 1 and relay.messages == []


async def test_connection_dropped_mid_message_retried_then_delivered_once(
    hub: Hub, relay: Relay, ca: LoopbackCA
) -> None:
    relay.recorder.drop_data = 1
    [row_id] = await queue(hub)
    sender = sender_for(hub, email_config(relay.port, ca))
    assert (await sender.drain()).retrying == 1
    assert relay.messages == [] and (await row(hub, row_id)).status == store.PENDING
    hub.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    assert (await sender.drain()).sent == 1
    assert len(relay.messages) == 1
    done = await row(hub, row_id)
    assert done.status == store.SENT and done.attempts == 2
    assert len(await email_entries(hub)) == 1


async def test_relay_that_never_answers_times_out_and_keeps_the_row(
    hub: Hub, ca: LoopbackCA
) -> None:
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        [row_id] = await queue(hub)
        config = email_config(silent.getsockname()[1], ca, timeout_seconds=0.3)
        summary = await asyncio.wait_for(sender_for(hub, config).drain(), 10)
    assert summary.retrying == 1
    kept = await row(hub, row_id)
    assert kept.status == store.PENDING and kept.last_error is not None
    assert "Timeout" in kept.last_error


async def test_permanent_550_is_dead_after_one_try_and_retry_puts_it_back(
    hub: Hub, relay: Relay, ca: LoopbackCA
) -> None:
    relay.recorder.refuse.add("gone@housing.example")
    [row_id] = await queue(hub, to="gone@housing.example")
    sender = sender_for(hub, email_config(relay.port, ca))
    assert (await sender.drain()).dead == 1
    dead = await row(hub, row_id)
    assert dead.status == store.DEAD and dead.attempts == 1
    assert dead.last_error == "SMTPRecipientsRefused 550"
    async with hub.db.write() as conn:
        assert await store.retry(conn, [row_id], hub.clock.now()) == 1
    relay.recorder.refuse.clear()
    assert (await sender.drain()).sent == 1
    assert len(relay.messages) == 1


async def test_attempts_run_out_make_a_dead_letter(hub: Hub, ca: LoopbackCA) -> None:
    [row_id] = await queue(hub)
    sender = sender_for(hub, email_config(free_port(), ca, max_attempts=3, timeout_seconds=1.0))
    for _ in range(3):
        await sender.drain()
        hub.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    dead = await row(hub, row_id)
    assert dead.status == store.DEAD and dead.attempts == 3


async def test_channel_rules_refuse_a_notification_to_a_third_party(
    hub: Hub, relay: Relay, ca: LoopbackCA
) -> None:
    employer = await agency_id(hub, "DBY-EMPLOYER-ACME")
    async with hub.db.write() as conn:
        row_id = await store.enqueue(
            conn,
            store.message(
                dedupe_key="test/third-party",
                message_id=store.new_message_id("hub.example"),
                kind=store.NOTIFICATION,
                event="new-packet",
                channel="email",
                agency_id=employer,
                to_address="hr@acme.example",
                when=hub.clock.now(),
            ),
        )
    assert row_id is not None
    assert (await sender_for(hub, email_config(relay.port, ca)).drain()).dead == 1
    refused = await row(hub, row_id)
    assert refused.status == store.DEAD and "third-party" in (refused.last_error or "")
    assert relay.messages == [] and await email_entries(hub) == []


async def test_hostile_header_values_never_reach_the_relay(
    hub: Hub, relay: Relay, ca: LoopbackCA
) -> None:
    [row_id] = await queue(hub, to="victim@housing.example\r\nBcc: spy@evil.example")
    assert (await sender_for(hub, email_config(relay.port, ca)).drain()).dead == 1
    assert relay.messages == []
    assert "unsafe_header" in ((await row(hub, row_id)).last_error or "")


async def test_two_senders_deliver_each_row_exactly_once(
    hub: Hub, relay: Relay, ca: LoopbackCA
) -> None:
    ids = await queue(hub, 200)
    config = replace(email_config(relay.port, ca), batch=10)
    first, second = sender_for(hub, config, "a"), sender_for(hub, config, "b")
    results = await asyncio.gather(first.drain(), second.drain())
    assert sum(r.sent for r in results) == 200
    assert all(r.sent > 0 for r in results)  # both took part
    received = [email.message_from_bytes(m.data)["Message-ID"] for m in relay.messages]
    assert len(received) == 200 and len(set(received)) == 200
    async with hub.db.read() as conn:
        assert (await store.counts(conn))[store.SENT] == 200
    assert len(await email_entries(hub)) == 200
    assert {(await row(hub, i)).status for i in ids} == {store.SENT}
    await hub.ledger.verify()
