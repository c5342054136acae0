"""Composing a packet through the browser: success, escaping, refusals that write nothing, and
nothing typed or attached lost on the way (a check, a refusal or a mistake keeps it all)."""

from __future__ import annotations

import html as htmllib
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.config import Limits
from hub.store.schema import saved_drafts
from hub.web import formfields
from tests.conftest import actor_for
from tests.web.conftest import (
    StartWeb,
    Web,
    compose_form,
    csrf_from,
    fetch,
    post,
    without_hub_script,
)

MIB = 1024 * 1024
SMALL_LIMITS = Limits(max_attachment_bytes=MIB, max_request_bytes=2 * MIB)
HOSTILE = "<script>alert(1)</script><b>x</b>"
MAP = b"Zone: 500 m around Example Primary School\n"
REPORT = bytes(range(256)) * 50  # binary, 12.5 KiB
HOSTILE_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"


async def _send(web: Web, **fields: Any) -> tuple[int, str, str]:
    """Compose as the signed-in user; ``case``/``recipients`` default to Harlow -> DBY-HOUSING."""
    fields.setdefault("case", await web.case_id("Harlow"))
    fields.setdefault("recipients", [await web.agency_id("DBY-HOUSING")])
    form = compose_form(await web.compose_csrf(), **fields)
    return await post(web.client, "/compose", form)


async def test_compose_sends_a_packet_the_recipient_can_read(web: Web) -> None:
    await web.login("dby.police")
    packets, seq = await web.packet_count(), await web.ledger_seq()

    status, location, _ = await _send(
        web,
        recipients=[await web.agency_id("DBY-HOUSING"), await web.agency_id("DBY-PROBATION")],
        purpose="public-protection",
        subject="Licence conditions for review",
        body="Exclusion zone updated; see the attached map notes.",
        attachments=[("zone.txt", b"Zone: 500 m around Example Primary School\n")],
    )

    assert status == 303
    packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")
    assert location == f"/packets/{packet_id}?sent=1"
    assert await web.packet_count() == packets + 1
    assert await web.ledger_seq() == seq + 1  # the disclosure is on the log
    status, _, html = await fetch(web.client, location)
    assert status == 200
    assert "Licence conditions for review" in html

    housing = await web.login("dby.housing", await web.new_client())
    status, _, inbox = await fetch(housing, "/inbox")
    assert status == 200
    assert "Licence conditions for review" in inbox
    assert f'href="/packets/{packet_id}"' in inbox
    status, _, page = await fetch(housing, f"/packets/{packet_id}")
    assert status == 200
    assert "Exclusion zone updated; see the attached map notes." in page
    assert "zone.txt" in page
    async with housing.get(f"/packets/{packet_id}/attachments/0") as resp:
        assert resp.status == 200
        assert await resp.read() == b"Zone: 500 m around Example Primary School\n"


async def test_html_in_subject_and_body_is_shown_as_text(web: Web) -> None:
    await web.login("dby.police")
    status, location, _ = await _send(web, subject=HOSTILE, body=f"Body {HOSTILE}")
    assert status == 303
    packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")

    pages = [(await fetch(web.client, "/outbox"))[2]]
    housing = await web.login("dby.housing", await web.new_client())
    pages.append((await fetch(housing, "/inbox"))[2])
    pages.append((await fetch(housing, f"/packets/{packet_id}"))[2])
    for page in pages:
        assert HOSTILE_ESCAPED in page
        assert "<script" not in without_hub_script(page)
        assert "<b>x</b>" not in page
    assert f"Body {HOSTILE_ESCAPED}" in pages[-1]


# Each bad form: the fields to change (ids written as {CODE} or {Family}), status and message.
BAD_FORMS = {
    "no recipients": ({"recipients": []}, 400, "Choose at least one recipient agency"),
    "unknown recipient": (
        {"recipients": ["99999"]},
        400,
        "One or more recipient agencies do not exist",
    ),
    "recipient not a number": ({"recipients": ["housing"]}, 400, "Unknown recipient"),
    "own agency as recipient": (
        {"recipients": ["{DBY-POLICE}"]},
        400,
        "Your own agency already holds what you send",
    ),
    "unknown case": ({"case": "99999"}, 400, "Unknown case"),
    "case of another area": ({"case": "{Booth}"}, 400, "Unknown case"),
    "case not a number": ({"case": "Harlow"}, 400, "Choose a case"),
    "purpose not in catalogue": ({"purpose": "curiosity"}, 400, "Choose a purpose from the list"),
    "lawful basis not in catalogue": (
        {"lawful_basis": "because"},
        400,
        "Choose a lawful basis from the list",
    ),
    "control character in subject": (
        {"subject": "Address\x07check"},
        400,
        "Subject must not include hidden characters, such as line breaks or text direction "
        "controls. It has a control character (U+0007). Remove it and try again",
    ),
    "empty subject": ({"subject": "   "}, 400, "Enter a subject"),
    "subject too long": ({"subject": "s" * 201}, 400, "longer than 200 characters"),
    "empty body": ({"body": "  \n "}, 400, "Enter a message"),
}


