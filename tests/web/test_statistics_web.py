"""The statistics page (issue 16): the annual report tables for the user's own area, the
published view with small counts suppressed and said so, CSV and JSON, and refusals in words."""

from __future__ import annotations

import json

from tests.web.conftest import Web, fetch


async def test_the_tables_for_the_area_and_the_published_view(web: Web) -> None:
    await web.login("dby.coordinator")
    status, _, page = await fetch(web.client, "/statistics?from=2025-12-01&to=2026-11-30")
    assert status == 200
    assert "MAPPA statistics: Derbyshire" in page
    assert "RSOs living in the area on 30 November 2026" in page
    assert 'id="figure-level2-total"' in page and "[c]" not in page
    status, _, page = await fetch(
        web.client, "/statistics?from=2025-12-01&to=2026-11-30&view=published"
    )
    assert status == 200 and 'id="suppression"' in page
    assert "Counts from 1 to 4 are not published" in page
    status, _, body = await fetch(
        web.client, "/statistics?from=2025-12-01&to=2026-11-30&format=json"
    )
    doc = json.loads(body)
    assert doc["area"] == "DBY" and doc["to"] == "2026-11-30"
    resp = await web.client.get("/statistics?from=2025-12-01&to=2026-11-30&format=csv")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert (await resp.text()).startswith("area,from,to,section,key,label,value,suppressed")


async def test_refusals_are_in_words(web: Web) -> None:
    await web.login("dby.coordinator")
    status, _, page = await fetch(web.client, "/statistics?from=soon&to=2026-11-30")
    assert status == 400 and "Enter both dates as dates" in page and 'href="#from"' in page
    status, _, page = await fetch(web.client, "/statistics?from=2026-11-30&to=2026-01-01")
    assert status == 400 and "The period ends before it starts" in page
    await web.logout()
    await web.login("dby.police")
    status, _, _ = await fetch(web.client, "/statistics")
    assert status == 403
