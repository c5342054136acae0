"""Third-party disclosure letters by secure email: only for an approved letter disclosure, only by
its proposer or a coordinator, only where the letter channel allows; sealed at rest (the text is
nowhere in the database in clear), naming its approval, and recorded as made in one transaction."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.services import letter_box
from hub.services.disclosure_letters import ChannelRefused
from hub.store.schema import disclosures, email_outbox, ledger_entries, metadata
from hub.wiring import Hub
from tests.conftest import actor_for
from tests.integration.email_support import Relay, email_config, make_ca
from tests.integration.test_email_delivery import email_entries, sender_for
from tests.integration.test_workflow_disclosures import REASONS, _disclosure, _propose

# A marker no other row holds: if it is anywhere in the database in clear, the test finds it.
MARKER = "Zanzibar-Quokka-7731"
LETTER = (
    f"Dear Managing Director,\n\nRef {MARKER}. Under the MAPPA guidance we disclose that the "
    "applicant has convictions relevant to the role. Keep this letter confidential.\n"
)
TO = "md@acme-logistics.example"


async def _approved(hub: Hub, **form: Any) -> int:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    sent = await _propose(hub, police, **form)
    view = await _disclosure(hub, coordinator, sent)
    await hub.disclosures.decide(coordinator, view.id, "approve", REASONS)
    return view.id


async def _outbox_count(hub: Hub) -> int:
    async with hub.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(email_outbox))).scalar())


async def _everything(hub: Hub) -> str:
    """Every row of every table, as text and bytes decoded loosely."""
    parts = []
    async with hub.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


async def test_a_letter_is_sealed_names_its_approval_and_records_the_disclosure(
    hub: Hub, logins: object
) -> None:
    disclosure_id = await _approved(hub)
    police = await actor_for(hub, "dby.police")
    entries_before = len(await _ledger(hub))
    sent = await hub.letters.send_letter(police, disclosure_id, f"  {TO} ", LETTER)

    assert sent.disclosure.row.status == "delivered"
    assert sent.disclosure.row.delivered_by_user_id == police.user.id
    async with hub.db.read() as conn:
        row = dict(
            (await conn.execute(select(email_outbox).where(email_outbox.c.id == sent.outbox_id)))
            .mappings()
            .one()
        )
    assert (row["kind"], row["channel"], row["event"], row["status"]) == (
        "letter",
        "letter",
        "disclosure-letter",
        "pending",
    )
    assert (row["to_address"], row["agency_id"], row["case_id"]) == (
        TO,
        police.agency.id,
        sent.disclosure.row.case_id,
    )
    assert letter_box.disclosure_of(row["approval_ref"]) == disclosure_id
    [approval] = sent.disclosure.decisions
    assert row["ref"] == f"{approval.approver_person_id}@{approval.decided_at:%Y-%m-%dT%H:%MZ}"
    # Sealed: the text is not in the row, nor anywhere in the database, yet it opens for the agency.
    assert MARKER.encode() not in row["body_sealed"]
    assert MARKER not in await _everything(hub)
    assert await letter_box.open_letter(hub.keyring, police.agency.id, row["body_sealed"]) == (
        LETTER.strip()
    )
    # The disclosure is on the log as made, with the letter's row, in one go.
    new = (await _ledger(hub))[entries_before:]
    assert [e["event"] for e in new] == ["third-party-disclosed"]

    # Once made, no second letter.
    with pytest.raises(Exception, match="already been made"):
        await hub.letters.send_letter(police, disclosure_id, TO, LETTER)


async def _ledger(hub: Hub) -> list[dict[str, Any]]:
    async with hub.db.read() as conn:
        stmt = select(ledger_entries.c.event).order_by(ledger_entries.c.seq)
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def test_a_letter_is_refused_unless_approved_by_letter_and_sent_by_the_right_person(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    before = await _outbox_count(hub)

    # Not approved yet: the disclosure's state is at fault, not the sender.
    proposed = await _disclosure(hub, coordinator, await _propose(hub, police, "Moss"))
    with pytest.raises(Conflict, match="approved"):
        await hub.letters.send_letter(police, proposed.id, TO, LETTER)

    disclosure_id = await _approved(hub)
    # Neither another practitioner, nor another area's coordinator, nor an admin.
    with pytest.raises(Forbidden):
        await hub.letters.send_letter(await actor_for(hub, "dby.probation"), disclosure_id, TO,
                                      LETTER)  # fmt: skip
    with pytest.raises(NotFound):
        await hub.letters.send_letter(await actor_for(hub, "nts.coordinator"), disclosure_id, TO,
                                      LETTER)  # fmt: skip
    with pytest.raises(Forbidden):
        await hub.letters.send_letter(await actor_for(hub, "dby.admin"), disclosure_id, TO, LETTER)
    # Bad input, each named by its field.
    for address, text, field in (
        ("not-an-address", LETTER, "to_address"),
        (f"{TO}\r\nBcc: spy@evil.example", LETTER, "to_address"),
        (TO, "   ", "letter_text"),
        (TO, "x" * 20_001, "letter_text"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await hub.letters.send_letter(police, disclosure_id, address, text)
        assert refused.value.field == field

    # Approved to be made in person: not by letter.
    in_person = await _approved(hub, method="in-person")
    with pytest.raises(ChannelRefused, match="in person"):
        await hub.letters.send_letter(police, in_person, TO, LETTER)

    # A disclosure holding what the letter channel does not carry (approved under an older
    # policy, say): refused by the channel rules.
    async with hub.db.write() as conn:
        await conn.execute(
            update(disclosures)
            .where(disclosures.c.id == disclosure_id)
            .values(categories="health,identity")
        )
    with pytest.raises(ChannelRefused, match="cannot carry"):
        await hub.letters.send_letter(police, disclosure_id, TO, LETTER)

    assert await _outbox_count(hub) == before
    async with hub.db.read() as conn:
        status = (
            await conn.execute(
                select(disclosures.c.status).where(disclosures.c.id == disclosure_id)
            )
        ).scalar()
    assert status == "approved"  # nothing recorded as made


async def test_a_coordinator_may_send_the_letter_for_the_proposer(hub: Hub, logins: object) -> None:
    disclosure_id = await _approved(hub)
    coordinator = await actor_for(hub, "dby.coordinator")
    sent = await hub.letters.send_letter(coordinator, disclosure_id, TO, LETTER)
    assert sent.disclosure.row.delivered_by_user_id == coordinator.user.id


async def test_a_letter_sent_from_the_disclosure_arrives_through_the_relay(
    hub: Hub, logins: object, tmp_path: Path
) -> None:
    """End to end: the service queues the letter, the sender opens and sends it over STARTTLS,
    the relay receives it naming the approval, and the send is a letter-sent ledger entry."""
    disclosure_id = await _approved(hub)
    police = await actor_for(hub, "dby.police")
    await hub.letters.send_letter(police, disclosure_id, TO, LETTER)
    ca = make_ca(tmp_path / "ca")
    relay = Relay("starttls", ca).start()
    try:
        summary = await sender_for(hub, email_config(relay.port, ca)).drain()
        assert summary.sent == 1 and summary.dead == 0
        [got] = relay.messages
    finally:
        relay.stop()
    parsed = email.message_from_bytes(got.data, policy=email.policy.default)
    assert parsed["To"] == TO and MARKER not in parsed["Subject"]
    assert parsed["X-MAPPA-Hub-Approval"] == letter_box.approval_ref(disclosure_id)
    assert MARKER in parsed.get_body(("plain",)).get_content()
    [entry] = await email_entries(hub)
    assert (entry["event"], entry["channel"], entry["recipient_address"]) == (
        "letter-sent",
        "letter",
        TO,
    )
    assert entry["actor_agency_id"] == police.agency.id and entry["recipients"] == ""
