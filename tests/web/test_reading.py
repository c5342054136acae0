"""Reading packets and attachments: only the agencies a packet was sent to, and every read logged."""

from __future__ import annotations

import html as htmllib
import re
import uuid
from datetime import timedelta

import pytest

from hub.ledger.entries import Action, Event
from hub.model.packets import Draft, PacketType
from hub.store import ledger as ledger_store
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for
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


# -- the packet page, in words ------------------------------------------------------------------


def _dd(html: str, dom_id: str) -> str:
    """The text of a summary list value, tags removed and spaces collapsed."""
    start = html.index(f'id="{dom_id}">') + len(f'id="{dom_id}">')
    value = html[start : html.index("</dd>", start)]
    return htmllib.unescape(" ".join(re.sub(r"<[^>]+>", " ", value).split()))


async def test_the_header_is_a_summary_list_in_words(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.police")
    await web.login("dby.housing")
    status, _, html = await fetch(web.client, f"/packets/{packet_id}")
    assert status == 200
    assert '<dl class="govuk-summary-list" id="packet-header">' in html
    assert _dd(html, "from") == "DS Mark Ellis, Derbyshire Constabulary (dby.police)"
    assert _dd(html, "purpose") == "Managing the risk an offender poses"
    assert _dd(html, "lawful-basis").startswith("Criminal Justice Act 2003 s325")
    assert "The offender's current and proposed addresses" in _dd(html, "categories")
    assert _dd(html, "packet-type") == "Note"
    assert _dd(html, "classification") == "OFFICIAL-SENSITIVE"
    # Housing is active on Harlow: the case reference links to its file.
    harlow = await web.case_id("Harlow")
    assert f'<a class="govuk-link" href="/cases/{harlow}">' in html
    # The policy's decision in words; the rule ids only under Technical details.
    assert "Allowed under policy version " in html
    assert "PERMIT (allow)" not in html
    details = html.index('id="policy-details"')
    assert html.index('id="policy-rules"') > details
    assert html.index('<span class="govuk-details__summary-text">\n      Technical details') > 0
    # Why it was shared, by the parts' names; not the sender's receipt.
    assert "Why sharing this is necessary to manage risk or protect someone" in html
    assert 'id="receipt"' not in html and 'id="sent-banner"' not in html


async def test_no_case_link_for_a_reader_whose_agency_is_not_on_the_case(web: Web) -> None:
    police = await actor_for(web.hub, "dby.police")
    harlow = await web.case_id("Harlow")
    sent = await web.hub.packets.send(
        police,
        Draft(
            case_id=harlow,
            recipient_agency_ids=(await web.agency_id("DBY-CSC"),),
            subject="Children at the proposed address",
            body="Two children visit at weekends.",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        ),
    )
    await web.login("dby.csc")
    status, _, html = await fetch(web.client, f"/packets/{sent.id}")
    assert status == 200
    assert _dd(html, "case-ref") == sent.case_reference  # the reference, not a link
    assert f'href="/cases/{harlow}"' not in html
    assert (await fetch(web.client, f"/cases/{harlow}"))[0] == 403  # as the link would have been


async def test_the_sender_sees_a_banner_with_the_receipt_and_a_way_to_check_it(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.police")
    await web.login("dby.police")
    status, _, html = await fetch(web.client, f"/packets/{packet_id}?sent=1")
    assert status == 200
    banner = html[html.index('id="sent-banner"') :]
    banner = banner[: banner.index("</div>\n</div>")]
    assert "govuk-notification-banner--success" in html
    assert (
        "Sent securely to Probation Service - Derbyshire and Derby City Council Housing Options."
        in " ".join(re.sub(r"<[^>]+>", " ", banner).split())
    )
    assert "Recorded on the hub's log at " in banner
    assert f'href="/packets/{packet_id}/receipt"' in banner
    assert 'href="/receipts/check" id="check-receipt"' in html
    # The banner is for the sender only: a recipient opening the same address sees none.
    await web.logout()
    web.clock.advance(timedelta(seconds=30))
    await web.login("dby.housing")
    _, _, html = await fetch(web.client, f"/packets/{packet_id}?sent=1")
    assert 'id="sent-banner"' not in html and 'id="check-receipt"' not in html


async def test_links_to_packets_are_offered_only_for_what_the_agency_holds(web: Web) -> None:
    probation_note = await _sent_by(web, "dby.probation")  # to police and mental health
    police_note = await _sent_by(web, "dby.police")  # to probation and housing
    housing = await actor_for(web.hub, "dby.housing")
    listing = web.hub.packets.listing
    assert await listing.openable(housing, [probation_note, police_note]) == {police_note}
    admin = await actor_for(web.hub, "dby.admin")
    assert await listing.openable(admin, [police_note]) == set()


# -- agency administrators read no case content ---------------------------------------------------

ADMIN_REFUSED = (
    "Agency administrators manage API tokens and keys; they do not read packets or case content."
)


async def test_an_agency_admin_is_refused_packets_and_case_files_with_a_clear_message(
    web: Web,
) -> None:
    packet_id = await _sent_by(web, "dby.probation")  # sent to the admin's own agency (police)
    admin = await web.login("dby.admin")
    assert (await fetch(admin, "/"))[:2] == (303, "/admin/tokens")
    seq = await web.ledger_seq()
    for path in (
        "/inbox",
        "/outbox",
        f"/packets/{packet_id}",
        f"/packets/{packet_id}/attachments/0",
    ):
        status, _, html = await fetch(admin, path)
        assert status == 403, path
        assert ADMIN_REFUSED in html, path
        assert "Risk escalated after missed appointments" not in html
    harlow = await web.case_id("Harlow")
    for path in ("/cases", f"/cases/{harlow}", "/deadlines"):
        status, _, html = await fetch(admin, path)
        assert status == 403, path
        assert "Agency administrators manage API tokens and keys" in html, path
    for path in ("/requests", "/notifications"):
        assert (await fetch(admin, path))[0] == 403, path
    assert await web.ledger_seq() == seq  # nothing was opened, so nothing consulted


async def test_an_api_call_naming_an_admin_as_its_person_is_refused_content(web: Web) -> None:
    packet_id = await _sent_by(web, "dby.probation")
    issued = await web.hub.tokens.issue(None, "DBY-POLICE", "Records", ["packets:read"])
    client = await web.new_client(cookies=False)
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    as_admin = {**bearer, "On-Behalf-Of": "dby.admin"}
    for path in ("/api/v1/inbox", f"/api/v1/packets/{packet_id}"):
        async with client.get(path, headers=as_admin) as resp:
            assert resp.status == 403, path
            assert (await resp.json())["detail"] == ADMIN_REFUSED
    # The agency's system itself reads its packets, and so does a call naming a practitioner.
    for headers in (bearer, {**bearer, "On-Behalf-Of": "dby.police"}):
        async with client.get("/api/v1/inbox", headers=headers) as resp:
            assert resp.status == 200


# -- every link offered opens ----------------------------------------------------------------------


@pytest.mark.parametrize("username", ["dby.csc", "dby.mh", "dby.probation", "dby.coordinator"])
async def test_every_case_and_packet_link_on_the_case_pages_opens(web: Web, username: str) -> None:
    client = await web.login(username)
    status, _, listing = await fetch(client, "/cases")
    assert status == 200
    cases = re.findall(r'href="(/cases/\d+)"', listing)
    for family in ("Harlow", "Pritchard"):
        path = f"/cases/{await web.case_id(family)}"
        if path not in cases:  # listed without a link: its file is closed to this agency
            assert (await fetch(client, path))[0] == 403, (username, path)
    for case in cases:
        status, _, page = await fetch(client, case)
        assert status == 200, (username, case)
        for link in set(re.findall(r'href="(/(?:packets|cases|disclosures)/[0-9a-f-]+)"', page)):
            assert (await fetch(client, link))[0] == 200, (username, case, link)


async def test_the_cases_list_filters_by_words_and_level(web: Web) -> None:
    client = await web.login("dby.coordinator")
    _, _, page = await fetch(client, "/cases?q=harl")
    assert re.findall(r'id="case-(\d+)"', page) == [str(await web.case_id("Harlow"))]
    assert 'id="case-count">1 of 4 cases match.' in page
    _, _, page = await fetch(client, "/cases?level=3")
    assert re.findall(r'id="case-(\d+)"', page) == [str(await web.case_id("Pritchard"))]
    assert "Level 3: active multi-agency management (the critical few)" in page
    _, _, page = await fetch(client, "/cases?q=nobody")
    assert 'id="no-cases"' in page and 'href="/cases"' in page
