"""Inbox and Sent: each agency sees what was sent to it, or by it, and nothing else; in words, with
what the signed-in person has not opened yet marked Unread."""

from __future__ import annotations

import re

from sqlalchemy import select

from hub.model.packets import Draft
from hub.store.schema import packet_reads
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for
from tests.web.conftest import Web, fetch

HARLOW_SUBJECT = "Proposed address - suitability check before release"
PRITCHARD_SUBJECT = "Risk escalated after missed appointments"
PURPOSE_WORDS = "Managing the risk an offender poses"  # policies' label for risk-management


def _row(html: str, subject: str) -> str:
    """The table row (``<tr>``) of the packet with this subject."""
    for row in re.findall(r"<tr class=\"govuk-table__row\" id=\"row-.*?</tr>", html, re.S):
        if subject in row:
            return str(row)
    raise AssertionError(f"no row for {subject!r}")


def _headers(html: str, table_id: str) -> list[str]:
    table = html[html.index(f'id="{table_id}"') :]
    head = table[: table.index("</thead>")]
    return re.findall(r'<th scope="col" class="govuk-table__header">(.*?)</th>', head)


async def test_housing_inbox_lists_the_packet_sent_to_it_in_words(web: Web) -> None:
    await web.login("dby.housing")
    status, _, html = await fetch(web.client, "/inbox")
    assert status == 200
    assert 'id="inbox"' in html
    assert _headers(html, "inbox") == ["Received", "Case", "Subject", "From", "Purpose", "Type"]
    row = _row(html, HARLOW_SUBJECT)
    assert "Derbyshire Constabulary" in row  # the sender agency
    assert '<strong class="govuk-tag govuk-tag--grey">1 attachment</strong>' in row
    assert PURPOSE_WORDS in row and ">Note<" in row
    # Never the codes behind the words.
    assert "risk-management" not in html and ">note<" not in row
    assert PRITCHARD_SUBJECT not in html
    # The table scrolls in its own region on a phone, never the page.
    scroll = '<div class="hub-table-scroll" role="region" aria-label="Inbox: packets" tabindex="0">'
    assert scroll in html
    # Inbox, Sent and Drafts as MOJ sub navigation, the inbox current.
    start = html.index('<nav class="moj-sub-navigation"')
    nav = html[start : html.index("</nav>", start)]
    assert 'aria-current="page" href="/inbox"' in nav
    assert 'href="/outbox"' in nav and 'href="/drafts"' in nav


async def test_the_sent_list_says_sent_and_names_the_recipients(web: Web) -> None:
    await web.login("dby.police")
    _, _, inbox = await fetch(web.client, "/inbox")
    _, _, outbox = await fetch(web.client, "/outbox")
    assert PRITCHARD_SUBJECT in inbox  # probation sent it to police
    assert HARLOW_SUBJECT not in inbox
    assert _headers(outbox, "outbox") == ["Sent", "Case", "Subject", "To", "Purpose", "Type"]
    row = _row(outbox, HARLOW_SUBJECT)
    assert "Derby City Council Housing Options" in row  # the recipients
    assert "Probation Service - Derbyshire" in row
    assert "Unread" not in row  # one's own sent packets are not news
    assert '<h1 class="govuk-heading-l">Sent</h1>' in outbox


async def test_agency_of_another_area_sees_nothing(web: Web) -> None:
    await web.login("nts.police")
    for path in ("/inbox", "/outbox"):
        status, _, html = await fetch(web.client, path)
        assert status == 200
        assert "Nothing here yet." in html
        assert HARLOW_SUBJECT not in html
        assert PRITCHARD_SUBJECT not in html


async def test_home_redirects_to_the_inbox(web: Web) -> None:
    await web.login("dby.housing")
    assert (await fetch(web.client, "/"))[:2] == (303, "/inbox")


async def test_compose_link_only_for_roles_that_can_send(web: Web) -> None:
    await web.login("dby.housing")
    assert 'id="compose-link"' in (await fetch(web.client, "/inbox"))[2]
    auditor = await web.login("dby.auditor", await web.new_client())
    _, _, html = await fetch(auditor, "/disclosures")
    assert 'id="compose-link"' not in html


