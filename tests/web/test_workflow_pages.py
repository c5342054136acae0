"""The workflow pages over HTTP: typed compose, requests, disclosures, cases and deadlines.

Each test drives the real app on the demo world (hub.demo): an open request from probation to
housing on Harlow, a recorded level 2 meeting on Harlow whose minutes are due, level 3 minutes on
Pritchard with an action for DBY-MH already overdue, and a disclosure proposal on Pritchard by
dby.police awaiting a coordinator and a senior manager. The clock starts on Monday 23 November 2026.

Refusals are checked where they are made (the services), by posting what the page would not offer;
and a refusal writes nothing: every workflow table and the log are compared before and after.
"""

from __future__ import annotations

import html as htmllib
import re
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import Table, select, update

from hub.services.casework import DueItem
from hub.services.disclosures import DisclosureView
from hub.services.requests import RequestView
from hub.store.schema import (
    case_agencies,
    disclosure_decisions,
    disclosures,
    info_requests,
    ledger_entries,
    meetings,
    packet_parts,
    packet_recipients,
    packets,
    work_items,
)
from hub.web.security import CSP
from tests.conftest import actor_for
from tests.web.conftest import Client, Web, csrf_from, fetch, post, without_hub_script

HOSTILE = "<script>alert(1)</script><b>x</b>"
HOSTILE_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"
CSRF_REFUSED = "This form has expired or did not come from this site."
HARLOW_MEETING = "2026-11-20"  # the demo's level 2 meeting on Harlow, three days before the clock
MH_NAME = "Derbyshire Healthcare NHS Foundation Trust"
HOUSING_NAME = "Derby City Council Housing Options"
POLICE_NAME = "Derbyshire Constabulary"
WRITTEN = (
    packets,
    packet_recipients,
    packet_parts,
    ledger_entries,
    case_agencies,
    meetings,
    work_items,
    info_requests,
    disclosures,
    disclosure_decisions,
)


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    """The harness serves the hub on ``sqlite_url``: here, on SQLite and on PostgreSQL in turn."""
    return database_url


# -- helpers -------------------------------------------------------------------------------------


async def _snapshot(web: Web) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a workflow or a share could write (web sessions aside), in key order."""

    async def rows(conn: Any, table: Table) -> list[tuple[Any, ...]]:
        query = select(table).order_by(*table.primary_key.columns)
        return [tuple(r) for r in (await conn.execute(query)).all()]

    async with web.hub.db.read() as conn:
        return {table.name: await rows(conn, table) for table in WRITTEN}


async def _as(web: Web, username: str) -> Client:
    """A fresh browser signed in as ``username``."""
    return await web.login(username, await web.new_client())


async def _token(client: Client, path: str = "/inbox") -> str:
    status, _, html = await fetch(client, path)
    assert status == 200, path
    return csrf_from(html)


async def _seeded_request(web: Web) -> RequestView:
    """The demo's open request for information, probation to housing on Harlow."""
    (view,) = (await web.hub.requests.queue(await actor_for(web.hub, "dby.housing"))).incoming
    assert view.row.status == "open"
    return view


async def _seeded_disclosure(web: Web) -> DisclosureView:
    (view,) = await web.hub.disclosures.register(await actor_for(web.hub, "dby.coordinator"))
    assert view.row.status == "proposed"
    return view


async def _mh_action(web: Web) -> DueItem:
    """The demo's overdue action for DBY-MH, from the level 3 minutes on Pritchard."""
    coordinator = await actor_for(web.hub, "dby.coordinator")
    (item,) = [
        i
        for i in await web.hub.casework.due(coordinator, area=True)
        if i.kind.value == "action" and i.owner_agency == MH_NAME
    ]
    assert item.overdue
    return item


def _error_message(html: str) -> str:
    """The message on an error page (error.html)."""
    start = html.index('id="error-message">') + len('id="error-message">')
    return htmllib.unescape(html[start : html.index("</p>", start)])


class _ComposeControls(HTMLParser):
    """What a browser would submit from the compose form: each control with its shown value."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = a.get("action") == "/compose"
        if not self._in_form:
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind not in ("checkbox", "file", "submit") or (
                kind == "checkbox" and "checked" in a
            ):
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.fields.append((self._select, chosen[-1]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, self._text))
            self._textarea = None


async def _browser_form(client: Client, path: str) -> list[tuple[str, str]]:
    """GET a compose page and return its form's controls as a browser would submit them."""
    status, _, html = await fetch(client, path)
    assert status == 200, path
    parser = _ComposeControls()
    parser.feed(html)
    return parser.fields


def _typed(
    fields: list[tuple[str, str]],
    changes: Mapping[str, str],
    *,
    recipients: tuple[int, ...] | list[int] = (),
    categories: tuple[str, ...] = (),
) -> list[tuple[str, str]]:
    """The page's controls with ``changes`` typed in, ticked recipients and categories."""
    pairs = [(name, changes.get(name, value)) for name, value in fields]
    seen = {name for name, _ in fields}
    pairs += [(name, value) for name, value in changes.items() if name not in seen]
    pairs += [("recipients", str(agency)) for agency in recipients]
    pairs += [("categories", category) for category in categories]
    return [*pairs, ("action", "send")]


async def _submit(client: Client, pairs: list[tuple[str, str]]) -> tuple[int, str, str]:
    """POST /compose as multipart/form-data, encoded as a browser encodes it (HTML's rules): names
    in UTF-8 as typed, with only quote, CR and LF escaped."""
    boundary = "----MappaHubTestBoundary" + secrets.token_hex(8)
    body = bytearray()
    for name, value in pairs:
        quoted = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted}"\r\n\r\n'.encode()
        body += value.encode() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return await post(client, "/compose", bytes(body), headers={"Content-Type": content_type})


