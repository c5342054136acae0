"""Reading packets and attachments: only the agencies a packet was sent to, and every read logged."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hub.ledger.entries import Action, Event
from hub.model.packets import PacketType
from hub.store import ledger as ledger_store
from tests.conftest import actor_for
from tests.web.conftest import Web, csrf_from, fetch, post

HARLOW_SUBJECT = "Proposed address - suitability check before release"


async def _sent_by(web: Web, username: str) -> str:
    """The id of the one demo note a user's agency sent (the demo's workflow packets aside)."""
    sent = await web.hub.packets.outbox(await actor_for(web.hub, username))
    (packet,) = [p for p in sent if p.packet_type is PacketType.NOTE]
    return packet.id


async def _entries(web: Web, packet_id: str) -> list[dict[str, object]]:
    async with web.hub.db.read() as conn:
        return [dict(row) for row in await ledger_store.entries_for_packet(conn, packet_id)]


async def test_recipient_reads_the_packet_and_the_read_is_logged(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.police")
    await web.login("dby.housing")
    housing = await actor_for(web.hub, "dby.housing")
    seq = await web.ledger_seq()

    status, _, html = await fetch(web.client, f"/packets/{packet_id}")

    assert status == 200
    assert HARLOW_SUBJECT in html
    assert "within 300 metres of a primary school" in html
    assert "licence-conditions.txt" in html
    assert await web.ledger_seq() == seq + 1
    last = (await _entries(web, packet_id))[-1]
    assert last["seq"] == seq + 1
    assert (last["action"], last["event"]) == (Action.CONSULTATION, Event.PACKET_OPENED)
    assert (last["actor_user_id"], last["actor_agency_id"]) == (housing.user.id, housing.agency.id)


async def test_packet_not_sent_to_the_agency_is_403_and_not_logged(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.probation")  # to police and mental health only
    await web.login("dby.housing")
    seq = await web.ledger_seq()

    status, _, html = await fetch(web.client, f"/packets/{packet_id}")

    assert status == 403
    assert "This packet was not sent to your agency, so you cannot open it." in html
    assert "Risk escalated after missed appointments" not in html
    status, _, _ = await fetch(web.client, f"/packets/{packet_id}/attachments/0")
    assert status == 403
    assert await web.ledger_seq() == seq


async def test_nonexistent_packet_is_404_and_not_logged(web: Web) -> None:
    await web.login("dby.housing")
    seq = await web.ledger_seq()
    for path in (f"/packets/{uuid.uuid4()}", "/packets/not-a-packet-id"):
        status, _, html = await fetch(web.client, path)
        assert status == 404, path
        assert "No such packet." in html
    assert await web.ledger_seq() == seq


async def test_attachment_is_always_a_download_and_is_logged(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.police")
    await web.login("dby.housing")
    seq = await web.ledger_seq()

    async with web.client.get(f"/packets/{packet_id}/attachments/0") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert (
            resp.headers["Content-Disposition"] == 'attachment; filename="licence-conditions.txt"'
        )
        assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert (await resp.read()).startswith(b"1. Reside at approved premises.\n")

    assert await web.ledger_seq() == seq + 1
    last = (await _entries(web, packet_id))[-1]
    assert (last["action"], last["event"]) == (Action.CONSULTATION, Event.ATTACHMENT_OPENED)


async def test_missing_attachment_is_404_and_not_logged(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.police")
    await web.login("dby.housing")
    seq = await web.ledger_seq()
    status, _, html = await fetch(web.client, f"/packets/{packet_id}/attachments/7")
    assert status == 404
    assert "No such attachment." in html
    assert await web.ledger_seq() == seq


async def test_auditor_cannot_read_content_or_compose(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.probation")  # sent to the auditor's own agency
    await web.login("dby.auditor")
    packets, seq = await web.packet_count(), await web.ledger_seq()

    status, _, html = await fetch(web.client, f"/packets/{packet_id}")
    assert status == 403
    assert "Your role does not allow reading packet content." in html
    assert "Risk escalated after missed appointments" not in html
    assert (await fetch(web.client, f"/packets/{packet_id}/attachments/0"))[0] == 403
    status, _, refused = await fetch(web.client, "/inbox")
    assert status == 403
    assert (await fetch(web.client, "/compose"))[0] == 403

    csrf = csrf_from(refused)  # the sign-out form on the refusal page
    form = {
        "_csrf": csrf,
        "case": str(await web.case_id("Harlow")),
        "recipients": str(await web.agency_id("DBY-HOUSING")),
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "subject": "Auditor note",
        "body": "Should not be sent.",
    }
    status, _, html = await post(web.client, "/compose", form)
    assert status == 403
    assert "Your role cannot send packets." in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)


async def test_sender_agency_reads_its_own_packet(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.police")
    await web.login("dby.coordinator")  # same agency as the sender, different user
    status, _, html = await fetch(web.client, f"/packets/{packet_id}")
    assert status == 200
    assert HARLOW_SUBJECT in html
    assert "(dby.police)" in html


async def test_sender_downloads_a_receipt_recipient_cannot(web: Web) -> None:
    from hub.ledger.checkpoint import Receipt

    packet_id = await _sent_by(web, "dby.probation")
    await web.login("dby.probation")
    status, _, html = await fetch(web.client, f"/packets/{packet_id}")
    assert 'id="receipt"' in html
    response = await web.client.get(f"/packets/{packet_id}/receipt")
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    receipt = Receipt.from_bytes(await response.read())
    assert receipt.verify()["packet"] == packet_id
    await web.logout()
    web.clock.advance(timedelta(seconds=30))
    await web.login("dby.police")
    status, _, html = await fetch(web.client, f"/packets/{packet_id}/receipt")
    assert status == 403
    assert "Only the sending agency" in html
