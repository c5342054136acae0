"""The demo's mail sink end to end: a notification queued by a real share is sent by the email
adapter over STARTTLS (verified against the sink's own CA) and filed in the sink's maildir."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from collections.abc import AsyncIterator

import pytest

from adapters.email.sender import Sender
from adapters.email.sink import DemoSink
from hub.clock import ManualClock
from hub.config import TLS_STARTTLS, Config
from hub.demo import demo_address, seed
from hub.model.packets import Draft
from hub.wiring import Hub, initialise
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


@pytest.fixture
async def sink(config: Config) -> AsyncIterator[DemoSink]:
    started = DemoSink(config.data_dir).start()
    try:
        yield started
    finally:
        started.stop()


async def test_a_notification_arrives_in_the_demo_maildir(
    config: Config, clock: ManualClock, sink: DemoSink
) -> None:
    config = dataclasses.replace(
        config,
        email=dataclasses.replace(
            config.email,
            host=sink.info.host,
            port=sink.info.port,
            tls=TLS_STARTTLS,
            ca_file=sink.info.ca.ca_file,
            from_address="mappa-hub@hub.demo.example",
            base_url="http://127.0.0.1:8080",
        ),
    )
    await initialise(config)
    hub = await Hub.open(config, clock)
    try:
        await seed(hub, with_email=True)
        # Only what this test queues: the seeded world's own notices are sent first.
        await Sender.for_hub(hub).drain()
        before = len(sink.messages())
        draft = Draft(
            case_id=await case_id(hub, "Harlow"),
            recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject="Address check",
            body="Please check 12 Example Road.",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        )
        sent = await hub.packets.send(await actor_for(hub, "dby.police"), draft)
        summary = await Sender.for_hub(hub).drain()
        assert summary.sent == 1
    finally:
        await hub.close()

    messages = sink.messages()[before:]
    assert len(messages) == 1
    parsed = email.message_from_bytes(bytes(messages[0]), policy=email.policy.default)
    assert parsed["To"] == demo_address("dby.housing", "DBY-HOUSING")
    text = parsed.get_body(("plain",)).get_content()
    assert f"/packets/{sent.id}" in text
    assert "Example Road" not in parsed.as_string() and "Harlow" not in parsed["Subject"]
