"""Auditors see who consulted or disclosed what about a case, and what a user did - never the
content - limited to their own area; everyone else is refused."""

from __future__ import annotations

import re
from datetime import timedelta

from markupsafe import escape

from tests.conftest import actor_for
from tests.web.conftest import Web, fetch

SEEDED_SUBJECT = "Proposed address - suitability check before release"


def _text(html: str) -> str:
    """What the page shows: markup and attribute values (data-event="...") left out."""
    main = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"<[^>]+>", " ", main)


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
    # In words: the policy's decision, the purpose and the event, never their codes.
    purpose = web.hub.policy.current.purposes["risk-management"].label
    assert "Allowed" in html and escape(purpose) in html
    assert ">Packet sent<" in html and ">Packet opened<" in html
    text = _text(html)
    assert "PERMIT" not in text and "risk-management" not in text and "packet-opened" not in text
    assert SEEDED_SUBJECT not in html and "primary school" not in html
    # Nothing the auditor may not open is linked: no case file, no packet.
    assert 'href="/cases/' not in html and 'href="/packets/' not in html

    status, _, html = await fetch(web.client, f"/audit/users/{housing.user.id}")
    assert status == 200 and 'data-event="packet-opened"' in html
    # The person's report links the case to its own access report, which the auditor may open.
    assert f'href="/audit/cases/{packet.case_id}"' in html
    assert 'href="/cases/' not in html and 'href="/packets/' not in html
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


async def test_reports_narrow_by_date_and_event_and_the_overview_by_name(web: Web) -> None:
    housing = await actor_for(web.hub, "dby.housing")
    packet = (await web.hub.packets.inbox(housing))[0]
    await web.hub.packets.open(housing, packet.id)
    await web.login("dby.auditor")
    path = f"/audit/cases/{packet.case_id}"

    status, _, html = await fetch(web.client, f"{path}?event=packet-opened")
    assert status == 200
    assert 'data-event="packet-opened"' in html and 'data-event="packet-sent"' not in html
    assert '<option value="packet-opened" selected>' in html  # the filter as chosen

    # The demo's entries are all of 23 November 2026 (the clock's day).
    day = "from-day=23&from-month=11&from-year=2026&to-day=23&to-month=11&to-year=2026"
    status, _, html = await fetch(web.client, f"{path}?{day}")
    assert status == 200 and 'data-event="packet-opened"' in html
    later = "from-day=24&from-month=11&from-year=2026"
    status, _, html = await fetch(web.client, f"{path}?{later}")
    assert status == 200 and 'id="report-empty"' in html and "data-event" not in html

    # A date that is not one is named in an error summary that links its field.
    status, _, html = await fetch(web.client, f"{path}?from-day=31&from-month=2&from-year=2026")
    assert status == 400
    assert "<title>Error: " in html
    assert '<a href="#from-day">The date from must be a real date</a>' in html
    status, _, html = await fetch(web.client, f"{path}?from-day=5&from-year=2026")
    assert '<a href="#from-month">The date from must include a month</a>' in html
    status, _, html = await fetch(
        web.client,
        f"{path}?from-day=5&from-month=12&from-year=2026&to-day=1&to-month=12&to-year=2026",
    )
    assert "The date to must be the same as or after the date from" in html
    assert "data-event" not in html

    status, _, html = await fetch(web.client, "/audit?q=khan")
    assert status == 200
    assert f'href="/audit/users/{housing.user.id}"' in html
    assert "dby.police" not in html and 'id="no-cases"' in html


async def test_a_message_sent_out_of_the_hub_shows_its_channel_and_address(web: Web) -> None:
    """Entry v4: the report says in words how a message left and to whom."""
    from hub.ledger.entries import Action, Event, Record
    from hub.services import ledger

    housing = await actor_for(web.hub, "dby.housing")
    case_id = (await web.hub.packets.inbox(housing))[0].case_id

    def sent(event: Event, channel: str, address: str | None) -> Record:
        return Record(
            action=Action.DISCLOSURE, event=event, recorded_at=web.clock.now(),
            actor_user_id=None, actor_agency_id=None, purpose="risk-management",
            lawful_basis="cja2003-s325", case_id=case_id, content_digest="ab" * 32,
            channel=channel, recipient_address=address,
        )  # fmt: skip

    async with web.hub.db.write() as conn:
        await ledger.append_many(
            conn,
            [
                sent(Event.EMAIL_SENT, "email", "a.person@agency.example"),
                sent(Event.LETTER_SENT, "letter", None),
            ],
        )
    await web.login("dby.auditor")
    status, _, html = await fetch(web.client, f"/audit/cases/{case_id}")
    assert status == 200
    cells = {
        event: [
            " ".join(_text(f"<main>{c}</main>").split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        for event, row in re.findall(
            r'<tr class="govuk-table__row" data-event="([a-z-]+)">(.*?)</tr>', html, re.S
        )
    }
    assert cells["email-sent"][4] == "Email to a.person@agency.example"  # the Recipients column
    assert cells["letter-sent"][4] == "Letter"
    assert cells["packet-sent"][4] != "" and "Letter" not in cells["packet-sent"][4]

    # Narrowed to e-mails: the filter is kept, in words, and only e-mails are listed.
    status, _, html = await fetch(web.client, f"/audit/cases/{case_id}?event=email-sent")
    assert status == 200
    assert '<option value="email-sent" selected>Email sent</option>' in html
    assert re.findall(r'data-event="([a-z-]+)"', html) == ["email-sent"]
    status, _, html = await fetch(web.client, f"/audit/cases/{case_id}?event=letter-sent")
    assert re.findall(r'data-event="([a-z-]+)"', html) == ["letter-sent"]
    assert ">Disclosure letter sent<" in html


async def test_the_event_filter_offers_words_and_refuses_what_it_does_not_offer(web: Web) -> None:
    housing = await actor_for(web.hub, "dby.housing")
    case_id = (await web.hub.packets.inbox(housing))[0].case_id
    await web.login("dby.auditor")
    path = f"/audit/cases/{case_id}"
    status, _, html = await fetch(web.client, path)
    assert status == 200
    select = html[html.index('name="event"') : html.index("</select>")]
    offered = dict(re.findall(r'<option value="([a-z-]*)"[^>]*>([^<]*)</option>', select))
    assert offered.pop("") == "Anything"
    assert "email-sent" in offered and "letter-sent" in offered
    assert all(words and words != code for code, words in offered.items())  # never a code
    # The hub's own events name no case and no person: a report narrowed to one would be empty.
    assert "peer-pinned" not in offered and "checkpoint-cosigned" not in offered
    assert "keys-issued" not in offered and "account-created" not in offered

    # Not on the list (an edited link): said, next to the field, with the dates kept as typed;
    # not silently dropped to show everything.
    dates = "from-day=23&from-month=11&from-year=2026"
    for event in ("peer-pinned", "no-such-event", "<b>x</b>"):
        status, _, html = await fetch(web.client, f"{path}?event={event}&{dates}")
        assert status == 400
        assert '<a href="#event">Choose what happened from the list</a>' in html
        assert "Correct the filters to see the report." in html and "data-event" not in html
        assert 'id="from-day" name="from-day" type="text" value="23"' in html
        assert 'id="event-error"' in html and "govuk-select--error" in html
        assert "<b>x</b>" not in html
