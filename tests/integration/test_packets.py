"""Sending, listing and opening packets through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.errors import Forbidden, NotFound
from hub.ledger.entries import Action, Event
from hub.model.packets import AttachmentIn, Draft
from hub.services import ledger
from hub.services.share_approvals import HeldSummary
from hub.store import ledger as ledger_store
from hub.store.schema import case_agencies
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def _draft(hub: Hub, *recipients: str, body: str = "Body text", **kw: object) -> Draft:
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=tuple([await agency_id(hub, r) for r in recipients]),
        subject=str(kw.pop("subject", "Address check")),
        body=body,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
        **kw,  # type: ignore[arg-type]
    )


async def test_send_reaches_recipient_and_is_logged(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    draft = await _draft(
        hub,
        "DBY-HOUSING",
        body="Please check 12 Example Road.",
        attachments=(AttachmentIn("plan.txt", "text/plain", b"risk management plan"),),
    )
    sent = await hub.packets.send(police, draft)

    inbox = await hub.packets.inbox(housing)
    assert inbox[0].id == sent.id
    assert inbox[0].subject == "Address check"
    assert inbox[0].attachment_count == 1
    outbox = await hub.packets.outbox(police)
    assert outbox[0].id == sent.id

    opened = await hub.packets.open(housing, sent.id)
    assert opened.body == "Please check 12 Example Road."
    assert opened.header.sender_agency == "DBY-POLICE"
    assert opened.header.recipients == ("DBY-HOUSING",)
    att = await hub.packets.attachment(housing, sent.id, 0)
    assert att.data == b"risk management plan"

    async with hub.db.read() as conn:
        entries = await ledger_store.entries_for_packet(conn, sent.id)
    assert [(e["action"], e["event"]) for e in entries] == [
        (Action.DISCLOSURE, Event.PACKET_SENT),
        (Action.CONSULTATION, Event.PACKET_OPENED),
        (Action.CONSULTATION, Event.ATTACHMENT_OPENED),
    ]
    sent_entry = entries[0]
    assert sent_entry["actor_user_id"] == police.user.id
    assert sent_entry["actor_agency_id"] == police.agency.id
    assert sent_entry["recipients"] == str(housing.agency.id)
    assert sent_entry["purpose"] == "risk-management"
    assert entries[1]["actor_user_id"] == housing.user.id
    assert await ledger.verify(hub.db) >= 3


async def test_sender_agency_can_reopen_its_own_packet(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")  # same agency, another user
    sent = await hub.packets.send(police, await _draft(hub, "DBY-HOUSING"))
    assert (await hub.packets.open(coordinator, sent.id)).body == "Body text"


async def test_other_agency_is_refused_and_nothing_logged(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    csc = await actor_for(hub, "dby.csc")
    sent = await hub.packets.send(police, await _draft(hub, "DBY-HOUSING"))
    async with hub.db.read() as conn:
        before, _ = await ledger_store.head(conn)
    with pytest.raises(Forbidden, match="not sent to your agency"):
        await hub.packets.open(csc, sent.id)
    with pytest.raises(Forbidden):
        await hub.packets.attachment(csc, sent.id, 0)
    async with hub.db.read() as conn:
        after, _ = await ledger_store.head(conn)
    assert after == before
    assert sent.id not in [p.id for p in await hub.packets.inbox(csc)]


async def test_auditor_cannot_read_content(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    auditor = await actor_for(hub, "dby.auditor")  # same agency as the sender
    sent = await hub.packets.send(police, await _draft(hub, "DBY-HOUSING"))
    with pytest.raises(Forbidden):
        await hub.packets.open(auditor, sent.id)
    with pytest.raises(Forbidden):
        await hub.packets.send(auditor, await _draft(hub, "DBY-HOUSING"))


async def test_one_packet_to_many_agencies(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    draft = await _draft(hub, "DBY-HOUSING", "DBY-PROBATION", "DBY-MH", "NTS-POLICE")
    # Nottinghamshire Police is of another area and not active on the case: the share is held
    # for both areas' coordinators, and no recipient can open it yet.
    held = await hub.packets.send(police, draft)
    assert isinstance(held, HeldSummary) and held.share_id
    with pytest.raises(NotFound):
        await hub.packets.open(await actor_for(hub, "dby.housing"), held.id)
    # Once the Derbyshire coordinator involves it in the case, one packet reaches all four.
    coordinator = await actor_for(hub, "dby.coordinator")
    reference = (await hub.cases.get(coordinator, draft.case_id)).reference
    await hub.cases.involve(coordinator, reference, "NTS-POLICE")
    sent = await hub.packets.send(police, draft)
    assert not isinstance(sent, HeldSummary)
    for username in ("dby.housing", "dby.probation", "dby.mh", "nts.police"):
        reader = await actor_for(hub, username)
        assert (await hub.packets.open(reader, sent.id)).body == "Body text"


async def test_ledger_is_gapless_under_concurrent_senders(hub: Hub, logins: object) -> None:
    import asyncio

    police = await actor_for(hub, "dby.police")
    probation = await actor_for(hub, "dby.probation")
    drafts = [await _draft(hub, "DBY-HOUSING", body=f"n{i}") for i in range(20)]
    await asyncio.gather(
        *(hub.packets.send(police if i % 2 else probation, d) for i, d in enumerate(drafts))
    )
    async with hub.db.read() as conn:
        seqs = [int(r["seq"]) async for r in ledger_store.stream_entries(conn)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert await ledger.verify(hub.db) == len(seqs)


async def test_a_packets_id_is_led_by_its_creation_time_and_sorts_after_earlier_ones(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    sent = [await hub.packets.send(police, await _draft(hub, "DBY-HOUSING")) for _ in range(3)]
    for packet in sent:
        opened = await hub.packets.open(housing, packet.id)
        value = uuid.UUID(packet.id)
        assert (value.version, str(value)) == (7, packet.id)
        # The signed header's created_at, in Unix milliseconds, is the id's first 48 bits.
        since = opened.header.created_at - datetime(1970, 1, 1, tzinfo=UTC)
        assert value.int >> 80 == since // timedelta(milliseconds=1)
    assert [p.id for p in sent] == sorted(p.id for p in sent)  # the clock moved between them


async def test_envelope_from_the_hub_opens_with_only_the_format_document(
    hub: Hub, logins: object
) -> None:
    """A packet the hub sealed and stored, exported, opened by the spec-only reader."""
    from tests.unit.test_independent_open import _open as independent_open

    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    sent = await hub.packets.send(
        police,
        await _draft(
            hub,
            "DBY-HOUSING",
            body="Licence condition 3 varied.",
            attachments=(AttachmentIn("variation.txt", "text/plain", b"new condition"),),
        ),
    )
    envelope = await hub.packets.sealed_envelope(housing, sent.id)
    housing_keys = await hub.keyring.active(housing.agency.id)
    signing = (await hub.keyring.active(police.agency.id)).signing
    opened = independent_open(
        envelope,
        "DBY-HOUSING",
        hub.keyring.private(housing_keys.encryption).reveal(),
        {signing.key_id: ("DBY-POLICE", signing.public_key)},
    )
    assert opened.body == "Licence condition 3 varied."
    assert opened.subject == "Address check"
    assert opened.attachments[0][2] == b"new condition"
    assert opened.header["packet_id"] == sent.id


async def test_a_share_makes_its_sender_active_on_the_case_from_its_first_share(
    hub: Hub, logins: object
) -> None:
    """The share batch writes its sender's membership of the case with its packets (on
    PostgreSQL in the packets' own statement): from the first share's time, kept by later
    shares, once however many shares of one batch there are; its recipients are not joined."""
    police = await actor_for(hub, "dby.police")
    target = await case_id(hub, "Harlow")
    ids = [await agency_id(hub, a) for a in ("DBY-POLICE", "DBY-HOUSING")]

    async def joined() -> dict[int, object]:
        async with hub.db.read() as conn:
            rows = await conn.execute(
                select(case_agencies.c.agency_id, case_agencies.c.joined_at).where(
                    case_agencies.c.case_id == target, case_agencies.c.agency_id.in_(ids)
                )
            )
            return {r.agency_id: r.joined_at for r in rows}

    async with hub.db.write() as conn:
        await conn.execute(
            case_agencies.delete().where(
                case_agencies.c.case_id == target, case_agencies.c.agency_id.in_(ids)
            )
        )
    first = hub.clock.now()
    # Concurrent shares: the log writer batches them, and the sender is joined once.
    drafts = [await _draft(hub, "DBY-HOUSING") for _ in range(4)]
    await asyncio.gather(*[hub.packets.send(police, d) for d in drafts])
    initial = await joined()
    assert list(initial) == [ids[0]]  # the sender, once; not the recipient
    assert first <= initial[ids[0]] < first + timedelta(minutes=1)  # type: ignore[operator]
    hub.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    await hub.packets.send(police, await _draft(hub, "DBY-HOUSING"))
    assert await joined() == initial
