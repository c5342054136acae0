"""Saved drafts over HTTP: the Drafts page, resuming a draft with every field as it was typed,
deleting one, nobody but its author reaching it, and an expired session losing no more than the
work since the last check or save."""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta
from html.parser import HTMLParser

import aiohttp
import pytest

from hub.model.packets import AttachmentIn, PacketType
from hub.services.saved_drafts import DraftContent
from tests.conftest import actor_for
from tests.web.conftest import Client, Web, compose_form, csrf_from, fetch, post

REPORT = bytes(range(256)) * 8
NOTE_FIELDS = {
    "subject": "Licence breach: exclusion zone",
    "body": "Seen twice near the school gates on Tuesday.\nPolice were told at 16:05.",
    "purpose": "public-protection",
    "lawful_basis": "cja2003-s325",
}
NECESSITY = {
    "why": "Housing must know before offering him the flat near the school.",
    "who": "The housing options manager and the allocations officer only.",
    "use": "To decide the offer; recorded on the restricted housing file.",
}
# MAPPA B minutes as typed into the generated form: a date as three boxes, rows, yes/no, a level.
MINUTES = {
    "f.meeting_date-day": "20",
    "f.meeting_date-month": "11",
    "f.meeting_date-year": "2026",
    "f.meeting_level": "2",
    "f.chair": "Priya Shah (MAPPA Coordinator)",
    "f.attendance.0.agency": "DBY-POLICE",
    "f.attendance.0.role": "Chair",
    "f.attendance.0.attended": "yes",
    "f.attendance.3.agency": "DBY-HOUSING",
    "f.attendance.3.role": "Housing options officer",
    "f.attendance.3.required": "no",
    "f.attendance.3.attended": "no",
    "f.lead_agency": "DBY-PROBATION",
    "f.risk_management_plan.supervision": "Weekly appointments with the offender manager.",
    "f.actions.1.description": "Find move-on accommodation away from the school.",
    "f.actions.1.owner_agency": "DBY-HOUSING",
    "f.actions.1.deadline-day": "4",
    "f.actions.1.deadline-month": "12",
    "f.actions.1.deadline-year": "2026",
    "f.disclosure_considered": "no",
    "f.next_review_date-day": "12",
    "f.next_review_date-month": "2",
    "f.next_review_date-year": "2027",
}


class _ComposeControls(HTMLParser):
    """What a browser submits from the compose form: each control with its shown value."""

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
        if tag == "input" and a.get("type", "text") not in ("file", "submit", "radio"):
            if a.get("type") != "checkbox" or "checked" in a:
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
            # A browser drops the one newline that follows <textarea>.
            self.fields.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


async def _controls(client: Client, path: str) -> list[tuple[str, str]]:
    status, _, html = await fetch(client, path)
    assert status == 200, path
    parser = _ComposeControls()
    parser.feed(html)
    return parser.fields


def _as_posted(pairs: list[tuple[str, str]], action: str) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in pairs:
        if name != "action":
            form.add_field(name, value)
    form.add_field("action", action)
    return form


async def _save(web: Web, client: Client, **fields: object) -> str:
    """Save a draft through the compose form; its id."""
    form = compose_form(await web.compose_csrf(client), action="save", **fields)  # type: ignore[arg-type]
    status, location, html = await post(client, "/compose", form)
    assert status == 303, html
    match = re.fullmatch(r"/compose\?draft=([0-9a-f-]{36})&saved=1", location)
    assert match, location
    return match.group(1)


async def _note(web: Web) -> dict[str, object]:
    return {
        "case": await web.case_id("Harlow"),
        "recipients": [await web.agency_id("DBY-HOUSING"), await web.agency_id("DBY-PROBATION")],
        "categories": ("address", "risk-summary", "victim-address"),
        "necessity": NECESSITY,
        "attachments": [("report.bin", REPORT), ("zone.txt", b"500 m around the school\n")],
        "extra": {
            "schedule1_condition": "sch1-para10",
            "restricted_reason": "Housing must keep him away from the victim's street.",
        },
        **NOTE_FIELDS,
    }


