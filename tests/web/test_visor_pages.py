"""The nominal record on the case page, its download and the import page, through the real app:
who sees and gets what, every import error listed by path, and each reading on the log."""

from __future__ import annotations

import json

import aiohttp
from sqlalchemy import select

from hub.store.schema import ledger_entries
from tests.web.conftest import Web, csrf_from, fetch, post


async def _events(web: Web, event: str) -> list[str]:
    async with web.hub.db.read() as conn:
        rows = await conn.execute(
            select(ledger_entries.c.action).where(ledger_entries.c.event == event)
        )
        return [r[0] for r in rows]


def _upload(csrf: str, data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("_csrf", csrf)
    form.add_field("record", data, filename="record.json", content_type="application/json")
    return form


async def test_case_page_shows_the_record_in_words_and_logs_the_reading(web: Web) -> None:
    client = await web.login("dby.probation")
    harlow = await web.case_id("Harlow")
    status, _, html = await fetch(client, f"/cases/{harlow}")
    assert status == 200
    assert "Nominal record (ViSOR)" in html
    assert "Sexual harm prevention order (full)" in html
    assert "RM2000: High, by DS Mark Ellis" in html
    assert "Approved premises: Burdett Lodge" in html
    assert "shpo" not in html
    assert await _events(web, "visor-record-opened") == ["consultation"]

    status, _, body = await fetch(client, f"/cases/{harlow}/visor-record.json")
    assert status == 200
    assert json.loads(body)["person"]["family_name"] == "Harlow"
    assert await _events(web, "visor-exported") == ["disclosure"]


async def test_duty_to_cooperate_and_auditors_get_no_record(web: Web) -> None:
    harlow = await web.case_id("Harlow")
    for username in ("dby.housing", "dby.auditor"):
        client = await web.login(username, await web.new_client())
        status, _, html = await fetch(client, f"/cases/{harlow}")
        if status == 200:
            assert "Nominal record" not in html and "Ashbourne" not in html
        status, _, body = await fetch(client, f"/cases/{harlow}/visor-record.json")
        assert status in (403, 404)
        assert "Ashbourne" not in body
    assert await _events(web, "visor-exported") == []
    assert await _events(web, "visor-record-opened") == []


async def test_import_lists_every_error_by_path_then_imports(web: Web) -> None:
    coordinator = await web.login("dby.coordinator")
    harlow = await web.case_id("Harlow")
    _, _, body = await fetch(coordinator, f"/cases/{harlow}/visor-record.json")
    doc = json.loads(body)
    bad = json.loads(body)
    bad["offences"][0]["offence_date"] = "2999-01-01"
    bad["mappa"]["lead_agency"] = "NOWHERE"
    bad["risk_assessments"][0]["band"] = "enormous"

    status, _, page = await fetch(coordinator, "/visor/import")
    assert status == 200
    status, _, page = await post(
        coordinator, "/visor/import", _upload(csrf_from(page), json.dumps(bad).encode())
    )
    assert status == 400
    assert "There is a problem: nothing was imported" in page
    assert "/offences/0/offence_date: The offence date cannot be in the future" in page
    assert "/mappa/lead_agency: No agency NOWHERE in this hub&#39;s directory." in page
    assert "/risk_assessments/0/band:" in page
    assert await _events(web, "visor-imported") == []

    status, _, page = await post(coordinator, "/visor/import", _upload(csrf_from(page), b"{oops"))
    assert status == 400 and "Not valid JSON" in page and "line 1, column 2" in page

    doc["licence_conditions"].append({"condition": "Attend the Horizon programme."})
    status, location, _ = await post(
        coordinator, "/visor/import", _upload(csrf_from(page), json.dumps(doc).encode())
    )
    assert (status, location) == (303, f"/cases/{harlow}?done=visor-imported")
    assert await _events(web, "visor-imported") == ["alteration"]
    _, _, html = await fetch(coordinator, location)
    assert "Attend the Horizon programme." in html


async def test_a_practitioner_cannot_import(web: Web) -> None:
    client = await web.login("dby.probation")
    status, _, _ = await fetch(client, "/visor/import")
    assert status == 403
    _, _, page = await fetch(client, "/inbox")
    status, _, _ = await post(client, "/visor/import", _upload(csrf_from(page), b"{}"))
    assert status == 403