# Minutes for the demo's level 2 meeting on Harlow, typed into the generated form. Rows 1 and 3 of
# the attendance and row 0 of the actions are left as the page shows them: blank.
MINUTES_FIELDS = {
    "subject": "Minutes: level 2 MAPPA meeting, 20 November 2026",
    "purpose": "mappa-meeting",
    "lawful_basis": "cja2003-s325",
    "necessity_why": "The panel's decisions must reach every agency that carries out the plan.",
    "f.meeting_date": HARLOW_MEETING,
    "f.meeting_level": "2",
    "f.chair": "Priya Shah (MAPPA Coordinator)",
    "f.attendance.0.agency": "DBY-POLICE",
    "f.attendance.0.role": "Chair",
    "f.attendance.0.attended": "yes",
    "f.attendance.2.agency": "DBY-PROBATION",
    "f.attendance.2.role": "Offender manager",
    "f.attendance.2.attended": "yes",
    "f.attendance.4.agency": "DBY-HOUSING",
    "f.attendance.4.role": "Housing options officer",
    "f.attendance.4.attended": "no",
    "f.licence_conditions": "Reside at approved premises; no unsupervised contact with under-18s.",
    "f.lead_agency": "DBY-PROBATION",
    "f.risk_assessment": "OASys: high risk of serious harm to children.",
    "f.risk_management_plan.supervision": "Weekly appointments with the offender manager.",
    "f.risk_management_plan.monitoring_and_control": "Exclusion zone around the school; GPS tag.",
    "f.risk_management_plan.interventions_and_treatment": "Horizon programme from January.",
    "f.risk_management_plan.victim_safety_planning": "VLO to update the victim's family.",
    "f.actions.1.description": "Find move-on accommodation away from the school.",
    "f.actions.1.owner_agency": "DBY-HOUSING",
    "f.actions.1.deadline": "2026-12-04",
    "f.disclosure_considered": "no",
    "f.disclosure_reasons": "No third party needs to be told while he is in approved premises.",
    "f.offenders_views": "He accepts the exclusion zone but disputes the tag.",
    "f.next_review_date": "2027-02-12",
}
MINUTES_CATEGORIES = ("identity", "risk-summary", "risk-management-plan")


@dataclass
class Minutes:
    web: Web
    client: Client
    case: int
    recipients: list[int]

    async def send(self, **changes: str) -> tuple[int, str, str]:
        """Open the minutes form for Harlow as a browser does, type the fields in and send."""
        fields = await _browser_form(self.client, f"/compose?type=minutes&case={self.case}")
        typed = {**MINUTES_FIELDS, **changes}
        pairs = _typed(fields, typed, recipients=self.recipients, categories=MINUTES_CATEGORIES)
        return await _submit(self.client, pairs)


async def _minutes(web: Web) -> Minutes:
    return Minutes(
        web,
        await _as(web, "dby.coordinator"),
        await web.case_id("Harlow"),
        [await web.agency_id("DBY-PROBATION"), await web.agency_id("DBY-HOUSING")],
    )


# -- CSRF: every new POST route ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    user: str
    path: str  # {request}, {disclosure}, {action}, {Harlow}, {Pritchard}: filled in per test
    fields: dict[str, str]


ROUTES = {
    "compose minutes": Route(
        "dby.coordinator", "/compose", {"packet_type": "minutes", **MINUTES_FIELDS}
    ),
    "decline a request": Route(
        "dby.housing", "/requests/{request}/decline", {"reason": "Not held by housing."}
    ),
    "decide a disclosure": Route(
        "dby.coordinator",
        "/disclosures/{disclosure}/decide",
        {"decision": "approve", "reasons": "Necessary and proportionate."},
    ),
    "deliver a disclosure": Route("dby.coordinator", "/disclosures/{disclosure}/deliver", {}),
    "record a meeting": Route(
        "dby.coordinator", "/cases/{Harlow}/meetings", {"held_on": "2026-11-23", "level": "2"}
    ),
    "record a release date": Route(
        "dby.probation", "/cases/{Harlow}/release", {"release_date": "2027-08-31"}
    ),
    "complete an action": Route(
        "dby.mh", "/deadlines/{action}/complete", {"outcome": "Assessment obtained."}
    ),
}


async def _ids(web: Web) -> dict[str, int]:
    return {
        "request": (await _seeded_request(web)).id,
        "disclosure": (await _seeded_disclosure(web)).id,
        "action": (await _mh_action(web)).id,
        "Harlow": await web.case_id("Harlow"),
        "Pritchard": await web.case_id("Pritchard"),
    }


@pytest.mark.parametrize("token", [None, "", "forged"], ids=["missing", "empty", "wrong"])
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
async def test_post_without_the_right_token_is_refused_and_writes_nothing(
    web: Web, route: Route, token: str | None
) -> None:
    client = await _as(web, route.user)
    path = route.path.format_map(await _ids(web))
    form = dict(route.fields)
    if token is not None:
        form["_csrf"] = token
    before = await _snapshot(web)

    status, location, html = await post(client, path, form)

    assert (status, location) == (403, "")
    assert CSRF_REFUSED in html
    assert await _snapshot(web) == before