async def _resave(web: Web, client: Client, draft_id: str) -> DraftContent:
    """Resume the draft as a browser shows it, save it again untouched; what it then holds."""
    pairs = await _controls(client, f"/compose?draft={draft_id}")
    assert ("draft_id", draft_id) in pairs
    status, location, _ = await post(client, "/compose", _as_posted(pairs, "save"))
    assert (status, location) == (303, f"/compose?draft={draft_id}&saved=1")
    police = await actor_for(web.hub, "dby.police")
    return (await web.hub.saved_drafts.open(police, draft_id)).content


async def test_resuming_a_note_round_trips_every_field(web: Web) -> None:
    client = await web.login("dby.police")
    draft_id = await _save(web, client, **await _note(web))
    police = await actor_for(web.hub, "dby.police")
    saved = (await web.hub.saved_drafts.open(police, draft_id)).content
    assert saved == DraftContent(
        packet_type=PacketType.NOTE,
        case_id=await web.case_id("Harlow"),
        recipient_agency_ids=tuple(
            sorted([await web.agency_id("DBY-HOUSING"), await web.agency_id("DBY-PROBATION")])
        ),
        subject=NOTE_FIELDS["subject"],
        body=NOTE_FIELDS["body"],
        purpose="public-protection",
        lawful_basis="cja2003-s325",
        schedule1_condition="sch1-para10",
        restricted_reason="Housing must keep him away from the victim's street.",
        data_categories=("address", "risk-summary", "victim-address"),
        necessity=NECESSITY,
        form=None,
        attachments=(
            AttachmentIn("report.bin", "text/plain", REPORT),
            AttachmentIn("zone.txt", "text/plain", b"500 m around the school\n"),
        ),
    )

    assert await _resave(web, client, draft_id) == saved


async def test_resuming_a_typed_form_round_trips_dates_rows_and_choices(web: Web) -> None:
    client = await web.login("dby.police")
    # Typed into the minutes form as a browser shows it (rows' preselected choices included).
    pairs = await _controls(client, f"/compose?type=minutes&case={await web.case_id('Harlow')}")
    typed = {
        **MINUTES,
        "recipients": str(await web.agency_id("DBY-PROBATION")),
        "subject": "Minutes: level 2, 20 November 2026",
    }
    shown = {name for name, _ in pairs}
    pairs = [(name, typed.get(name, value)) for name, value in pairs]
    pairs += [(name, value) for name, value in typed.items() if name not in shown]
    status, location, html = await post(client, "/compose", _as_posted(pairs, "save"))
    assert status == 303, html
    draft_id = location.removeprefix("/compose?draft=").removesuffix("&saved=1")
    police = await actor_for(web.hub, "dby.police")
    saved = (await web.hub.saved_drafts.open(police, draft_id)).content
    assert saved.packet_type is PacketType.MINUTES
    assert saved.form == {
        "meeting_date": "2026-11-20",
        "meeting_level": 2,
        "chair": "Priya Shah (MAPPA Coordinator)",
        "attendance": [
            {"agency": "DBY-POLICE", "role": "Chair", "required": True, "attended": True},
            {
                "agency": "DBY-HOUSING",
                "role": "Housing options officer",
                "required": False,
                "attended": False,
            },
        ],
        "lead_agency": "DBY-PROBATION",
        "risk_management_plan": {"supervision": "Weekly appointments with the offender manager."},
        "actions": [
            {
                "description": "Find move-on accommodation away from the school.",
                "owner_agency": "DBY-HOUSING",
                "deadline": "2026-12-04",
            }
        ],
        "disclosure_considered": False,
        "next_review_date": "2027-02-12",
    }
    status, _, page = await fetch(client, f"/compose?draft={draft_id}")
    assert status == 200
    assert 'name="f.meeting_date-day" type="text" value="20"' in page
    assert 'name="f.next_review_date-month" type="text" value="2"' in page

    assert await _resave(web, client, draft_id) == saved


