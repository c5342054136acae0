"""Filtering, searching and paging the inbox and the Sent list: a GET form that works without
JavaScript, MOJ filter tags that remove one filter each, keyset pages, and a subject search that
decrypts in memory, within a bound, and stores nothing."""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta
from pathlib import Path

import pytest

from hub.model.packets import Draft
from hub.services import inbox_pages
from hub.services.packet_listing import PacketFilter
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, case_id
from tests.web.conftest import Web, fetch

HARLOW_NOTE = "Proposed address - suitability check before release"  # police -> housing, a note
HARLOW_REQUEST = "Tenancy and visitors at the proposed address"  # probation -> housing, a request


async def _send(web: Web, subjects: list[str], family: str = "Harlow") -> None:
    """Police send housing one note per subject about the case, oldest first."""
    police = await actor_for(web.hub, "dby.police")
    housing = await web.agency_id("DBY-HOUSING")
    case = await web.case_id(family)
    for subject in subjects:
        await web.hub.packets.send(
            police,
            Draft(
                case_id=case,
                recipient_agency_ids=(housing,),
                subject=subject,
                body="Nothing new on the curfew.",
                purpose="risk-management",
                lawful_basis="cja2003-s325",
                data_categories=SHARE_CATEGORIES,
                necessity=NECESSITY,
            ),
        )


def _subjects(page: str) -> list[str]:
    return [
        htmllib.unescape(s)
        for s in re.findall(r'class="govuk-link subject[^"]*">(.*?)</a>', page, re.S)
    ]


def _link(page: str, rel: str) -> str | None:
    """The Previous (rel="prev") or Next (rel="next") page link, unescaped."""
    found = re.search(r'href="([^"]+)" rel="' + rel + '"', page)
    return htmllib.unescape(found[1]) if found else None


def _tags(page: str) -> dict[str, str]:
    """Selected filter tags: their words -> the address that removes them."""
    return {
        htmllib.unescape(text).strip(): htmllib.unescape(href)
        for href, text in re.findall(
            r'<a class="moj-filter__tag" href="([^"]*)"><span class="govuk-visually-hidden">'
            r"Remove this filter: </span>(.*?)</a>",
            page,
        )
    }


async def test_filters_narrow_the_inbox_and_each_tag_removes_its_own(web: Web) -> None:
    await web.login("dby.housing")
    police = await web.agency_id("DBY-POLICE")

    _, _, page = await fetch(web.client, "/inbox?type=request-for-information")
    assert _subjects(page) == [HARLOW_REQUEST]
    assert _tags(page) == {"Type: Request for information": "/inbox"}
    assert 'id="clear-filters"' in page
    assert '<option value="request-for-information" selected>' in page  # the form keeps it

    _, _, page = await fetch(web.client, f"/inbox?agency={police}&subject=suitability")
    assert _subjects(page) == [HARLOW_NOTE]
    assert _tags(page) == {
        "Subject contains: suitability": f"/inbox?agency={police}",
        "From agency: Derbyshire Constabulary": "/inbox?subject=suitability",
    }
    # Words match whatever their case, all of them, anywhere in the subject.
    _, _, page = await fetch(web.client, "/inbox?subject=PROPOSED+address")
    assert sorted(_subjects(page)) == sorted([HARLOW_NOTE, HARLOW_REQUEST])
    _, _, page = await fetch(web.client, "/inbox?subject=proposed+curfew")
    assert _subjects(page) == [] and 'id="no-matches"' in page

    harlow = await web.case_id("Harlow")
    _, _, page = await fetch(web.client, f"/inbox?case={harlow}")
    assert len(_subjects(page)) == 2
    reference = next(c.reference for c in await web.hub.cases.visible_to(None) if c.id == harlow)
    assert _tags(page) == {f"Case: {reference}": "/inbox"}


async def test_dates_bound_the_listing_inclusively(web: Web) -> None:
    await web.login("dby.housing")
    day = web.clock.now().date()
    _, _, page = await fetch(web.client, f"/inbox?from={day.isoformat()}&to={day.isoformat()}")
    assert len(_subjects(page)) == 2
    words = f"{day.day} {day.strftime('%B %Y')}"
    assert f"Received on or after: {words}" in _tags(page)
    nxt = day + timedelta(days=1)
    _, _, page = await fetch(web.client, f"/inbox?from={nxt.day}/{nxt.month}/{nxt.year}")
    assert _subjects(page) == []
    assert "No packets match these filters." in page


