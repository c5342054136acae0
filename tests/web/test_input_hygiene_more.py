"""Input hygiene in the rest of the inbox (``hub.text``): a single-line field (a search) refuses
hidden characters with a clear message, keeping what was typed; a reason of several lines keeps
them, shown visibly, and refuses only what no text may hold (NUL). Nothing is written when
something is refused."""

from __future__ import annotations

import html as htmllib
import urllib.parse

import pytest

from tests.conftest import actor_for
from tests.web.conftest import Web, csrf_from, fetch, post
from tests.web.test_held_shares import _compose_held, _switch
from tests.web.test_workflow_pages import _as, _seeded_disclosure, _seeded_request, _snapshot

HIDDEN = {"right-to-left override": "\u202e", "line separator": "\u2028"}
NUL_REFUSED = "must not include a null character (U+0000). Remove it and try again"
MARKER = (
    '<span class="hub-hidden-char"><span class="govuk-visually-hidden">hidden character: '
    "</span>[right-to-left override U+202E]</span>"
)


@pytest.mark.parametrize(("name", "char"), HIDDEN.items(), ids=HIDDEN.keys())
async def test_a_search_with_a_hidden_character_is_refused_and_kept_in_its_box(
    web: Web, name: str, char: str
) -> None:
    client = await _as(web, "dby.housing")
    typed = f"Tenancy{char}visitors"
    status, _, page = await fetch(client, "/inbox?" + urllib.parse.urlencode({"subject": typed}))
    assert status == 400
    text = htmllib.unescape(page)
    assert (
        "Your search must not include hidden characters, such as line breaks or text direction "
        f"controls. It has a {name} (U+{ord(char):04X}). Remove it and try again"
    ) in text
    assert f'value="{typed}"' in text  # the search box keeps what was typed


async def test_a_decline_reason_with_a_nul_is_refused_and_kept(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    request = await _seeded_request(web)
    _, _, page = await fetch(housing, "/requests")
    before = await _snapshot(web)
    status, _, page = await post(
        housing,
        f"/requests/{request.id}/decline",
        {"_csrf": csrf_from(page), "reason": "Not held\x00 by housing."},
    )
    assert status == 400
    text = htmllib.unescape(page)
    assert f"The reason {NUL_REFUSED}" in text
    assert "Not held" in text and "by housing." in text  # what was typed is on the page
    assert await _snapshot(web) == before
    assert (await _seeded_request(web)).row.status == "open"


async def test_a_decline_reasons_text_direction_control_is_kept_and_shown_visibly(
    web: Web,
) -> None:
    housing = await _as(web, "dby.housing")
    request = await _seeded_request(web)
    _, _, page = await fetch(housing, "/requests")
    reason = "Not held \u202eby housing\u2028."
    status, _, _ = await post(
        housing, f"/requests/{request.id}/decline", {"_csrf": csrf_from(page), "reason": reason}
    )
    assert status == 303
    probation = await _as(web, "dby.probation")
    status, _, page = await fetch(probation, "/requests")
    assert status == 200
    assert "\u202e" not in page and "\u2028" not in page
    assert f"Not held {MARKER}by housing" in page
    stored = await web.hub.requests.get(await actor_for(web.hub, "dby.housing"), request.id)
    assert stored.decline_reason == reason  # the evidence as typed


async def test_disclosure_reasons_with_a_nul_are_refused_and_kept(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    view = await _seeded_disclosure(web)
    _, _, page = await fetch(coordinator, f"/disclosures/{view.id}")
    before = await _snapshot(web)
    status, _, page = await post(
        coordinator,
        f"/disclosures/{view.id}/decide",
        {"_csrf": csrf_from(page), "decision": "approve", "reasons": "Risk to\x00 the children."},
    )
    assert status == 400
    text = htmllib.unescape(page)
    assert f"Reasons {NUL_REFUSED}" in text
    assert 'href="#reasons"' in page
    assert "Risk to" in text and "the children." in text
    assert await _snapshot(web) == before


async def test_held_share_reasons_with_a_nul_are_refused_and_kept(web: Web) -> None:
    share_id, _ = await _compose_held(web)
    await _switch(web, "dby.coordinator")
    _, _, page = await fetch(web.client, f"/shares/{share_id}")
    before = await _snapshot(web)
    status, _, page = await post(
        web.client,
        f"/shares/{share_id}/decide",
        {"_csrf": csrf_from(page), "decision": "approve", "reasons": "Needed\x00 now."},
    )
    assert status == 400
    assert f"Reasons {NUL_REFUSED}" in htmllib.unescape(page)
    assert await _snapshot(web) == before
    coordinator = await actor_for(web.hub, "dby.coordinator")
    assert (await web.hub.held_shares.get(coordinator, share_id)).row.status == "awaiting"
