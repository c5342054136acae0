"""Case transfers in the inbox: propose from the case page (errors in the summary, nothing
typed lost), the receiving coordinator's decision with reasons, send and confirm within one
hub, and the menu link for the roles it is for."""

from __future__ import annotations

import os
import re
from datetime import timedelta

from markupsafe import escape

from hub.store.transfer_bundles import imported_digest
from tests.conftest import actor_for
from tests.integration.workflow_support import new_case
from tests.web.conftest import Web, csrf_from, fetch, post

REASON = "Moving to his sister's address in Mansfield; approved premises place offered."


async def _switch(web: Web, username: str) -> None:
    await web.logout()
    web.clock.advance(timedelta(seconds=30))  # a TOTP code signs in once: take the next one
    await web.login(username)


async def test_propose_decide_send_and_complete_in_the_inbox(web: Web) -> None:
    hub = web.hub
    case = await new_case(hub, "Ashworth")
    dby = await actor_for(hub, "dby.coordinator")
    await web.login("dby.coordinator")
    status, _, page = await fetch(web.client, f"/cases/{case}")
    assert status == 200 and f'href="/cases/{case}/transfer"' in page
    status, _, form = await fetch(web.client, f"/cases/{case}/transfer")
    assert status == 200
    csrf = csrf_from(form)
    typed = {
        "_csrf": csrf,
        "receiving_area": "NTS",
        "proposed_date": "2026-12-01",
        "reason": REASON,
    }

    # No meeting on the case yet: refused, in the error summary, with the reason still there.
    status, _, page = await post(web.client, f"/cases/{case}/transfer", typed)
    assert status == 400
    assert "There is a problem" in page and "Probation Circular 52/2004" in page
    assert str(escape(REASON)) in page and 'value="2026-12-01"' in page
    status, _, page = await post(
        web.client, f"/cases/{case}/transfer", typed | {"proposed_date": "soon"}
    )
    assert status == 400 and 'href="#proposed_date"' in page
    # Nothing answered: every question named at once, in the form's order.
    status, _, page = await post(
        web.client,
        f"/cases/{case}/transfer",
        {"_csrf": csrf, "receiving_area": "", "proposed_date": "", "reason": " "},
    )
    assert status == 400
    links = re.findall(r'href="#(receiving_area|proposed_date|reason)"', page)
    assert links[:3] == ["receiving_area", "proposed_date", "reason"]

    await hub.casework.record_meeting(dby, case, web.clock.now().date() - timedelta(days=2), 2)
    status, location, _ = await post(web.client, f"/cases/{case}/transfer", typed)
    assert status == 303
    match = re.fullmatch(r"/transfers/(\d+)\?done=proposed", location)
    assert match, location
    tid = int(match.group(1))
    status, _, listing = await fetch(web.client, "/transfers")
    assert status == 200 and f'href="/transfers/{tid}"' in listing
    assert "Awaiting the receiving area" in listing
    # The proposer's area is offered no decision form.
    status, _, page = await fetch(web.client, f"/transfers/{tid}")
    assert status == 200 and 'id="decide-form"' not in page and 'id="cancel-form"' in page

    await _switch(web, "nts.coordinator")
    status, _, page = await fetch(web.client, f"/transfers/{tid}")
    assert status == 200 and 'id="decide-form"' in page
    csrf = csrf_from(page)
    # Accepting without reasons: refused, the lead agency chosen is kept.
    status, _, page = await post(
        web.client,
        f"/transfers/{tid}/accept",
        {"_csrf": csrf, "lead_agency": "NTS-PROBATION", "reasons": ""},
    )
    assert status == 400 and 'href="#reasons"' in page
    assert re.search(r'<option value="NTS-PROBATION" selected', page)
    status, location, _ = await post(
        web.client,
        f"/transfers/{tid}/accept",
        {"_csrf": csrf, "lead_agency": "NTS-PROBATION", "reasons": "Place confirmed."},
    )
    assert (status, location) == (303, f"/transfers/{tid}?done=accepted")

    await _switch(web, "dby.coordinator")
    status, _, page = await fetch(web.client, f"/transfers/{tid}")
    # Before sending, the coordinator reads what the bundle would lack, in words: this case has
    # a meeting without minutes and no nominal record.
    assert status == 200 and 'id="completeness-items"' in page and 'id="incomplete"' in page
    assert "Minutes of the last MAPPA meeting: <strong>missing</strong>" in page
    assert "has no minutes yet" in page
    assert "Disclosure register: included" in page
    cwd = os.getcwd()
    status, location, _ = await post(
        web.client, f"/transfers/{tid}/send", {"_csrf": csrf_from(page)}
    )
    assert (status, location) == (303, f"/transfers/{tid}?done=sent")
    assert os.getcwd() == cwd  # bagit's chdir is undone before the server runs on
    sent = await hub.transfers.get(dby, tid)
    async with hub.db.read() as conn:
        assert await imported_digest(conn, sent.bundle_digest or "")  # verified and imported

    await _switch(web, "nts.coordinator")
    status, _, page = await fetch(web.client, f"/transfers/{tid}")
    assert 'id="receive-form"' in page
    status, location, _ = await post(
        web.client, f"/transfers/{tid}/receive", {"_csrf": csrf_from(page)}
    )
    assert (status, location) == (303, f"/transfers/{tid}?done=completed")
    status, _, page = await fetch(web.client, location)
    assert status == 200 and "Completed: the receiving area owns the case" in page
    status, _, page = await fetch(web.client, f"/cases/{case}")
    assert status == 200  # Nottinghamshire's case now


async def test_the_menu_offers_transfers_to_coordinators_and_senior_managers(web: Web) -> None:
    await web.login("dby.senior")
    status, _, page = await fetch(web.client, "/transfers")
    assert status == 200 and 'id="transfers-link"' in page
    await _switch(web, "dby.probation")
    status, _, page = await fetch(web.client, "/inbox")
    assert 'id="transfers-link"' not in page
    status, _, _ = await fetch(web.client, "/transfers")
    assert status == 403