async def test_the_sent_list_filters_by_recipient(web: Web) -> None:
    await web.login("dby.probation")
    housing, police = await web.agency_id("DBY-HOUSING"), await web.agency_id("DBY-POLICE")
    _, _, page = await fetch(web.client, f"/outbox?agency={housing}")
    assert HARLOW_REQUEST in _subjects(page)
    assert all("Risk escalated" not in s for s in _subjects(page))
    assert "To agency: Derby City Council Housing Options" in _tags(page)
    _, _, page = await fetch(web.client, f"/outbox?agency={police}")
    assert "Risk escalated after missed appointments" in _subjects(page)
    assert HARLOW_REQUEST not in _subjects(page)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-13-45", "from", "Received on or after must be a real date, for example"),
        ("to=31/2/2026", "to", "Received on or before must be a real date, for example"),
        ("case=999999", "case", "Choose a case from the list."),
        ("agency=abc", "agency", "Choose an agency from the list."),
        ("type=letter-bomb", "type", "Choose a type from the list."),
        (
            "from=2026-11-01&to=2026-10-01",
            "to",
            "The end date must be the same as or after the start date.",
        ),
        ("subject=" + "+".join(f"word{n}" for n in range(9)), "subject", "Search with 8 words"),
    ],
)
async def test_a_wrong_filter_is_named_in_an_error_summary(
    web: Web, query: str, field: str, message: str
) -> None:
    await web.login("dby.housing")
    status, _, page = await fetch(web.client, f"/inbox?{query}")
    assert status == 400
    assert "<title>Error: Inbox - MAPPA Hub</title>" in page
    summary = page[page.index('class="govuk-error-summary"') :]
    assert f'<a href="#filter-{field}">{htmllib.escape(message, quote=False)}' in summary
    assert f'id="filter-{field}-error"' in page  # and at the field itself
    assert len(_subjects(page)) == 2  # the listing stands, unfiltered by what was wrong


async def test_pages_are_keyset_pages_that_meet_without_gaps(web: Web) -> None:
    await _send(web, [f"Bulk update {n:02d}" for n in range(60)])
    await web.login("dby.housing")
    status, _, first = await fetch(web.client, "/inbox")
    assert status == 200
    page_one = _subjects(first)
    assert len(page_one) == 50 and page_one[0] == "Bulk update 59"  # newest first
    assert "Showing 1 to 50 of 62 packets" in first
    assert _link(first, "prev") is None
    older = _link(first, "next")
    assert older is not None and "before=" in older and "before_id=" in older

    _, _, second = await fetch(web.client, older)
    page_two = _subjects(second)
    assert len(page_two) == 12 and "Showing 51 to 62 of 62 packets" in second
    assert not set(page_one) & set(page_two)
    assert set(page_one) | set(page_two) >= {HARLOW_NOTE, HARLOW_REQUEST}
    assert _link(second, "next") is None
    newer = _link(second, "prev")
    assert newer is not None and "after=" in newer

    _, _, back = await fetch(web.client, newer)
    assert _subjects(back) == page_one  # the same first page, in the same order
    assert _link(back, "prev") is None


async def test_paging_keeps_the_filters(web: Web) -> None:
    await _send(web, [f"Bulk update {n:02d}" for n in range(55)])
    await web.login("dby.housing")
    _, _, first = await fetch(web.client, "/inbox?subject=bulk&type=note")
    assert len(_subjects(first)) == 50
    older = _link(first, "next")
    assert older is not None and "subject=bulk" in older and "type=note" in older
    _, _, second = await fetch(web.client, older)
    assert len(_subjects(second)) == 5
    assert all(s.startswith("Bulk update") for s in _subjects(second))