@pytest.mark.parametrize(("change", "status", "message"), BAD_FORMS.values(), ids=BAD_FORMS.keys())
async def test_bad_form_is_refused_clearly_and_writes_nothing(
    web: Web, change: dict[str, Any], status: int, message: str
) -> None:
    await web.login("dby.police")
    ids: dict[str, int] = {a.code: a.id for a in await web.hub.directory.agencies()}
    ids.update({c.family_name: c.id for c in await web.hub.cases.visible_to(None)})
    fields: dict[str, Any] = {
        "subject": "Typed subject & kept",
        "body": "Typed body <kept> for the user",
        **change,
    }
    if "case" in change:
        fields["case"] = str(change["case"]).format_map(ids)
    if "recipients" in change:
        fields["recipients"] = [str(r).format_map(ids) for r in change["recipients"]]
    packets, seq = await web.packet_count(), await web.ledger_seq()

    got_status, location, html = await _send(web, **fields)

    assert (got_status, location) == (status, "")
    assert 'id="compose-error"' in html
    escaped = htmllib.escape(message, quote=False)
    assert any(escaped in item for item in _summary_items(html))
    assert any(escaped in error for error in _field_errors(html))  # at the field too
    assert "<title>Error: " in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)
    # The form comes back with what was typed.
    if "body" not in change:
        assert "Typed body &lt;kept&gt; for the user</textarea>" in html
    if "subject" not in change:
        assert 'value="Typed subject &amp; kept"' in html


async def test_refused_form_keeps_the_chosen_case_purpose_and_recipients(web: Web) -> None:
    await web.login("dby.police")
    housing = await web.agency_id("DBY-HOUSING")
    status, _, html = await _send(
        web, recipients=[housing], purpose="public-protection", lawful_basis="because"
    )
    assert status == 400
    assert _checked(html, "recipients", str(housing))
    assert 'value="public-protection" selected' in html
    assert f'value="{await web.case_id("Harlow")}" selected' in html


async def test_attachment_at_the_limit_is_accepted(start_web: StartWeb) -> None:
    web = await start_web(SMALL_LIMITS)
    await web.login("dby.police")
    status, _, _ = await _send(web, attachments=[("exact.bin", b"a" * MIB)])
    assert status == 303


async def test_attachment_over_the_limit_is_413_and_writes_nothing(start_web: StartWeb) -> None:
    web = await start_web(SMALL_LIMITS)
    await web.login("dby.police")
    packets, seq = await web.packet_count(), await web.ledger_seq()

    status, _, html = await _send(
        web, body="Kept body", attachments=[("big.bin", b"a" * (MIB + 1))]
    )

    assert status == 413
    assert "Attachment big.bin is larger than the limit of 1 MiB" in html
    assert "The files you chose just now were not kept: choose smaller ones." in html
    assert "Kept body</textarea>" in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)


async def test_request_over_the_limit_is_413_and_writes_nothing(start_web: StartWeb) -> None:
    web = await start_web(SMALL_LIMITS)
    await web.login("dby.police")
    packets, seq = await web.packet_count(), await web.ledger_seq()

    status, _, html = await _send(web, attachments=[("huge.bin", b"a" * (2 * MIB + 1))])

    assert status == 413
    assert "What you sent is too large." in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)


async def test_auditor_cannot_send(web: Web) -> None:
    await web.login("dby.auditor")
    packets, seq = await web.packet_count(), await web.ledger_seq()
    # The compose form is refused to an auditor, so take the token from the inbox's sign-out form.
    _, _, inbox = await fetch(web.client, "/inbox")
    form = compose_form(
        csrf_from(inbox),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
    )
    status, location, html = await post(web.client, "/compose", form)
    assert (status, location) == (403, "")
    assert "Your role cannot send packets." in html
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)


