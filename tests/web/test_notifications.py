"""The notifications page: decisions on what the person proposed, requests put to their agency and
still open, and what their agency has due, computed from the records; each link one the person
may open."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from hub.model.packets import Draft
from tests.conftest import NECESSITY, actor_for
from tests.web.conftest import Client, Web, fetch

REASONS = "Shift planning can keep them apart without telling the employer about her conviction."


async def _as(web: Web, username: str) -> Client:
    return await web.login(username, await web.new_client())


def _section(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</table>", start)]


async def test_an_open_request_to_the_agency_is_listed_once_with_its_packet(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    status, _, html = await fetch(housing, "/notifications")
    assert status == 200
    (view,) = (await web.hub.requests.queue(await actor_for(web.hub, "dby.housing"))).incoming
    requests = _section(html, "open-requests")
    assert f'id="request-{view.id}"' in requests
    assert "Probation Service - Derbyshire" in requests
    assert f'href="/packets/{view.row.packet_id}"' in requests
    assert "Read and answer" in requests
    # The request is also the agency's work item: listed under requests, not again under due.
    assert 'id="due-notifications"' not in html and 'id="nothing-due"' in html
    assert 'id="notification-count">1 thing for your attention.' in html
    assert 'id="no-decisions"' in html


async def test_a_refused_disclosure_is_news_for_its_proposer_for_thirty_days(web: Web) -> None:
    coordinator = await actor_for(web.hub, "dby.coordinator")
    (proposal,) = await web.hub.disclosures.register(coordinator)
    await web.hub.disclosures.decide(coordinator, proposal.id, "refuse", REASONS)

    police = await _as(web, "dby.police")  # the practitioner who proposed it
    status, _, html = await fetch(police, "/notifications")
    assert status == 200
    decisions = _section(html, "decisions")
    row = re.search(rf'id="decision-disclosure-{proposal.id}".*?</tr>', decisions, re.S)
    assert row is not None
    assert f'href="/disclosures/{proposal.id}"' in row[0]
    assert "Third-party disclosure to employer" in row[0]
    assert '<strong class="govuk-tag govuk-tag--red">Refused</strong>' in row[0]
    assert (await fetch(police, f"/disclosures/{proposal.id}"))[0] == 200  # the link opens
    # Not news for the person who decided it.
    other = await _as(web, "dby.coordinator")
    assert (
        f'id="decision-disclosure-{proposal.id}"' not in (await fetch(other, "/notifications"))[2]
    )
    # A month on, it is history: the register keeps it, the notifications do not.
    web.clock.advance(timedelta(days=31))
    police = await _as(web, "dby.police")
    _, _, html = await fetch(police, "/notifications")
    assert f'id="decision-disclosure-{proposal.id}"' not in html


async def test_a_held_share_released_after_approval_is_news_for_its_proposer(web: Web) -> None:
    police = await actor_for(web.hub, "dby.police")
    held = await web.hub.packets.send(
        police,
        Draft(
            case_id=await web.case_id("Harlow"),
            recipient_agency_ids=(await web.agency_id("DBY-HOUSING"),),
            subject="Victim's address: exclusion for housing",
            body="The victim lives at 14 Linden Grove.",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=("address", "risk-summary", "victim-address"),
            necessity=NECESSITY,
            restricted_reason="Housing must not offer him a property near the victim's home.",
        ),
    )
    share = await web.hub.held_shares.for_packet(police, held.id)
    assert share is not None
    coordinator = await actor_for(web.hub, "dby.coordinator")
    await web.hub.share_approvals.decide(
        coordinator, share.id, "approve", "Needed to keep her safe."
    )

    client = await _as(web, "dby.police")
    _, _, html = await fetch(client, "/notifications")
    row = re.search(rf'id="decision-share-{share.id}".*?</tr>', html, re.S)
    assert row is not None
    assert f'href="/shares/{share.id}"' in row[0] and "Note held for approval" in row[0]
    assert '<strong class="govuk-tag govuk-tag--green">Sent after approval</strong>' in row[0]
    assert (await fetch(client, f"/shares/{share.id}"))[0] == 200


async def test_a_senior_manager_sees_what_is_due_and_no_queues_of_others(web: Web) -> None:
    senior = await _as(web, "dby.senior")
    status, _, html = await fetch(senior, "/notifications")
    assert status == 200
    assert 'id="decisions-heading"' not in html and 'id="requests-heading"' not in html
    assert 'id="due-heading"' in html
    for href in re.findall(r'href="(/cases/\d+)"', html):
        assert (await fetch(senior, href))[0] == 200, href  # every case link opens


@pytest.mark.parametrize("username", ["dby.auditor", "dby.admin"])
async def test_roles_without_notifications_are_refused(web: Web, username: str) -> None:
    client = await _as(web, username)
    status, _, html = await fetch(client, "/notifications")
    assert status == 403
    assert "Notifications are for practitioners, coordinators and senior managers." in html
    assert 'href="/notifications"' not in html  # and the menu does not offer them