async def test_a_token_of_another_session_is_refused(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    other = await _as(web, "dby.probation")  # a TOTP code is good for one sign-in only
    request = await _seeded_request(web)
    before = await _snapshot(web)
    status, _, html = await post(
        housing,
        f"/requests/{request.id}/decline",
        {"_csrf": await _token(other), "reason": "Not held by housing."},
    )
    assert status == 403
    assert CSRF_REFUSED in html
    assert await _snapshot(web) == before


# -- authorisation in the services, not only hidden links ----------------------------------------


async def test_area_disclosure_register_is_refused_to_a_practitioner(web: Web) -> None:
    police = await _as(web, "dby.police")
    status, _, html = await fetch(police, "/disclosures")
    assert status == 403
    assert _error_message(html) == "The area's disclosure register is for MAPPA coordinators."
    assert 'id="disclosure-register"' not in html
    # Not even offered.
    assert 'id="disclosures-link"' not in (await fetch(police, "/inbox"))[2]


async def test_area_disclosure_register_lists_the_proposal_for_a_coordinator(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    disclosure = await _seeded_disclosure(web)
    status, _, html = await fetch(coordinator, "/disclosures")
    assert status == 200
    assert f'href="/disclosures/{disclosure.id}"' in html
    assert "Awaiting 1 MAPPA coordinator and 1 senior manager" in html


async def test_case_file_is_closed_to_an_agency_not_active_on_it(web: Web) -> None:
    csc = await _as(web, "dby.csc")
    pritchard = await web.case_id("Pritchard")
    before = await _snapshot(web)
    status, _, html = await fetch(csc, f"/cases/{pritchard}")
    assert status == 403
    assert _error_message(html) == (
        "Your agency is not active on this case, so its file is closed to you."
    )
    assert 'id="timeline"' not in html
    assert await _snapshot(web) == before


async def test_case_file_opens_to_an_agency_active_on_it(web: Web) -> None:
    mh = await _as(web, "dby.mh")
    status, _, html = await fetch(mh, f"/cases/{await web.case_id('Pritchard')}")
    assert status == 200
    assert 'id="timeline"' in html
    assert "Level 3 MAPPA meeting" in html
    assert "Minutes circulated" in html  # the status, in words, as a tag


@pytest.mark.parametrize("user", ["nts.coordinator", "nts.police"])
async def test_a_disclosure_of_another_area_is_refused(web: Web, user: str) -> None:
    client = await _as(web, user)
    disclosure = await _seeded_disclosure(web)
    status, _, html = await fetch(client, f"/disclosures/{disclosure.id}")
    assert status in (403, 404)
    assert "HR manager" not in html
    assert 'id="decide-form"' not in html


async def test_another_areas_coordinator_cannot_decide_or_deliver(web: Web) -> None:
    nts = await _as(web, "nts.coordinator")
    disclosure = await _seeded_disclosure(web)
    csrf = await _token(nts)
    before = await _snapshot(web)
    for path, form in (
        (f"/disclosures/{disclosure.id}/decide", {"decision": "approve", "reasons": "Fine."}),
        (f"/disclosures/{disclosure.id}/deliver", {}),
    ):
        status, location, _ = await post(nts, path, {"_csrf": csrf, **form})
        assert (status in (403, 404), location) == (True, ""), path
    assert await _snapshot(web) == before


async def test_a_practitioner_cannot_record_a_meeting(web: Web) -> None:
    probation = await _as(web, "dby.probation")
    harlow = await web.case_id("Harlow")
    status, _, page = await fetch(probation, f"/cases/{harlow}")
    assert status == 200
    assert 'id="meeting-form"' not in page  # not offered ...
    before = await _snapshot(web)

    status, location, html = await post(  # ... and refused when posted anyway
        probation,
        f"/cases/{harlow}/meetings",
        {"_csrf": csrf_from(page), "held_on": "2026-11-23", "level": "2"},
    )

    assert (status, location) == (403, "")
    assert _error_message(html) == "Only a MAPPA coordinator records meetings."
    assert await _snapshot(web) == before


async def test_the_proposer_cannot_decide_their_own_disclosure(web: Web) -> None:
    police = await _as(web, "dby.police")
    disclosure = await _seeded_disclosure(web)
    status, _, page = await fetch(police, f"/disclosures/{disclosure.id}")
    assert status == 200
    assert 'id="own-proposal"' in page
    assert 'id="decide-form"' not in page
    before = await _snapshot(web)

    status, location, html = await post(
        police,
        f"/disclosures/{disclosure.id}/decide",
        {"_csrf": csrf_from(page), "decision": "approve", "reasons": "I proposed it; approved."},
    )

    assert (status, location) == (403, "")
    assert 'id="disclosure-error"' in html  # on the disclosure's own page, beside its record
    assert "Only a MAPPA coordinator or a senior manager decides disclosures." in html
    assert 'id="disclosure-status">Proposed<' in html
    assert await _snapshot(web) == before


async def test_a_coordinator_who_proposed_cannot_decide(web: Web) -> None:
    """The proposer rule holds for a coordinator too, whose role may otherwise decide."""
    coordinator = await _as(web, "dby.coordinator")
    pritchard = await web.case_id("Pritchard")
    fields = await _browser_form(coordinator, f"/compose?type=disclosure-proposal&case={pritchard}")
    pairs = _typed(
        fields,
        {
            "subject": "Proposed disclosure to her landlord",
            "purpose": "public-protection",
            "lawful_basis": "cja2003-s325",
            "necessity_why": "The landlord lets rooms to the victim's family in the same block.",
            "necessity_who": "The landlord only, who lets the flats in that block.",
            "necessity_use": "To let the flats so that they do not meet; kept confidential.",
            "f.recipient_kind": "landlord",
            "f.recipient_name": "Landlord, 12 Example Street",
            "f.information_to_disclose": "Her conviction and the no-contact condition.",
            "f.why_necessary": "Contact at home would put the victim's family at risk.",
            "f.who_is_protected": "The victim's family.",
            "f.offender_to_be_told": "yes",
            "f.method": "in-person",
        },
        recipients=[await web.agency_id("DBY-PROBATION")],
        categories=("identity", "offence-history", "risk-summary"),
    )
    status, location, html = await _submit(coordinator, pairs)
    assert status == 303, html
    packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")
    disclosure_id = await web.hub.disclosures.for_proposal(
        await actor_for(web.hub, "dby.coordinator"), packet_id
    )
    assert disclosure_id is not None
    status, _, page = await fetch(coordinator, f"/disclosures/{disclosure_id}")
    assert status == 200
    assert 'id="own-proposal"' in page
    before = await _snapshot(web)

    status, location, html = await post(
        coordinator,
        f"/disclosures/{disclosure_id}/decide",
        {"_csrf": csrf_from(page), "decision": "approve", "reasons": "Approved by me."},
    )

    assert (status, location) == (403, "")
    assert "You proposed this disclosure, so someone else must decide it." in html
    assert await _snapshot(web) == before


@pytest.mark.parametrize("user", ["dby.police", "dby.probation", "nts.housing"])
async def test_only_the_asked_agency_declines_a_request(web: Web, user: str) -> None:
    client = await _as(web, user)
    request = await _seeded_request(web)
    before = await _snapshot(web)
    status, location, html = await post(
        client,
        f"/requests/{request.id}/decline",
        {"_csrf": await _token(client), "reason": "Not ours to answer."},
    )
    if user.startswith("nts."):  # another area's request answers as one that does not exist
        assert (status, location) == (404, "")
        assert "No such request for information." in html
    else:
        assert (status, location) == (403, "")
        assert _error_message(html) == (
            "This request was addressed to another agency: only that agency can decline it."
        )
    assert await _snapshot(web) == before


async def test_an_action_of_another_agency_cannot_be_completed(web: Web) -> None:
    police = await _as(web, "dby.police")
    action = await _mh_action(web)
    status, _, page = await fetch(police, "/deadlines")
    assert status == 200
    assert f'action="/deadlines/{action.id}/complete"' not in page
    before = await _snapshot(web)

    status, location, html = await post(
        police,
        f"/deadlines/{action.id}/complete",
        {"_csrf": csrf_from(page), "outcome": "Done, says the police."},
    )

    assert (status, location) == (403, "")
    assert _error_message(html) == "This action belongs to another agency."
    assert await _snapshot(web) == before


async def test_an_action_of_another_area_is_not_found(web: Web) -> None:
    nts = await _as(web, "nts.coordinator")
    action = await _mh_action(web)
    before = await _snapshot(web)
    status, _, html = await post(
        nts,
        f"/deadlines/{action.id}/complete",
        {"_csrf": await _token(nts), "outcome": "Done."},
    )
    assert status == 404
    assert _error_message(html) == "No such action."
    assert await _snapshot(web) == before


@pytest.mark.parametrize("kind", ["minutes", "request-for-information", "disclosure-proposal"])
async def test_an_auditor_cannot_compose_typed_packets(web: Web, kind: str) -> None:
    auditor = await _as(web, "dby.auditor")
    harlow = await web.case_id("Harlow")
    status, _, html = await fetch(auditor, f"/compose?type={kind}&case={harlow}")
    assert status == 403
    assert _error_message(html) == "Your role cannot send packets."
    assert 'name="f.' not in html
    before = await _snapshot(web)

    pairs = _typed(
        [("_csrf", await _token(auditor, "/audit")), ("packet_type", kind), ("case", str(harlow))],
        MINUTES_FIELDS,
        recipients=[await web.agency_id("DBY-PROBATION")],
        categories=MINUTES_CATEGORIES,
    )
    status, location, html = await _submit(auditor, pairs)

    assert (status, location) == (403, "")
    assert "Your role cannot send packets." in html
    assert await _snapshot(web) == before


# -- ugly input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type=bogus", "Unknown packet type."),
        ("type=%3Cscript%3E", "Unknown packet type."),
        ("type=disclosure-decision", "That packet type is not composed here."),
        ("type=case-transfer", "That packet type is not composed here."),
    ],
)
async def test_an_unknown_packet_type_is_400_with_a_clear_message(
    web: Web, query: str, message: str
) -> None:
    police = await _as(web, "dby.police")
    status, _, html = await fetch(police, f"/compose?{query}")
    assert status == 400
    assert _error_message(html) == message
    assert "<script>" not in html