async def test_auditor_is_not_shown_the_compose_form(web: Web) -> None:
    await web.login("dby.auditor")
    response = await web.client.get("/compose")
    assert response.status == 403
    html = await response.text()
    assert "Your role cannot send packets." in html
    assert 'name="case"' not in html


def _summary_items(html: str) -> list[str]:
    """The error summary's items, as text."""
    start = html.index('id="compose-error"')
    block = html[start : html.index("</ul>", start)]
    return [
        re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", block, re.S)
    ]


def _field_errors(html: str) -> list[str]:
    """The error messages shown at fields."""
    return re.findall(
        r'class="govuk-error-message"[^>]*>\s*<span class="govuk-visually-hidden">Error:</span>'
        r"\s*(.*?)\s*</p>",
        html,
        re.S,
    )


# -- nothing typed or attached is lost ------------------------------------------------------------

_DRAFT_ID = re.compile(r'name="draft_id" value="([^"]*)"')


def _draft_id(html: str) -> str:
    match = _DRAFT_ID.search(html)
    assert match is not None, "no draft_id field on the page"
    return match.group(1)


def _checked(html: str, name: str, value: str) -> bool:
    """Whether the checkbox ``name``=``value`` on the page is ticked."""
    found = re.search(rf'<input [^>]*name="{name}" type="checkbox" value="{value}"([^>]*)>', html)
    assert found is not None, (name, value)
    return " checked" in found.group(1)


def _kept(html: str) -> dict[str, str]:
    """The attachments a page lists as kept with its draft: file name -> remove checkbox value."""
    return {
        htmllib.unescape(m.group(2)): m.group(1)
        for m in re.finditer(
            r'value="([0-9a-f]{16})">\s*<label [^>]*>\s*Remove (.+?) \(', html, re.DOTALL
        )
    }


async def _draft_count(web: Web) -> int:
    async with web.hub.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(saved_drafts))).scalar_one()
        )


async def _received(web: Web, location: str) -> list[tuple[str, bytes]]:
    """Each attachment of a sent packet as housing downloads it: (file name, bytes)."""
    packet_id = location.removeprefix("/packets/").removesuffix("?sent=1")
    housing = await web.login("dby.housing", await web.new_client())
    opened = await web.hub.packets.open(await actor_for(web.hub, "dby.housing"), packet_id)
    out = []
    for meta in opened.attachments:
        async with housing.get(f"/packets/{packet_id}/attachments/{meta.index}") as resp:
            assert resp.status == 200
            out.append((meta.filename, await resp.read()))
    return out


async def test_check_then_send_delivers_the_attachment(web: Web) -> None:
    await web.login("dby.police")
    status, _, html = await _send(
        web, action="check", attachments=[("map.txt", MAP), ("report.bin", REPORT)]
    )
    assert status == 200
    assert 'data-outcome="PERMIT"' in html
    draft_id = _draft_id(html)
    assert draft_id and await _draft_count(web) == 1
    assert set(_kept(html)) == {"map.txt", "report.bin"}
    assert "Remove report.bin (12 KiB)" in html
    assert 'id="draft-note"' in html  # the person is told the work is kept

    # Sent as a person would after a check: no file chosen again, the draft named.
    status, location, _ = await _send(web, extra={"draft_id": draft_id})

    assert status == 303 and location.endswith("?sent=1")
    assert await _received(web, location) == [("map.txt", MAP), ("report.bin", REPORT)]
    assert await _draft_count(web) == 0  # sent: no longer a draft


async def test_a_refused_send_keeps_its_attachments_for_the_next_try(web: Web) -> None:
    await web.login("dby.police")
    before = (await web.packet_count(), await web.ledger_seq())
    # Intelligence may not go to housing: refused, with the file kept in a draft.
    status, _, html = await _send(
        web, categories=("address", "intelligence"), attachments=[("map.txt", MAP)]
    )
    assert status == 403
    assert 'data-outcome="DENY"' in html
    assert (await web.packet_count(), await web.ledger_seq()) == (before[0], before[1] + 1)
    assert await web.last_event() == "share-refused"  # the refusal alone is on the log
    assert set(_kept(html)) == {"map.txt"}
    draft_id = _draft_id(html)
    assert _checked(html, "categories", "intelligence")  # the choice that was refused, kept

    # Put right and sent, with one more file chosen now: both travel.
    status, location, _ = await _send(
        web, extra={"draft_id": draft_id}, attachments=[("extra.txt", b"Added later.")]
    )
    assert status == 303
    assert await _received(web, location) == [("map.txt", MAP), ("extra.txt", b"Added later.")]


