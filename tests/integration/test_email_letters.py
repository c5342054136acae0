"""Letters: sealed at rest to the agency's key (still open after a rotation), and sent on the
``letter`` channel only for an approved disclosure, naming the approval."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.crypto.errors import CryptoFailure
from hub.services.letter_box import approval_ref, disclosure_of, open_letter, seal_letter
from hub.store import email_outbox as store
from hub.store.schema import disclosures
from hub.wiring import Hub
from tests.conftest import agency_id
from tests.integration.email_support import Relay, email_config, make_ca
from tests.integration.test_email_delivery import email_entries, row, sender_for

TEXT = "Dear Ms Example,\nWe are writing to tell you about a person employed by you.\n"

pytestmark = pytest.mark.usefixtures("logins")


async def test_sealed_letter_opens_after_rotation_and_only_for_its_agency(hub: Hub) -> None:
    police = await agency_id(hub, "DBY-POLICE")
    blob = await seal_letter(hub.keyring, police, TEXT)
    assert b"Example" not in blob
    await hub.keyring.issue(police)  # rotation: the old key is retired, not deleted
    assert await open_letter(hub.keyring, police, blob) == TEXT
    with pytest.raises(CryptoFailure):
        await open_letter(hub.keyring, await agency_id(hub, "DBY-HOUSING"), blob)
    assert disclosure_of(approval_ref(12)) == 12
    assert disclosure_of("12") is None and disclosure_of(None) is None


async def test_letter_goes_only_for_an_approved_letter_disclosure(hub: Hub, tmp_path: Path) -> None:
    async with hub.db.read() as conn:
        found = (await conn.execute(disclosures.select())).mappings().first()
    assert found is not None and found["method"] == "letter"  # the demo's proposal
    disclosure_id, proposer = found["id"], found["proposer_agency_id"]
    blob = await seal_letter(hub.keyring, proposer, TEXT)
    async with hub.db.write() as conn:
        row_id = await store.enqueue(
            conn,
            store.message(
                dedupe_key="letter/test",
                message_id=store.new_message_id("hub.example"),
                kind=store.LETTER,
                event="letter",
                channel="letter",
                agency_id=proposer,  # the disclosing agency: the disclosee is outside the directory
                to_address="md@acme.example",
                when=hub.clock.now(),
                case_id=found["case_id"],
                body_sealed=blob,
                approval_ref=approval_ref(disclosure_id),
            ),
        )
    assert row_id is not None
    ca = make_ca(tmp_path / "ca")
    relay = Relay("starttls", ca).start()
    try:
        config = email_config(relay.port, ca)
        # Still only proposed: refused by the channel rules, a dead letter, never sent.
        assert (await sender_for(hub, config).drain()).dead == 1
        assert relay.messages == [] and "not approved" in (
            (await row(hub, row_id)).last_error or ""
        )

        async with hub.db.write() as conn:
            await conn.execute(
                update(disclosures)
                .where(disclosures.c.id == disclosure_id)
                .values(status="approved")
            )
            await store.retry(conn, [row_id], hub.clock.now())
        assert (await sender_for(hub, config).drain()).sent == 1
        [got] = relay.messages
        parsed = email.message_from_bytes(got.data, policy=email.policy.default)
        assert parsed["X-MAPPA-Hub-Approval"] == approval_ref(disclosure_id)
        assert "Example" not in parsed["Subject"]
        body = parsed.get_body(("plain",)).get_content()
        assert approval_ref(disclosure_id) in body and "We are writing" in body
        [entry] = await email_entries(hub)
        assert entry["event"] == "letter-sent" and entry["channel"] == "letter"
        assert entry["actor_agency_id"] == proposer
        assert entry["recipient_address"] == "md@acme.example"
    finally:
        relay.stop()