async def test_unread_is_per_person_and_opening_marks_it_read(web: Web) -> None:
    """Police receive probation's note: unread for both police users until each opens it."""
    police = await web.login("dby.police")
    coordinator = await web.login("dby.coordinator", await web.new_client())
    _, _, html = await fetch(police, "/inbox")
    row = _row(html, PRITCHARD_SUBJECT)
    assert '<strong class="govuk-tag govuk-tag--blue hub-unread-tag">Unread</strong>' in row
    assert 'class="govuk-link subject hub-unread"' in row  # bold, besides the tag
    assert 'id="unread-count">You have 1 unread packet.' in html
    assert "Packets you have not opened are marked Unread." in html  # the table's caption
    packet_id = re.search(r'href="/packets/([0-9a-f-]{36})"', row)
    assert packet_id is not None

    assert (await fetch(police, f"/packets/{packet_id[1]}"))[0] == 200

    _, _, html = await fetch(police, "/inbox")
    assert "Unread" not in _row(html, PRITCHARD_SUBJECT)
    assert "You have opened every recent packet." in html
    _, _, other = await fetch(coordinator, "/inbox")
    assert "Unread" in _row(other, PRITCHARD_SUBJECT)  # the colleague has not opened it


async def test_a_reading_is_marked_once_in_the_transaction_that_logs_it(web: Web) -> None:
    police = await actor_for(web.hub, "dby.police")
    (packet,) = [p for p in await web.hub.packets.inbox(police) if p.subject == PRITCHARD_SUBJECT]
    seq = await web.ledger_seq()

    await web.hub.packets.open(police, packet.id)
    first = await _reads(web, police.user.id)
    assert list(first) == [packet.id] and await web.ledger_seq() == seq + 1
    await web.hub.packets.open(police, packet.id)  # logged again, but first read stays first
    assert await _reads(web, police.user.id) == first
    assert await web.ledger_seq() == seq + 2
    # Listing is no reading: nothing marked, nothing logged.
    housing = await actor_for(web.hub, "dby.housing")
    await web.hub.packets.listing.page(housing, "inbox")
    assert await _reads(web, housing.user.id) == {}
    assert await web.ledger_seq() == seq + 2


async def test_an_agency_system_reading_marks_nothing_for_its_account(web: Web) -> None:
    issued = await web.hub.tokens.issue(None, "DBY-POLICE", "Records", ["packets:read"])
    system = await web.hub.callers.authenticate(issued.secret)
    (packet,) = [
        p for p in await web.hub.packets.inbox(system.actor) if p.subject == PRITCHARD_SUBJECT
    ]
    await web.hub.packets.open(system.actor, packet.id)
    assert await _reads(web, system.actor.user.id) == {}


async def test_the_unread_count_looks_only_at_the_newest_hundred(web: Web) -> None:
    police = await actor_for(web.hub, "dby.police")
    housing = await actor_for(web.hub, "dby.housing")
    harlow = await web.case_id("Harlow")
    for n in range(105):
        await web.hub.packets.send(
            police,
            Draft(
                case_id=harlow,
                recipient_agency_ids=(housing.agency.id,),
                subject=f"Update {n}",
                body="Curfew unchanged.",
                purpose="risk-management",
                lawful_basis="cja2003-s325",
                data_categories=SHARE_CATEGORIES,
                necessity=NECESSITY,
            ),
        )
    assert await web.hub.packets.listing.unread_count(housing) == 100
    await web.login("dby.housing")
    _, _, html = await fetch(web.client, "/inbox")
    assert 'id="unread-count">You have 99 or more unread packets.' in html
    assert '<span aria-hidden="true">99+</span>' in html  # the badge on Inbox
    assert "(99 or more unread)" in html


async def _reads(web: Web, user_id: int) -> dict[str, object]:
    async with web.hub.db.read() as conn:
        rows = await conn.execute(
            select(packet_reads.c.packet_id, packet_reads.c.first_read_at).where(
                packet_reads.c.user_id == user_id
            )
        )
        return {r[0]: r[1] for r in rows}