async def test_a_search_reads_a_bounded_number_of_subjects_and_says_so(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_pages, "SCAN_LIMIT", 20)
    monkeypatch.setattr(inbox_pages, "SCAN_BATCH", 7)
    await _send(web, [f"Bulk update {n:02d}" for n in range(30)])
    await web.login("dby.housing")
    seq = await web.ledger_seq()

    _, _, page = await fetch(web.client, "/inbox?subject=suitability")
    assert _subjects(page) == []  # the demo note is older than the 20 newest
    assert 'id="search-bound">Searched the 20 most recent packets' in page
    assert "Narrow by date or case to search further back" in page
    more = _link(page, "next")
    assert more is not None

    _, _, page = await fetch(web.client, more)  # reads on from where the bound stopped
    assert _subjects(page) == [HARLOW_NOTE]
    assert 'id="search-bound"' not in page  # the rows ran out before the bound
    assert await web.ledger_seq() == seq  # searching is no reading: nothing on the log


async def test_searching_stores_no_plaintext(web: Web) -> None:
    marker = "Quagmireword"
    await _send(web, [f"{marker} at the hostel"])
    await web.login("dby.housing")
    _, _, page = await fetch(web.client, f"/inbox?subject={marker.lower()}")
    assert _subjects(page) == [f"{marker} at the hostel"]
    database = Path(web.hub.config.database_url.split("///", 1)[1])
    # The file, its WAL and shared memory, and the rate limits' side file (the live inbox's
    # directory of sibling processes holds no data).
    files = [p for p in database.parent.glob(database.name + "*") if p.is_file()]
    assert database in files
    for path in files:
        assert marker.encode() not in path.read_bytes(), path
        assert marker.lower().encode() not in path.read_bytes(), path


async def test_roles_that_read_no_packets_are_refused_before_anything_is_listed(web: Web) -> None:
    auditor = await web.login("dby.auditor")
    status, _, page = await fetch(auditor, "/inbox?subject=address")
    assert status == 403
    assert "Your role does not allow reading packet content." in page
    assert HARLOW_NOTE not in page and 'id="filter-form"' not in page


# -- the same listing on each database (SQLite and PostgreSQL) --------------------------------------


async def test_keyset_pages_filters_and_reads_on_each_database(
    hub: Hub, logins: dict[str, object]
) -> None:
    """``logins`` seeds the demo world into ``hub``, once per database."""
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    harlow, moss = await case_id(hub, "Harlow"), await case_id(hub, "Moss")
    for n in range(7):
        await hub.packets.send(
            police,
            Draft(
                case_id=moss if n % 2 else harlow,
                recipient_agency_ids=(housing.agency.id,),
                subject=f"Weekly note {n}",
                body="No change.",
                purpose="risk-management",
                lawful_basis="cja2003-s325",
                data_categories=SHARE_CATEGORIES,
                necessity=NECESSITY,
            ),
        )
    listing = hub.packets.listing
    seen: list[str] = []
    page = await listing.page(housing, "inbox", limit=3)
    while True:
        seen += [r.subject for r in page.rows]
        if page.older is None:
            break
        page = await listing.page(housing, "inbox", before=page.older, limit=3)
    assert len(seen) == 9 and len(set(seen)) == 9  # every packet once, newest first
    assert seen[:2] == ["Weekly note 6", "Weekly note 5"]
    back = await listing.page(housing, "inbox", after=page.newer, limit=3) if page.newer else None
    assert back is not None and [r.subject for r in back.rows] == seen[3:6]

    moss_only = await listing.page(housing, "inbox", PacketFilter(case_id=moss))
    assert [r.subject for r in moss_only.rows] == [
        "Weekly note 5",
        "Weekly note 3",
        "Weekly note 1",
    ]
    assert moss_only.total == 3 and moss_only.offset == 0
    found = await listing.page(housing, "inbox", words=("weekly", "4"))
    assert [r.subject for r in found.rows] == ["Weekly note 4"] and found.searched

    assert await listing.unread_count(housing) == 9
    opened = moss_only.rows[0]
    await hub.packets.open(housing, opened.id)
    await hub.packets.open(housing, opened.id)  # marked once, whatever the database
    assert await listing.unread_count(housing) == 8
    again = await listing.page(housing, "inbox", PacketFilter(case_id=moss))
    assert opened.id not in again.unread and len(again.unread) == 2