async def test_posting_an_unknown_packet_type_is_400_and_writes_nothing(web: Web) -> None:
    minutes = await _minutes(web)
    before = await _snapshot(web)
    status, _, html = await minutes.send(packet_type="bogus")
    assert status == 400
    assert _error_message(html) == "Unknown packet type."
    assert await _snapshot(web) == before


# Posted field names that no form has: too deep, or a row index that is not a row number. Each is
# ignored (the minutes go, without it) or refused at its field; never a 500.
IGNORED = "ignored"
STRANGE_NAMES = {
    "too deep": ({"f.attendance.0.agency.code.x": "DBY-MH"}, IGNORED),
    "under a text field": ({"f.risk_management_plan.supervision.extra": "DBY-MH"}, IGNORED),
    "letters for a row": ({"f.attendance.first.agency": "DBY-MH"}, IGNORED),
    "negative row": ({"f.attendance.-1.agency": "DBY-MH"}, IGNORED),
    "superscript digit row": ({"f.attendance.\u00b2.agency": "DBY-MH"}, IGNORED),
    "arabic-indic digit row": ({"f.attendance.\u0662.agency": "DBY-MH"}, IGNORED),
    "huge row number": ({"f.attendance.99999999999999999999999.agency": "DBY-MH"}, IGNORED),
    "row number of 5000 digits": ({"f.attendance." + "9" * 5000 + ".agency": "DBY-MH"}, IGNORED),
    "empty part": ({"f.attendance..agency": "DBY-MH"}, IGNORED),
    "bare prefix": ({"f.": "DBY-MH"}, IGNORED),
    "quote and newline in the name": ({'f.attendance.9"\r\n.agency': "DBY-MH"}, IGNORED),
    "rows given as text": ({"f.actions": "DBY-MH"}, "Input should be a valid list"),
    "a field no form has": ({"f.extra": "DBY-MH"}, "extra: This field is not part of the form."),
    "a group given as text": (
        {"f.risk_management_plan": "DBY-MH"},
        "Input should be a valid dictionary",
    ),
}


@pytest.mark.parametrize(("extra", "outcome"), STRANGE_NAMES.values(), ids=STRANGE_NAMES.keys())
async def test_strange_field_names_are_ignored_or_refused_cleanly(
    web: Web, extra: dict[str, str], outcome: str
) -> None:
    minutes = await _minutes(web)
    before = await _snapshot(web)

    status, location, html = await minutes.send(**extra)

    assert "Something went wrong on our side" not in html
    if outcome == IGNORED:
        assert status == 303, html
        packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")
        probation = await _as(web, "dby.probation")
        page = (await fetch(probation, f"/packets/{packet_id}"))[2]
        assert len(re.findall(r'id="field-attendance-\d+-role"', page)) == 3  # the rows typed
        assert "DBY-MH" not in page
    else:
        assert (status, location) == (400, "")
        assert 'id="compose-error"' in html
        assert htmllib.escape(outcome, quote=False) in html
        assert await _snapshot(web) == before


async def test_blank_rows_between_filled_rows_are_dropped_and_errors_match_the_rows_shown(
    web: Web,
) -> None:
    minutes = await _minutes(web)
    before = await _snapshot(web)

    # Rows 0, 2 and 4 filled with 1 and 3 blank; the row posted as 4 lacks its role.
    status, _, html = await minutes.send(**{"f.attendance.4.role": ""})

    assert status == 400
    # As understood, the filled rows are 0, 1 and 2: the error is at row 2, shown with its agency.
    assert 'id="f-attendance-2-role-error"' in html
    assert 'id="f-attendance-2-role"' in html  # where the error list's link goes
    assert '<a href="#f-attendance-2-role">Enter role</a>' in html
    assert '<option value="DBY-HOUSING" selected>' in html
    assert _selected(html, "f.attendance.2.agency") == "DBY-HOUSING"
    assert _selected(html, "f.attendance.1.agency") == "DBY-PROBATION"
    assert 'value="Offender manager"' in html
    # Everything typed is kept, including the pillars.
    assert "Weekly appointments with the offender manager.</textarea>" in html
    assert await _snapshot(web) == before


def _selected(html: str, name: str) -> str:
    """The selected option of the select named ``name`` on a page."""
    start = html.index(f'name="{name}"')
    end = html.index("</select>", start)
    chunk = html[start:end]
    marker = chunk.index(" selected>")
    return chunk[chunk.rindex('value="', 0, marker) + 7 : chunk.rindex('"', 0, marker)]


async def test_an_unknown_agency_code_in_a_row_is_refused_at_that_row(web: Web) -> None:
    minutes = await _minutes(web)
    before = await _snapshot(web)
    status, _, html = await minutes.send(**{"f.actions.1.owner_agency": "NO-SUCH"})
    assert status == 400
    # Row 1 as posted is the first filled row of actions: row 0 as shown.
    assert 'id="f-actions-0-owner_agency-error"' in html
    assert "No agency has the code NO-SUCH" in html
    assert await _snapshot(web) == before


