"""Each role's menu offers only what it may use: signed in as every role of the demo directory,
every menu link answers 200 (none 403), the menu is exactly the role's, the landing page is its
own, and an error page leads back somewhere the role may go."""

from __future__ import annotations

import re

import pytest

from hub.web import navigation
from tests.conftest import actor_for
from tests.web.conftest import Client, Web, fetch

# One user of each role (and a duty-to-cooperate practitioner) -> the menu it must see, in order.
MENUS = {
    "dby.probation": [
        "Inbox", "Sent", "Drafts", "New packet", "Cases", "Requests", "Deadlines", "Notifications",
        "Notification settings", "Your account",
    ],
    "dby.housing": [
        "Inbox", "Sent", "Drafts", "New packet", "Cases", "Requests", "Deadlines", "Notifications",
        "Notification settings", "Your account",
    ],
    "dby.coordinator": [
        "Inbox", "Sent", "Drafts", "New packet", "Cases", "Requests", "Deadlines", "Notifications",
        "Disclosures", "Approvals", "Transfers", "Access reports", "Statistics",
        "Notification settings", "Your account",
    ],
    "dby.senior": [
        "Inbox", "Cases", "Deadlines", "Notifications", "Disclosures", "Approvals", "Transfers",
        "Statistics", "Notification settings", "Your account",
    ],
    "dby.auditor": [
        "Disclosures", "Access reports", "Statistics", "Check a receipt", "Your account",
    ],
    "dby.admin": ["API tokens", "Agency keys", "Email", "People", "Your account"],
}  # fmt: skip
LANDING = {
    "dby.probation": ("/inbox", "Go to your inbox"),
    "dby.housing": ("/inbox", "Go to your inbox"),
    "dby.coordinator": ("/inbox", "Go to your inbox"),
    "dby.senior": ("/inbox", "Go to your inbox"),
    "dby.auditor": ("/audit", "Go to access reports"),
    "dby.admin": ("/admin/tokens", "Go to API tokens"),
}
_NAV = re.compile(
    r'<nav aria-label="Menu" class="govuk-service-navigation__wrapper">(.*?)</nav>', re.S
)
_LINK = re.compile(
    r'<a class="govuk-service-navigation__link" href="([^"]+)"[^>]*>\s*(.*?)\s*</a>', re.S
)


def _menu(html: str) -> list[tuple[str, str]]:
    found = _NAV.search(html)
    assert found is not None, "no service navigation on the page"
    return [(href, re.sub(r"<[^>]+>", "", text).strip()) for href, text in _LINK.findall(found[1])]


async def _as(web: Web, username: str) -> Client:
    return await web.login(username, await web.new_client())


@pytest.mark.parametrize("username", list(MENUS))
async def test_every_menu_link_opens_and_the_menu_is_the_roles_own(web: Web, username: str) -> None:
    client = await _as(web, username)
    landing, back = LANDING[username]
    assert (await fetch(client, "/"))[:2] == (303, landing)
    status, _, html = await fetch(client, landing)
    assert status == 200
    menu = _menu(html)
    assert [text for _, text in menu] == MENUS[username]
    actor = await actor_for(web.hub, username)
    assert [href for href, _ in menu] == [i.href for i in navigation.menu(actor)]
    assert navigation.home(actor) == landing and navigation.home_label(actor) == back
    for href, text in menu:
        status, location, page = await fetch(client, href)
        assert status == 200, (username, href, status, location)
        # The page is marked as the current one in its own menu.
        assert re.search(
            rf'aria-current="page"[^>]*>\s*(<strong[^>]*>)?\s*{re.escape(text)}', page
        ) or (f'href="{href}" aria-current="page"' in page), (username, href)


async def test_the_menu_table_matches_what_each_role_may_do() -> None:
    """A new role or page must be placed in the menu on purpose: the table is complete."""
    assert {i.href for i in navigation.MENU} == {
        "/inbox", "/outbox", "/drafts", "/compose", "/cases", "/requests", "/deadlines",
        "/notifications", "/disclosures", "/shares", "/transfers", "/audit", "/statistics",
        "/receipts/check",
        "/admin/tokens", "/admin/keys", "/admin/email", "/admin/people",
        "/notification-settings", "/account",
    }  # fmt: skip
    assert navigation.home(None) == "/login" and navigation.home_label(None) == "Sign in"