async def test_a_form_with_mistakes_keeps_its_attachments(web: Web) -> None:
    await web.login("dby.police")
    status, _, html = await _send(web, subject="  ", attachments=[("map.txt", MAP)])
    assert status == 400
    assert "Enter a subject" in html
    assert set(_kept(html)) == {"map.txt"}
    status, location, _ = await _send(web, extra={"draft_id": _draft_id(html)})
    assert status == 303
    assert await _received(web, location) == [("map.txt", MAP)]


async def test_a_kept_attachment_can_be_removed_before_sending(web: Web) -> None:
    await web.login("dby.police")
    status, _, html = await _send(
        web, action="check", attachments=[("map.txt", MAP), ("report.bin", REPORT)]
    )
    assert status == 200
    kept = _kept(html)
    status, location, _ = await _send(
        web, extra={"draft_id": _draft_id(html), "remove_attachment": kept["report.bin"]}
    )
    assert status == 303
    assert await _received(web, location) == [("map.txt", MAP)]


async def test_save_draft_keeps_everything_without_checking(web: Web) -> None:
    await web.login("dby.police")
    packets, seq = await web.packet_count(), await web.ledger_seq()
    status, location, _ = await _send(
        web, action="save", subject="Half written", recipients=[], attachments=[("map.txt", MAP)]
    )
    assert status == 303
    match = re.fullmatch(r"/compose\?draft=([0-9a-f-]{36})&saved=1", location)
    assert match, location
    status, _, html = await fetch(web.client, location)
    assert status == 200
    assert 'id="draft-saved"' in html and "Your draft has been saved." in html
    assert _draft_id(html) == match.group(1)
    assert 'value="Half written"' in html
    assert set(_kept(html)) == {"map.txt"}
    assert await _draft_count(web) == 1
    assert (await web.packet_count(), await web.ledger_seq()) == (packets, seq)  # nothing sent


# -- the page speaks in words, and lists problems in the order of the page ------------------------


async def test_problems_are_listed_in_the_order_of_the_page(web: Web) -> None:
    await web.login("dby.police")
    form = compose_form(
        await web.compose_csrf(), case="", recipients=[], purpose="", lawful_basis="",
        subject="", body="",
    )  # fmt: skip
    status, _, html = await post(web.client, "/compose", form)
    assert status == 400
    assert "<title>Error: " in html
    summary = html[
        html.index('id="compose-error"') : html.index("</ul>", html.index('id="compose-error"'))
    ]
    links = re.findall(r'<a href="(#[^"]+)">\s*([^<]+?)\s*</a>', summary)
    assert [text for _, text in links] == [
        "Choose a case",
        "Choose at least one recipient agency",
        "Choose a purpose",
        "Choose a lawful basis",
        "Enter a subject",
        "Enter a message",
    ]
    for href, _ in links:
        assert f'id="{href[1:]}"' in html, href  # each link lands on its control


async def test_a_typed_forms_problems_follow_the_form(web: Web) -> None:
    await web.login("dby.probation")
    form = compose_form(
        await web.compose_csrf(),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        subject="",
        body="",
        necessity={},
        extra={"packet_type": "request-for-information", "f.who_needs_access": "The panel."},
    )
    status, _, html = await post(web.client, "/compose", form)
    assert status == 400
    summary = html[
        html.index('id="compose-error"') : html.index("</ul>", html.index('id="compose-error"'))
    ]
    links = re.findall(r'<a href="(#[^"]+)">', summary)
    assert links == [
        "#f-information_sought",
        "#f-purpose_of_request",
        "#f-how_it_will_be_used",
        "#f-due_on-day",
        "#subject",
    ]
    assert "Enter information sought" in summary
    assert "Enter the date the answer is needed by" in summary
    assert 'value="The panel."' not in html  # a text area keeps it as its text
    assert "The panel.</textarea>" in html


