"""Inbox and sent listings: each agency sees what was sent to it, or by it, and nothing else."""

from __future__ import annotations

from tests.web.conftest import Web, fetch

HARLOW_SUBJECT = "Proposed address - suitability check before release"
PRITCHARD_SUBJECT = "Risk escalated after missed appointments"


async def test_housing_inbox_lists_the_packet_sent_to_it(web: Web) -> None:
    await web.login("dby.housing")
    status, _, html = await fetch(web.client, "/inbox")
    assert status == 200
    assert 'id="inbox"' in html
    assert HARLOW_SUBJECT in html
    assert "Derbyshire Constabulary" in html  # the sender agency
    assert "1 attachment" in html
    assert PRITCHARD_SUBJECT not in html


async def test_sender_sees_its_packet_under_sent_not_inbox(web: Web) -> None:
    await web.login("dby.police")
    _, _, inbox = await fetch(web.client, "/inbox")
    _, _, outbox = await fetch(web.client, "/outbox")
    assert PRITCHARD_SUBJECT in inbox  # probation sent it to police
    assert HARLOW_SUBJECT not in inbox
    assert HARLOW_SUBJECT in outbox
    assert "Derby City Council Housing Options" in outbox  # the recipients
    assert "Probation Service - Derbyshire" in outbox


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
    _, _, html = await fetch(auditor, "/outbox")
    assert 'id="compose-link"' not in html