@pytest.mark.parametrize(
    ("username", "forbidden"),
    [
        ("dby.auditor", "/inbox"),
        ("dby.auditor", "/admin/tokens"),
        ("dby.admin", "/disclosures"),
        ("dby.admin", "/audit"),
        ("dby.senior", "/requests"),
        ("dby.probation", "/audit"),
    ],
)
async def test_a_refusal_leads_back_to_the_roles_own_page(
    web: Web, username: str, forbidden: str
) -> None:
    client = await _as(web, username)
    status, _, html = await fetch(client, forbidden)
    assert status == 403
    assert '<h1 class="govuk-heading-l">You cannot view this page</h1>' in html
    landing, back = LANDING[username]
    assert f'<a class="govuk-link" href="{landing}" id="error-back">{back}</a>' in html
    # Never a way back to a page that refuses the role too (the old "Back to the inbox" loop).
    assert (await fetch(client, landing))[0] == 200
    assert forbidden not in [href for href, _ in _menu(html)]


async def test_the_accessibility_statement_is_open_to_everyone_and_in_every_footer(
    web: Web,
) -> None:
    # Signed out: the statement opens (no redirect to sign in), and the sign-in page links it.
    status, location, html = await fetch(web.client, "/accessibility")
    assert (status, location) == (200, "")
    assert '<h1 class="govuk-heading-l">Accessibility statement for MAPPA Hub</h1>' in html
    for heading in (
        "How accessible this service is",
        "What to do if you cannot use parts of this service",
        "Reporting accessibility problems with this service",
        "Enforcement procedure",
        "Technical information about this service's accessibility",
        "Compliance status",
        "Non-accessible content",
        "Preparation of this accessibility statement",
    ):
        assert heading in html, heading
    assert "Equality and Human Rights Commission" in html
    assert "partially compliant with the" in html and "Web Content Accessibility Guidelines" in html
    assert "This statement was prepared on 2 December 2026." in html
    # The known limitations are stated, with the session limits as configured.
    sessions = web.hub.config.sessions
    assert f"after {int(sessions.idle_timeout.total_seconds() // 60)} minutes" in html
    assert "3.3.8" in html and "2.2.1" in html
    assert 'href="/accessibility"' in (await fetch(web.client, "/login"))[2]
    # Signed in, every role's pages link it from the footer.
    client = await _as(web, "dby.auditor")
    status, _, html = await fetch(client, "/audit")
    assert status == 200 and '<a class="govuk-footer__link" href="/accessibility">' in html
    assert (await fetch(client, "/accessibility"))[0] == 200


async def _links_open(client: Client, html: str) -> list[str]:
    """Every same-site link in the page's main content, each checked to open (200)."""
    main = html[html.index("<main") : html.index("</main>")]
    links = sorted(set(re.findall(r'href="(/[^"]*)"', main)))
    for target in links:
        assert (await fetch(client, target.replace("&amp;", "&")))[0] == 200, target
    return links


async def test_pages_link_only_what_the_reader_may_open(web: Web) -> None:
    coordinator = await actor_for(web.hub, "dby.coordinator")
    (disclosure,) = await web.hub.disclosures.register(coordinator)
    page = f"/disclosures/{disclosure.id}"
    proposal = f"/packets/{disclosure.row.proposal_packet_id}"

    # The auditor reads the register and the record, never the packet: no link to it.
    auditor = await _as(web, "dby.auditor")
    assert (await fetch(auditor, proposal))[0] == 403
    for path in ("/disclosures", page):
        status, _, html = await fetch(auditor, path)
        assert status == 200, path
        assert proposal not in await _links_open(auditor, html), path
    assert 'id="proposal-closed"' in html

    # The area's coordinator, whose agency sent the proposal, is offered it and the case file,
    # and every link on the page opens.
    client = await _as(web, "dby.coordinator")
    status, _, html = await fetch(client, page)
    assert status == 200
    links = await _links_open(client, html)
    assert proposal in links and f"/cases/{disclosure.row.case_id}" in links
