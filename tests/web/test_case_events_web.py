"""Typed case events in the inbox (issue 16): the form on the case, every unanswered question at
once with what was typed kept, the same event refused twice, and only the coordinator and the
Responsible Authority agencies on the case offered the form."""

from __future__ import annotations

import re

from tests.web.conftest import Web, csrf_from, fetch, post


async def test_record_an_order_granted_from_the_case_page(web: Web) -> None:
    harlow = await web.case_id("Harlow")
    await web.login("dby.police")
    status, _, page = await fetch(web.client, f"/cases/{harlow}")
    assert status == 200 and f'href="/cases/{harlow}/events"' in page
    status, _, form = await fetch(web.client, f"/cases/{harlow}/events")
    assert status == 200 and "Record an event on the case" in form
    csrf = csrf_from(form)

    # Nothing answered but what happened: each missing answer named, in the form's order.
    typed = {"_csrf": csrf, "kind": "order-granted", "occurred_on": "2026-11-20"}
    status, _, page = await post(web.client, f"/cases/{harlow}/events", typed)
    assert status == 400
    assert re.findall(r'href="#(order_type|order_stage)"', page) == ["order_type", "order_stage"]
    assert 'value="2026-11-20"' in page and 'value="order-granted" selected' in page

    full = typed | {"order_type": "sexual-harm-prevention-order", "order_stage": "full"}
    status, location, _ = await post(web.client, f"/cases/{harlow}/events", full)
    assert (status, location) == (303, f"/cases/{harlow}?done=event")
    status, _, page = await fetch(web.client, location)
    assert "The event is recorded on the case" in page
    assert "Sexual harm prevention order (full granted)" in page

    # The same order on the same day, again: refused, in words, nothing lost.
    status, _, page = await post(web.client, f"/cases/{harlow}/events", full)
    assert status == 409 and "already recorded on the case for that day" in page
    assert 'value="sexual-harm-prevention-order" selected' in page


async def test_the_form_is_for_the_coordinator_and_responsible_authorities(web: Web) -> None:
    harlow = await web.case_id("Harlow")
    await web.login("dby.housing")
    status, _, page = await fetch(web.client, f"/cases/{harlow}")
    assert status == 200 and f'href="/cases/{harlow}/events"' not in page
    status, _, _ = await fetch(web.client, f"/cases/{harlow}/events")
    assert status == 403
