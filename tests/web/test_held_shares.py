"""Shares held for approval over HTTP: compose says who must approve, the Sent list shows the share
awaiting approval, the recipient sees nothing until a coordinator approves it on its page."""

from __future__ import annotations

import re
from datetime import timedelta

from markupsafe import escape

from hub.services.actor import Actor
from tests.conftest import actor_for
from tests.web.conftest import Web, compose_form, csrf_from, fetch, post

SUBJECT = "Victim's address: exclusion for housing"
BODY = "The victim lives at 14 Linden Grove, Derby. No offer within a mile of it."
REASON = "Housing must not offer him any property near the victim's home: he knows the street."


async def _compose_held(web: Web) -> tuple[int, str]:
    """dby.police sends a restricted category with a reason; (share id, packet id)."""
    await web.login("dby.police")
    form = compose_form(
        await web.compose_csrf(),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        subject=SUBJECT,
        body=BODY,
        categories=("address", "risk-summary", "victim-address"),
        extra={"restricted_reason": REASON},
    )
    status, location, _ = await post(web.client, "/compose", form)
    assert status == 303
    match = re.fullmatch(r"/shares/(\d+)\?sent=1", location)
    assert match, location
    share_id = int(match.group(1))
    police = await actor_for(web.hub, "dby.police")
    view = await web.hub.held_shares.get(police, share_id)
    return share_id, view.packet.id


async def _switch(web: Web, username: str) -> Actor:
    await web.logout()
    web.clock.advance(timedelta(seconds=30))  # a TOTP code signs in once: take the next one
    await web.login(username)
    return await actor_for(web.hub, username)


async def test_compose_confirms_who_approves_and_the_recipient_sees_nothing(web: Web) -> None:
    share_id, packet_id = await _compose_held(web)
    status, _, html = await fetch(web.client, f"/shares/{share_id}?sent=1")
    assert status == 200
    # A success banner says who must approve it, in words (the rule by its label).
    assert "Sealed and held for approval by a coordinator of Derbyshire." in html
    assert "govuk-notification-banner--success" in html
    rule = next(
        r
        for r in web.hub.policy.current.approval_rules
        if r.id == "restricted-category-with-reason"
    )
    assert escape(REASON) in html and escape(rule.label) in html
    assert "restricted-category-with-reason" not in html and "REVIEW" not in html
    assert 'id="decide-form"' not in html  # the proposer's agency does not decide
    status, _, html = await fetch(web.client, "/outbox")
    assert status == 200
    assert f'href="/shares/{share_id}"' in html and "Awaiting approval" in html

    await _switch(web, "dby.housing")
    status, _, html = await fetch(web.client, "/inbox")
    assert status == 200 and escape(SUBJECT) not in html
    assert (await fetch(web.client, f"/packets/{packet_id}"))[0] == 404
    assert (await fetch(web.client, f"/shares/{share_id}"))[0] == 404
    assert (await fetch(web.client, f"/shares/{share_id}/content"))[0] == 404


async def test_a_coordinator_reads_and_approves_then_the_recipient_opens_it(web: Web) -> None:
    share_id, packet_id = await _compose_held(web)
    await _switch(web, "dby.coordinator")
    status, _, html = await fetch(web.client, "/inbox")
    assert 'id="shares-link"' in html
    status, _, html = await fetch(web.client, "/shares")
    assert status == 200 and f'id="share-{share_id}"' in html
    before = await web.ledger_seq()
    status, _, html = await fetch(web.client, f"/shares/{share_id}/content")
    assert status == 200 and "14 Linden Grove" in html
    assert await web.ledger_seq() == before + 1  # the approver's reading is on the log
    status, _, html = await fetch(web.client, f"/shares/{share_id}")
    assert 'id="decide-form"' in html
    # Reasons are required; the page says so and keeps the record beside it.
    status, _, html = await post(
        web.client,
        f"/shares/{share_id}/decide",
        {"_csrf": csrf_from(html), "decision": "approve", "reasons": " "},
    )
    assert status == 400 and 'id="share-error"' in html
    assert '<a href="#reasons">Give the reasons for your decision' in html  # links the field
    assert 'value="approve" checked' in html  # what was chosen is kept
    status, location, _ = await post(
        web.client,
        f"/shares/{share_id}/decide",
        {"_csrf": csrf_from(html), "decision": "approve", "reasons": "Needed to keep her safe."},
    )
    assert (status, location) == (303, f"/shares/{share_id}?done=approve")
    status, _, html = await fetch(web.client, location)
    assert "Your approval is recorded" in html and 'id="share-status">Sent after approval<' in html
    assert f'href="/packets/{packet_id}"' in html  # the coordinator's agency sent it: readable

    await _switch(web, "dby.housing")
    status, _, html = await fetch(web.client, "/inbox")
    assert escape(SUBJECT) in html
    status, _, html = await fetch(web.client, f"/packets/{packet_id}")
    assert status == 200 and "14 Linden Grove" in html


async def test_a_refusal_is_shown_to_the_proposer_with_its_reasons(web: Web) -> None:
    share_id, packet_id = await _compose_held(web)
    await _switch(web, "dby.coordinator")
    _, _, html = await fetch(web.client, f"/shares/{share_id}")
    reasons = "A radius around the victim's home is enough; the address is not needed."
    status, _, _ = await post(
        web.client,
        f"/shares/{share_id}/decide",
        {"_csrf": csrf_from(html), "decision": "refuse", "reasons": reasons},
    )
    assert status == 303
    await _switch(web, "dby.police")
    status, _, html = await fetch(web.client, f"/shares/{share_id}")
    assert 'id="share-status">Refused<' in html and escape(reasons) in html
    status, _, html = await fetch(web.client, "/outbox")
    assert f'href="/shares/{share_id}"' in html and "Refused" in html
    # A practitioner posting a decision anyway is refused on the page, and nothing is written.
    before = await web.ledger_seq()
    status, _, html = await post(
        web.client,
        f"/shares/{share_id}/decide",
        {"_csrf": csrf_from(html), "decision": "approve", "reasons": "I insist."},
    )
    assert status in (403, 409) and 'id="share-error"' in html
    assert await web.ledger_seq() == before
    await _switch(web, "dby.housing")
    assert (await fetch(web.client, f"/packets/{packet_id}"))[0] == 404