async def test_a_minutes_form_sent_whole_is_on_the_packet_and_the_case_page(web: Web) -> None:
    minutes = await _minutes(web)
    harlow = minutes.case

    status, location, html = await minutes.send()

    assert status == 303, html
    packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")
    assert location == f"/packets/{packet_id}?sent=1"
    probation = await _as(web, "dby.probation")
    status, _, page = await fetch(probation, f"/packets/{packet_id}")
    assert status == 200
    assert 'id="form"' in page
    for pillar, text in (
        ("supervision", "Weekly appointments with the offender manager."),
        ("monitoring_and_control", "Exclusion zone around the school; GPS tag."),
        ("interventions_and_treatment", "Horizon programme from January."),
        ("victim_safety_planning", "VLO to update the victim&#39;s family."),
    ):
        assert f'id="field-risk_management_plan-{pillar}"' in page, pillar
        assert text in page, pillar
    assert "Find move-on accommodation away from the school." in page
    # Three attendance rows, the blank ones dropped.
    assert len(re.findall(r'id="field-attendance-\d+-role"', page)) == 3

    status, _, case_page = await fetch(minutes.client, f"/cases/{harlow}")
    assert status == 200
    assert "Minutes circulated" in case_page
    assert "Minutes awaited" not in case_page
    assert f'href="/packets/{packet_id}"' in case_page
    # The action is now due for housing.
    housing = await _as(web, "dby.housing")
    status, _, due = await fetch(housing, "/deadlines")
    assert status == 200
    assert "Meeting action 1" in due


