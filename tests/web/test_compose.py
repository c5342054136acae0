"""Composing a packet through the browser: success, escaping, and refusals that write nothing."""

from __future__ import annotations

import html as htmllib
from typing import Any

import pytest

from hub.config import Limits
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
    "no recipients": ({"recipients": []}, 400, "Choose at least one recipient agency."),
    "unknown recipient": (
        {"recipients": ["99999"]},
        400,
        "One or more recipient agencies do not exist.",
    ),
    "recipient not a number": ({"recipients": ["housing"]}, 400, "Unknown recipient."),
    "own agency as recipient": (
        {"recipients": ["{DBY-POLICE}"]},
        400,
        "Your own agency already holds what you send.",
    ),
    "unknown case": ({"case": "99999"}, 400, "Unknown case."),
    "case of another area": ({"case": "{Booth}"}, 400, "Unknown case."),
    "case not a number": ({"case": "Harlow"}, 400, "Choose a case."),
    "purpose not in catalogue": ({"purpose": "curiosity"}, 400, "Choose a purpose from the list."),
    "lawful basis not in catalogue": (
        {"lawful_basis": "because"},
        400,
        "Choose a lawful basis from the list.",
    ),
    "control character in subject": (
        {"subject": "Address\x07check"},
        400,
        "The subject cannot contain control characters.",
    ),
    "empty subject": ({"subject": "   "}, 400, "The subject is required."),
    "subject too long": ({"subject": "s" * 201}, 400, "longer than 200 characters"),
    "empty body": ({"body": "  \n "}, 400, "The message body is required."),
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
    assert htmllib.escape(message, quote=False) in html
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
    assert f'value="{housing}" data-code="DBY-HOUSING" checked' in html
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
    assert "Attachment big.bin is larger than the limit of 1 MiB." in html
    assert "Attachments, if any, must be chosen again." in html
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