async def test_the_drafts_page_lists_resumes_and_deletes(web: Web) -> None:
    client = await web.login("dby.police")
    draft_id = await _save(web, client, **await _note(web))
    untitled = await _save(
        web, client, case="", recipients=[], subject="", body="Only a line of body so far."
    )

    status, _, html = await fetch(client, "/drafts")
    assert status == 200
    assert html.index(f'id="draft-{untitled}"') < html.index(f'id="draft-{draft_id}"')
    row = html[
        html.index(f'id="draft-{draft_id}"') : html.index(
            "</tr>", html.index(f'id="draft-{draft_id}"')
        )
    ]
    harlow = await web.hub.cases.get(None, await web.case_id("Harlow"))
    assert f'href="/compose?draft={draft_id}"' in row
    assert htmllib.escape(NOTE_FIELDS["subject"]) in row
    assert ">Note<" in row and harlow.reference in row and "2 attachments" in row
    assert "23 November 2026 at" in row  # when it was last saved
    assert "Untitled draft" in html and "Not chosen" in html

    status, location, _ = await post(
        client, f"/drafts/{draft_id}/delete", {"_csrf": csrf_from(html)}
    )
    assert (status, location) == (303, "/drafts?deleted=1")
    status, _, html = await fetch(client, location)
    assert 'id="draft-deleted"' in html
    assert f'id="draft-{draft_id}"' not in html and f'id="draft-{untitled}"' in html
    assert (await fetch(client, f"/compose?draft={draft_id}"))[0] == 404


async def test_deleting_needs_the_csrf_token(web: Web) -> None:
    client = await web.login("dby.police")
    draft_id = await _save(web, client, **await _note(web))
    for form in ({}, {"_csrf": "forged"}):
        status, _, _ = await post(client, f"/drafts/{draft_id}/delete", form)
        assert status == 403
    police = await actor_for(web.hub, "dby.police")
    assert [d.id for d in await web.hub.saved_drafts.list(police)] == [draft_id]


@pytest.mark.parametrize("other", ["dby.coordinator", "dby.housing", "nts.police"])
async def test_nobody_else_opens_deletes_or_sends_a_draft(web: Web, other: str) -> None:
    owner = await web.login("dby.police")
    draft_id = await _save(web, owner, **await _note(web))
    intruder = await web.login(other, await web.new_client())

    status, _, html = await fetch(intruder, f"/compose?draft={draft_id}")
    assert status == 404
    assert NOTE_FIELDS["subject"] not in html
    status, _, html = await fetch(intruder, "/drafts")
    assert status == 200 and draft_id not in html
    status, _, _ = await post(intruder, f"/drafts/{draft_id}/delete", {"_csrf": csrf_from(html)})
    assert status == 404

    # Naming the draft in one's own compose form brings none of its attachments.
    form = compose_form(
        await web.compose_csrf(intruder),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-PROBATION")],
        action="check",
        extra={"draft_id": draft_id},
    )
    status, _, html = await post(intruder, "/compose", form)
    assert "Your saved draft was not found" in html
    assert "report.bin" not in html and draft_id not in html

    police = await actor_for(web.hub, "dby.police")
    assert (await web.hub.saved_drafts.open(police, draft_id)).content.attachments[0].data == REPORT


async def test_a_role_that_cannot_send_has_no_drafts(web: Web) -> None:
    auditor = await web.login("dby.auditor")
    assert (await fetch(auditor, "/drafts"))[0] == 403


async def test_an_expired_session_keeps_the_work_saved_by_the_last_check(web: Web) -> None:
    client = await web.login("dby.police")
    form = compose_form(
        await web.compose_csrf(client),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        subject="Checked, then left open too long",
        action="check",
        attachments=[("zone.txt", b"500 m")],
    )
    status, _, checked = await post(client, "/compose", form)
    assert status == 200

    web.clock.advance(timedelta(minutes=31))
    later = compose_form(
        csrf_from(checked),
        case=await web.case_id("Harlow"),
        recipients=[await web.agency_id("DBY-HOUSING")],
        subject="Typed after the check",
    )
    status, location, _ = await post(client, "/compose", later)
    assert (status, location) == (303, "/login?expired=1")

    web.clock.advance(timedelta(seconds=30))  # a TOTP code signs in once: the next one
    await web.login("dby.police", client)
    status, _, html = await fetch(client, "/compose")
    assert status == 200
    assert 'id="drafts-reminder"' in html and "You have 1 saved draft." in html
    police = await actor_for(web.hub, "dby.police")
    [draft] = await web.hub.saved_drafts.list(police)
    status, _, resumed = await fetch(client, f"/compose?draft={draft.id}")
    assert 'value="Checked, then left open too long"' in resumed
    assert "Remove zone.txt (5 bytes)" in resumed