async def test_the_decision_is_shown_in_words(web: Web) -> None:
    await web.login("dby.police")
    status, _, html = await _send(web, action="check")
    assert status == 200
    start = html.index('id="decision"')
    panel = html[start : html.index("</section>", start)]
    assert 'id="decision-outcome" data-outcome="PERMIT">Allowed<' in panel
    technical = panel.index('id="decision-technical"')
    # Codes and rule ids only inside "Technical details".
    for code in ("PERMIT", "proportionality.housing.level-2", "cja2003-s325"):
        assert code not in panel[:technical].replace('data-outcome="PERMIT"', ""), code
    assert "proportionality.housing.level-2" in panel[technical:]
    for test in ("Lawful authority", "Necessary", "Proportionate", "Secure", "Accountable"):
        assert f'<dt class="govuk-summary-list__key">{test}</dt>' in panel


async def test_lawful_bases_that_would_be_refused_say_why(web: Web) -> None:
    await web.login("dby.police")
    status, _, html = await _send(web, action="check", purpose="risk-management")
    assert status == 200
    options = dict(
        re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', _select(html, "lawful_basis"))
    )
    housing = "Derby City Council Housing Options"
    # The common law power reaches third parties only; s11 serves safeguarding children only.
    assert f"(not for {housing}; not for the purpose" in options["common-law"]
    assert (
        "not for the purpose managing the risk an offender poses"
        in options["children-act-2004-s11"]
    )
    assert htmllib.unescape(options["cja2003-s325"]) == (
        web.hub.policy.current.lawful_bases["cja2003-s325"].label
    )


def _select(html: str, name: str) -> str:
    start = html.index(f'name="{name}"')
    return html[start : html.index("</select>", start)]


async def test_a_request_form_is_not_asked_its_necessity_statement_twice(web: Web) -> None:
    await web.login("dby.probation")
    status, _, html = await fetch(web.client, "/compose?type=request-for-information")
    assert status == 200
    for part in ("why", "who", "use"):
        assert f'name="necessity_{part}"' not in html
    assert 'id="necessity-from-form"' in html
    assert "‘Purpose of request’, ‘Who needs access’ and ‘How it will be used’" in html


async def test_a_disclosure_proposal_asks_each_lawful_basis_once_from_the_catalogue(
    web: Web,
) -> None:
    await web.login("dby.police")
    status, _, html = await fetch(web.client, "/compose?type=disclosure-proposal")
    assert status == 200
    assert html.count('name="lawful_basis"') == 1 and html.count('name="f.lawful_basis"') == 1
    assert '<input class="govuk-input" id="f-lawful_basis"' not in html  # no free text
    policy = web.hub.policy.current
    disclosure = dict(
        re.findall(
            r'<option value="([^"]*)"[^>]*>([^<]*)</option>', _select(html, "f.lawful_basis")
        )
    )
    # The bases a police force may rely on to tell a third party, in the catalogue's words.
    assert set(disclosure) - {""} == {"common-law", "cja2003-s327a"}
    assert htmllib.unescape(disclosure["common-law"]) == policy.lawful_bases["common-law"].label
    assert 'value="common-law" selected' in _select(html, "f.lawful_basis")  # the schema default
    assert "Lawful basis for sending this proposal" in html
    assert "Lawful basis for the disclosure" in html


def test_stored_forms_name_their_fields_as_the_compose_page_does() -> None:
    """fields.html names fields (``show``) with the words formfields gives the compose page."""
    from hub.web.render import make_environment

    module = make_environment().get_template("fields.html").module
    assert dict(module.FIELD_NAMES) == formfields.FIELD_LABELS  # type: ignore[attr-defined]


def test_a_stored_form_is_shown_in_the_order_its_form_asks() -> None:
    """Stored documents are canonical JSON (keys sorted); read back, they follow the form."""
    stored = {
        "actions": [{"outcome": "", "description": "Find a tenancy.", "deadline": "2026-12-04"}],
        "chair": "Priya Shah",
        "meeting_date": "2026-11-20",
        "risk_management_plan": {"victim_safety_planning": "VLO", "supervision": "Weekly"},
        "unknown_to_the_form": "kept, last",
    }
    ordered = formfields.in_form_order("mappa-hub/form/minutes/v1", stored)
    assert list(ordered) == [
        "meeting_date",
        "chair",
        "risk_management_plan",
        "actions",
        "unknown_to_the_form",
    ]
    assert list(ordered["risk_management_plan"]) == ["supervision", "victim_safety_planning"]
    assert list(ordered["actions"][0]) == ["description", "deadline", "outcome"]
    assert formfields.in_form_order("someone/else/entirely", stored) == stored