async def test_html_in_a_decline_reason_is_escaped(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    request = await _seeded_request(web)
    status, _, page = await fetch(housing, "/requests")
    assert status == 200
    assert f'action="/requests/{request.id}/decline"' in page

    status, location, _ = await post(
        housing,
        f"/requests/{request.id}/decline",
        {"_csrf": csrf_from(page), "reason": HOSTILE},
    )

    assert (status, location) == (303, "/requests?done=declined")
    probation = await _as(web, "dby.probation")
    harlow = await web.case_id("Harlow")
    pages = [
        (await fetch(housing, "/requests"))[2],
        (await fetch(probation, "/requests"))[2],
        (await fetch(probation, f"/cases/{harlow}"))[2],
    ]
    for html in pages:
        assert HOSTILE_ESCAPED in html
        assert "<script" not in without_hub_script(html)
        assert "<b>x</b>" not in html
    assert 'decline-reason">Declined: ' in pages[1]


async def test_html_in_disclosure_reasons_and_conditions_is_escaped(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    disclosure = await _seeded_disclosure(web)
    status, _, page = await fetch(coordinator, f"/disclosures/{disclosure.id}")
    assert status == 200
    assert 'id="decide-form"' in page

    status, location, _ = await post(
        coordinator,
        f"/disclosures/{disclosure.id}/decide",
        {
            "_csrf": csrf_from(page),
            "decision": "approve",
            "reasons": f"Reasons {HOSTILE}",
            "conditions": f"Conditions {HOSTILE}",
        },
    )

    assert (status, location) == (303, f"/disclosures/{disclosure.id}?done=approve")
    police = await _as(web, "dby.police")
    for client in (coordinator, police):
        status, _, html = await fetch(client, f"/disclosures/{disclosure.id}")
        assert status == 200
        assert f"Reasons {HOSTILE_ESCAPED}" in html
        assert f"Conditions {HOSTILE_ESCAPED}" in html
        assert "<script" not in without_hub_script(html)
        assert "<b>x</b>" not in html


async def test_html_in_an_action_outcome_is_escaped(web: Web) -> None:
    mh = await _as(web, "dby.mh")
    action = await _mh_action(web)
    status, _, page = await fetch(mh, "/deadlines")
    assert status == 200
    assert f'action="/deadlines/{action.id}/complete"' in page

    status, location, _ = await post(
        mh, f"/deadlines/{action.id}/complete", {"_csrf": csrf_from(page), "outcome": HOSTILE}
    )

    assert (status, location) == (303, "/deadlines?done=action")
    status, _, html = await fetch(mh, f"/cases/{action.row.case_id}")
    assert status == 200
    assert f"Action for {MH_NAME} completed" in html
    assert HOSTILE_ESCAPED in html
    assert "<script" not in without_hub_script(html)
    assert "<b>x</b>" not in html


MEETING_FORMS = {
    "no date": ({"level": "2"}, "Give the date as day, month and year."),
    "not a date": (
        {"held_on": "last Tuesday", "level": "2"},
        "Give the date as day, month and year.",
    ),
    "impossible date": (
        {"held_on": "2026-02-30", "level": "2"},
        "Give the date as day, month and year.",
    ),
    "date with markup": (
        {"held_on": "<script>", "level": "2"},
        "Give the date as day, month and year.",
    ),
    "future date": (
        {"held_on": "2026-11-24", "level": "2"},
        "A meeting is recorded once it has been held.",
    ),
    "level 1": (
        {"held_on": "2026-11-23", "level": "1"},
        "MAPPA meetings are held at level 2 or 3.",
    ),
    "level not a number": ({"held_on": "2026-11-23", "level": "two"}, "Choose the level."),
    "already recorded": (
        {"held_on": HARLOW_MEETING, "level": "2"},
        "A meeting on that date is already recorded for this case.",
    ),
}


@pytest.mark.parametrize(("fields", "message"), MEETING_FORMS.values(), ids=MEETING_FORMS.keys())
async def test_a_bad_meeting_form_is_refused_with_its_message_and_writes_nothing(
    web: Web, fields: dict[str, str], message: str
) -> None:
    coordinator = await _as(web, "dby.coordinator")
    harlow = await web.case_id("Harlow")
    status, _, page = await fetch(coordinator, f"/cases/{harlow}")
    assert 'id="meeting-form"' in page
    before = await _snapshot(web)

    status, location, html = await post(
        coordinator, f"/cases/{harlow}/meetings", {"_csrf": csrf_from(page), **fields}
    )

    assert (status, location) in ((400, ""), (409, ""))
    assert _error_message(html) == message
    assert await _snapshot(web) == before


async def test_a_meeting_held_today_is_recorded(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    moss = await web.case_id("Moss")
    csrf = await _token(coordinator)
    status, location, _ = await post(
        coordinator,
        f"/cases/{moss}/meetings",
        {"_csrf": csrf, "held_on": "2026-11-23", "level": "2"},
    )
    assert (status, location) == (303, f"/cases/{moss}?done=meeting")
    status, _, html = await fetch(coordinator, location)
    assert status == 200
    assert 'id="notice"' in html
    assert "Level 2 MAPPA meeting" in html
    assert "Minutes awaited" in html


RELEASE_FORMS = {
    "no date": ({}, "Give the date as day, month and year."),
    "not a date": ({"release_date": "soon"}, "Give the date as day, month and year."),
    "impossible date": ({"release_date": "2027-13-01"}, "Give the date as day, month and year."),
    "today": ({"release_date": "2026-11-23"}, "The release date must be in the future."),
    "past": ({"release_date": "2025-01-01"}, "The release date must be in the future."),
}


@pytest.mark.parametrize(("fields", "message"), RELEASE_FORMS.values(), ids=RELEASE_FORMS.keys())
async def test_a_bad_release_date_is_refused_with_its_message_and_writes_nothing(
    web: Web, fields: dict[str, str], message: str
) -> None:
    probation = await _as(web, "dby.probation")
    harlow = await web.case_id("Harlow")
    status, _, page = await fetch(probation, f"/cases/{harlow}")
    assert 'id="release-form"' in page
    before = await _snapshot(web)

    status, location, html = await post(
        probation, f"/cases/{harlow}/release", {"_csrf": csrf_from(page), **fields}
    )

    assert (status, location) == (400, "")
    assert _error_message(html) == message
    assert await _snapshot(web) == before


async def test_a_release_date_sets_the_referral_deadline(web: Web) -> None:
    probation = await _as(web, "dby.probation")
    harlow = await web.case_id("Harlow")
    csrf = await _token(probation)
    status, location, _ = await post(
        probation, f"/cases/{harlow}/release", {"_csrf": csrf, "release_date": "2027-05-20"}
    )
    assert (status, location) == (303, f"/cases/{harlow}?done=release")
    status, _, html = await fetch(probation, location)
    assert status == 200
    assert "Referral before release" in html
    assert "20 November 2026" in html  # six months before, so already overdue


async def test_a_meeting_dated_centuries_ago_is_refused(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    moss = await web.case_id("Moss")
    before = await _snapshot(web)
    status, _, _ = await post(
        coordinator,
        f"/cases/{moss}/meetings",
        {"_csrf": await _token(coordinator), "held_on": "0001-01-01", "level": "2"},
    )
    assert status == 400
    assert await _snapshot(web) == before


async def test_a_disclosure_is_made_only_once_approved(web: Web) -> None:
    disclosure = await _seeded_disclosure(web)
    page = f"/disclosures/{disclosure.id}"
    police = await _as(web, "dby.police")
    before = await _snapshot(web)

    status, location, html = await post(
        police, f"{page}/deliver", {"_csrf": await _token(police, page)}
    )

    assert (status, location) == (409, "")
    assert "Only an approved disclosure can be made; this one is proposed." in html
    assert 'id="disclosure-error"' in html
    assert await _snapshot(web) == before

    # Level 3: a coordinator and a senior manager approve, then the proposer makes it.
    for user in ("dby.coordinator", "dby.senior"):
        client = await _as(web, user)
        status, location, _ = await post(
            client,
            f"{page}/decide",
            {
                "_csrf": await _token(client, page),
                "decision": "approve",
                "reasons": f"Necessary and proportionate ({user}).",
            },
        )
        assert (status, location) == (303, f"{page}?done=approve")
    status, _, html = await fetch(police, page)
    assert 'id="disclosure-status">Approved<' in html
    assert 'id="deliver"' in html
    seq = await web.ledger_seq()

    status, location, _ = await post(police, f"{page}/deliver", {"_csrf": csrf_from(html)})

    assert (status, location) == (303, f"{page}?done=delivered")
    assert await web.ledger_seq() == seq + 1
    status, _, html = await fetch(police, location)
    assert 'id="disclosure-status">Delivered<' in html
    assert 'id="delivered"' in html
    assert "The disclosure is recorded as made, on the hub&#39;s log." in html
    # Once only.
    before = await _snapshot(web)
    status, _, html = await post(police, f"{page}/deliver", {"_csrf": csrf_from(html)})
    assert status == 409
    assert "This disclosure has already been made." in html
    assert await _snapshot(web) == before


async def test_a_second_decision_by_the_same_person_is_refused(web: Web) -> None:
    disclosure = await _seeded_disclosure(web)
    page = f"/disclosures/{disclosure.id}"
    coordinator = await _as(web, "dby.coordinator")
    form = {"decision": "approve", "reasons": "Necessary and proportionate."}
    status, _, _ = await post(
        coordinator, f"{page}/decide", {"_csrf": await _token(coordinator, page), **form}
    )
    assert status == 303
    status, _, html = await fetch(coordinator, page)
    # Not offered again (the senior manager's decision is still awaited, but not from them) ...
    assert 'id="decide-form"' not in html and "Awaiting 1 senior manager" in html
    assert 'id="decide-form"' in (await fetch(await _as(web, "dby.senior"), page))[2]
    before = await _snapshot(web)

    # ... and refused when posted anyway.
    status, _, html = await post(coordinator, f"{page}/decide", {"_csrf": csrf_from(html), **form})

    assert status == 409
    assert "You have already decided this disclosure." in html
    assert await _snapshot(web) == before


async def test_markup_in_the_compose_query_is_shown_as_text(web: Web) -> None:
    police = await _as(web, "dby.police")
    hostile = '"><script>alert(1)</script>'
    quoted = urllib.parse.quote(hostile)
    path = f"/compose?type=response&case={quoted}&reply_to={quoted}&to={quoted}"
    status, _, html = await fetch(police, path)
    assert status == 200
    assert "<script" not in without_hub_script(html)
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


async def test_oversize_disclosure_reasons_are_refused(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    disclosure = await _seeded_disclosure(web)
    csrf = await _token(coordinator, f"/disclosures/{disclosure.id}")
    before = await _snapshot(web)

    status, location, html = await post(
        coordinator,
        f"/disclosures/{disclosure.id}/decide",
        {"_csrf": csrf, "decision": "approve", "reasons": "r" * 5001},
    )

    assert (status, location) == (400, "")
    assert 'id="disclosure-error"' in html
    assert '<a href="#reasons">Reasons must be 5,000 characters or fewer</a>' in html
    assert "r" * 5001 + "</textarea>" in html  # what was typed is kept
    assert await _snapshot(web) == before


DECISION_WANTED = "Select whether you approve or refuse the disclosure"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"decision": "approve", "reasons": "   "},
            "reasons",
            "Enter the reasons for your decision",
        ),
        ({"decision": "maybe", "reasons": "Because."}, "decision", DECISION_WANTED),
        ({"reasons": "Because."}, "decision", DECISION_WANTED),
    ],
    ids=["blank reasons", "unknown decision", "no decision"],
)
async def test_a_bad_decision_is_refused_on_the_disclosure_page(
    web: Web, fields: dict[str, str], field: str, message: str
) -> None:
    coordinator = await _as(web, "dby.coordinator")
    disclosure = await _seeded_disclosure(web)
    csrf = await _token(coordinator, f"/disclosures/{disclosure.id}")
    before = await _snapshot(web)
    status, _, html = await post(
        coordinator, f"/disclosures/{disclosure.id}/decide", {"_csrf": csrf, **fields}
    )
    assert status == 400
    assert 'id="disclosure-error"' in html
    assert f'<a href="#{field}">{message}</a>' in html  # the summary links the field to correct
    assert "<title>Error: " in html
    assert await _snapshot(web) == before


async def test_oversize_decline_reason_and_outcome_are_refused(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    mh = await _as(web, "dby.mh")
    request = await _seeded_request(web)
    action = await _mh_action(web)
    before = await _snapshot(web)

    status, _, html = await post(
        housing,
        f"/requests/{request.id}/decline",
        {"_csrf": await _token(housing), "reason": "r" * 2001},
    )
    # Refused on the queue itself, the field linked and what was typed kept.
    assert status == 400
    assert f'<a href="#reason-{request.id}">The reason is longer than 2000 characters.</a>' in html
    assert "r" * 2001 + "</textarea>" in html

    status, _, html = await post(
        mh,
        f"/deadlines/{action.id}/complete",
        {"_csrf": await _token(mh), "outcome": "o" * 5001},
    )
    assert status == 400
    assert _error_message(html) == "The outcome is longer than 5000 characters."
    assert await _snapshot(web) == before


async def test_blank_decline_reason_and_outcome_are_refused(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    mh = await _as(web, "dby.mh")
    request = await _seeded_request(web)
    action = await _mh_action(web)
    before = await _snapshot(web)
    status, _, html = await post(
        housing, f"/requests/{request.id}/decline", {"_csrf": await _token(housing), "reason": " "}
    )
    assert status == 400
    assert f'<a href="#reason-{request.id}">Say why the request is declined.</a>' in html
    assert "<title>Error: Requests for information - MAPPA Hub</title>" in html
    status, _, html = await post(
        mh, f"/deadlines/{action.id}/complete", {"_csrf": await _token(mh)}
    )
    assert status == 400
    assert _error_message(html) == "Record the action's outcome to complete it."
    assert await _snapshot(web) == before


@pytest.mark.parametrize(
    "path",
    [
        "/requests/99999/decline",
        "/disclosures/99999/decide",
        "/disclosures/99999/deliver",
        "/cases/99999/meetings",
        "/deadlines/99999/complete",
    ],
)
async def test_posting_to_something_that_does_not_exist_is_404(web: Web, path: str) -> None:
    coordinator = await _as(web, "dby.coordinator")
    before = await _snapshot(web)
    status, _, html = await post(
        coordinator,
        path,
        {
            "_csrf": await _token(coordinator),
            "reason": "x",
            "decision": "approve",
            "reasons": "x",
            "outcome": "x",
            "held_on": "2026-11-23",
            "level": "2",
        },
    )
    assert status == 404
    assert "Something went wrong" not in html
    assert await _snapshot(web) == before


@pytest.mark.parametrize(
    "path", ["/cases/abc", "/disclosures/-1", "/cases/1234567890123", "/deadlines/x/complete"]
)
async def test_malformed_ids_in_the_path_are_404(web: Web, path: str) -> None:
    coordinator = await _as(web, "dby.coordinator")
    status, _, _ = await fetch(coordinator, path)
    assert status in (404, 405)


# -- reminders and the area's deadlines ----------------------------------------------------------


async def test_the_overdue_action_owner_sees_the_reminder_in_the_inbox(web: Web) -> None:
    mh = await _as(web, "dby.mh")
    status, _, html = await fetch(mh, "/inbox")
    assert status == 200
    assert 'id="overdue-reminder"' in html
    assert "1 item is overdue for " + MH_NAME in html
    assert "Meeting action on " in html
    assert 'href="/deadlines"' in html


async def test_an_agency_with_nothing_overdue_sees_no_reminder(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    status, _, html = await fetch(housing, "/inbox")
    assert status == 200
    assert 'id="overdue-reminder"' not in html
    assert 'id="due-soon"' in html  # the request it was asked, due in a week


async def test_the_coordinator_sees_the_whole_areas_deadlines(web: Web) -> None:
    coordinator = await _as(web, "dby.coordinator")
    status, _, html = await fetch(coordinator, "/deadlines?scope=area")
    assert status == 200
    assert "Due and overdue across the area" in html
    cell = '<td class="govuk-table__cell">{}</td>'
    for owner in (MH_NAME, HOUSING_NAME, POLICE_NAME):
        assert cell.format(owner) in html, owner
    action = await _mh_action(web)
    assert f'overdue-row" id="item-{action.id}"' in html
    request = await _seeded_request(web)
    assert f'id="item-{request.row.work_item_id}"' in html
    # Nothing of the other area.
    assert "NTS" not in html
    # The agency's own view is narrower, and the page says whose it is.
    status, _, own = await fetch(coordinator, "/deadlines")
    assert status == 200
    assert cell.format(MH_NAME) not in own
    assert 'aria-current="page" href="/deadlines" id="agency-deadlines"' in own


@pytest.mark.parametrize("user", ["dby.police", "dby.housing", "dby.admin"])
async def test_the_areas_deadlines_are_refused_to_others(web: Web, user: str) -> None:
    client = await _as(web, user)
    status, _, html = await fetch(client, "/deadlines?scope=area")
    assert status == 403
    assert _error_message(html) == "The area's deadlines are for MAPPA coordinators."
    assert 'id="area-deadlines"' not in (await fetch(client, "/deadlines"))[2]


# -- the request's packet ------------------------------------------------------------------------


async def test_the_asked_agency_is_told_to_answer_the_request(web: Web) -> None:
    request = await _seeded_request(web)
    housing = await _as(web, "dby.housing")
    status, _, html = await fetch(housing, f"/packets/{request.row.packet_id}")
    assert status == 200
    assert 'id="answer-request"' in html
    assert "due 30 November 2026" in html
    probation_id = await web.agency_id("DBY-PROBATION")
    answer = (
        f"/compose?type=response&amp;reply_to={request.row.packet_id}"
        f"&amp;case={request.row.case_id}&amp;to={probation_id}"
    )
    assert f'href="{answer}"' in html
    # The form shows the request's fields.
    assert 'id="field-information_sought"' in html
    assert "Tenancy status and any reports of children visiting." in html
    # And the answer link opens the response form, addressed.
    status, _, form = await fetch(housing, htmllib.unescape(answer))
    assert status == 200
    assert f'name="reply_to" value="{request.row.packet_id}"' in form
    assert re.search(
        rf'name="recipients" type="checkbox" value="{probation_id}" checked[^>]*'
        'data-code="DBY-PROBATION"',
        form,
    )
    assert 'name="f.information_provided"' in form


async def test_the_requester_is_not_told_to_answer_its_own_request(web: Web) -> None:
    request = await _seeded_request(web)
    probation = await _as(web, "dby.probation")
    status, _, html = await fetch(probation, f"/packets/{request.row.packet_id}")
    assert status == 200
    assert 'id="answer-request"' not in html
    assert "Answer it" not in html


async def test_an_answered_request_is_no_longer_to_answer(web: Web) -> None:
    request = await _seeded_request(web)
    housing = await _as(web, "dby.housing")
    path = (
        f"/compose?type=response&reply_to={request.row.packet_id}&case={request.row.case_id}"
        f"&to={request.row.requester_agency_id}"
    )
    fields = await _browser_form(housing, path)
    pairs = _typed(
        fields,
        {
            "subject": "Tenancy and visitors: our answer",
            "purpose": "risk-management",
            "lawful_basis": "cja2003-s325",
            "necessity_why": "The panel asked; the answer informs the risk management plan.",
            "necessity_who": "The offender manager and the level 2 panel.",
            "necessity_use": "To review the plan; recorded in the minutes only.",
            # Housing shares under UK GDPR: criminal offence data needs a Schedule 1 condition.
            "schedule1_condition": "sch1-para6",
            "f.information_provided": "Sole tenant since June; no reports of visitors.",
        },
        recipients=[request.row.requester_agency_id],
        categories=("identity", "risk-summary"),
    )
    status, _, html = await _submit(housing, pairs)
    assert status == 303, html
    status, _, page = await fetch(housing, f"/packets/{request.row.packet_id}")
    assert status == 200
    assert 'id="answer-request"' not in page
    status, _, queue = await fetch(housing, "/requests")
    assert f'id="incoming-status-{request.id}">Answered<' in queue
    assert f'action="/requests/{request.id}/decline"' not in queue


# -- headers and markup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("dby.coordinator", "/cases"),
        ("dby.coordinator", "/cases/{Pritchard}"),
        ("dby.coordinator", "/disclosures"),
        ("dby.coordinator", "/disclosures/{disclosure}"),
        ("dby.coordinator", "/deadlines?scope=area"),
        ("dby.housing", "/requests"),
        ("dby.coordinator", "/compose?type=minutes&case={Harlow}"),
    ],
)
async def test_new_pages_keep_the_security_headers_and_need_no_script(
    web: Web, user: str, path: str
) -> None:
    client = await _as(web, user)
    async with client.get(path.format_map(await _ids(web)), allow_redirects=False) as resp:
        assert resp.status == 200
        html = without_hub_script(await resp.text()).lower()
        headers = resp.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"].startswith("text/html")
    for forbidden in ("<script", "<style", " style=", "javascript:"):
        assert forbidden not in html, forbidden


async def test_a_refusal_page_keeps_the_security_headers(web: Web) -> None:
    police = await _as(web, "dby.police")
    async with police.get("/disclosures", allow_redirects=False) as resp:
        assert resp.status == 403
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["Cache-Control"] == "no-store"


async def test_the_coordinator_involves_an_agency_from_the_case_page(web: Web) -> None:
    case = await web.case_id("Harlow")
    coordinator = await _as(web, "dby.coordinator")
    status, _, page = await fetch(coordinator, f"/cases/{case}")
    assert status == 200 and 'id="involve-form"' in page
    assert 'value="NTS-HOUSING"' in page and 'value="DBY-EMPLOYER-ACME"' not in page
    # Nottingham's housing provider was never involved: the case page is closed to it, and
    # answers as for a case that does not exist (it is another area's).
    nts_housing = await _as(web, "nts.housing")
    status, _, _ = await fetch(nts_housing, f"/cases/{case}")
    assert status == 404
    status, location, _ = await post(
        coordinator, f"/cases/{case}/agencies", {"_csrf": csrf_from(page), "agency": "NTS-HOUSING"}
    )
    assert (status, location) == (303, f"/cases/{case}?done=involved")
    status, _, page = await fetch(coordinator, f"/cases/{case}?done=involved")
    assert "The agency is now active on this case" in page and "Nottingham City Homes" in page
    status, _, _ = await fetch(nts_housing, f"/cases/{case}")
    assert status == 200
    # A practitioner of an agency that does not lead the case sees no form and is refused.
    housing = await _as(web, "dby.housing")
    status, _, page = await fetch(housing, f"/cases/{case}")
    assert status == 200 and 'id="involve-form"' not in page
    status, _, _ = await post(
        housing, f"/cases/{case}/agencies", {"_csrf": csrf_from(page), "agency": "DBY-MH"}
    )
    assert status == 403


async def test_the_disclosure_page_knows_the_person_behind_a_proposal(web: Web) -> None:
    """A proposal made through an agency system on behalf of a person is that person's: the
    page tells them another person decides it, as the service would refuse them."""
    disclosure = await _seeded_disclosure(web)
    coordinator = await actor_for(web.hub, "dby.coordinator")
    path = f"/disclosures/{disclosure.id}"
    client = await _as(web, "dby.coordinator")
    status, _, page = await fetch(client, path)
    assert status == 200 and 'id="own-proposal"' not in page
    # As if the police system had proposed it on behalf of the coordinator.
    async with web.hub.db.write() as conn:
        await conn.execute(
            update(disclosures)
            .where(disclosures.c.id == disclosure.id)
            .values(proposer_person_id=coordinator.user.id)
        )
    status, _, page = await fetch(client, path)
    assert status == 200 and 'id="own-proposal"' in page
    csrf = csrf_from(page)
    status, _, page = await post(
        client, f"{path}/decide", {"_csrf": csrf, "decision": "approve", "reasons": "Agreed."}
    )
    assert status == 403 and "someone else must decide it" in page
