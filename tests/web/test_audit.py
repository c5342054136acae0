"""Auditors see who consulted or disclosed what about a case, and what a user did - never the
content - limited to their own area; everyone else is refused."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import actor_for
from tests.web.conftest import Web, fetch

SEEDED_SUBJECT = "Proposed address - suitability check before release"


async def test_auditor_sees_the_case_and_user_reports_without_content(web: Web) -> None:
    housing = await actor_for(web.hub, "dby.housing")
    packet = (await web.hub.packets.inbox(housing))[0]
    await web.hub.packets.open(housing, packet.id)  # a consultation on the log

    await web.login("dby.auditor")
    assert (await fetch(web.client, "/"))[1] == "/audit"
    status, _, overview = await fetch(web.client, "/audit")
    assert status == 200 and "DBY-2026-0001" in overview and "NTS-" not in overview

    status, _, html = await fetch(web.client, f"/audit/cases/{packet.case_id}")
    assert status == 200
    assert 'data-event="packet-sent"' in html and 'data-event="packet-opened"' in html
    assert "DS Mark Ellis (dby.police)" in html and "Derbyshire Constabulary" in html
    assert "Aisha Khan (Housing Options) (dby.housing)" in html
    assert "PERMIT" in html and "risk-management" in html
    assert SEEDED_SUBJECT not in html and "primary school" not in html

    status, _, html = await fetch(web.client, f"/audit/users/{housing.user.id}")
    assert status == 200 and 'data-event="packet-opened"' in html
    assert (await fetch(web.client, f"/packets/{packet.id}"))[0] == 403


async def test_other_areas_are_not_found_and_practitioners_refused(web: Web) -> None:
    nts_case = next(
        c for c in await web.hub.cases.visible_to(None) if c.reference.startswith("NTS")
    )
    nts_user = await actor_for(web.hub, "nts.police")
    await web.login("dby.auditor")
    assert (await fetch(web.client, f"/audit/cases/{nts_case.id}"))[0] == 404
    assert (await fetch(web.client, f"/audit/users/{nts_user.user.id}"))[0] == 404
    await web.logout()
    web.clock.advance(timedelta(seconds=30))
    await web.login("dby.police")
    status, _, html = await fetch(web.client, "/audit")
    assert status == 403
    assert "Only auditors and coordinators" in html
