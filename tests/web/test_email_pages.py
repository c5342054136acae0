"""The email pages: each person's notification settings, and the agency admin's queue of emails
with its dead letters (retry), over the running app with CSRF, as people use them."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from hub.errors import NotFound
from hub.model.directory import Role
from hub.services import notices
from hub.store import email_outbox as outbox
from hub.store.schema import email_outbox
from tests.conftest import actor_for, agency_id
from tests.web.conftest import Client, Web, csrf_from, fetch, post

ADDRESS = "aisha.khan@housing.derby.example"


async def _as(web: Web, username: str) -> Client:
    return await web.login(username, await web.new_client())


async def test_settings_show_the_address_and_save_choices(web: Web) -> None:
    await web.hub.notices.set_email("dby.housing", ADDRESS)
    housing = await _as(web, "dby.housing")
    status, _, html = await fetch(housing, "/notification-settings")
    assert status == 200
    assert f"Emails go to <strong>{ADDRESS}</strong>" in html
    assert html.count('type="radio"') == 3 + 3 + 3 + 2  # overdue has no "Off"
    assert 'id="overdue-3"' not in html and 'value="off"' in html
    assert 'href="/notification-settings"' in html  # in the menu

    chosen = {"new-packets": "digest", "requests-due": "off", "decisions": "immediate"}
    status, location, _ = await post(
        housing,
        "/notification-settings",
        {"_csrf": csrf_from(html), **chosen, "overdue": "digest"},
    )
    assert (status, location) == (303, "/notification-settings?saved=1")
    settings = await web.hub.notices.settings(await actor_for(web.hub, "dby.housing"))
    assert {g.value: m for g, m in settings.modes.items()} == {**chosen, "overdue": "digest"}
    status, _, html = await fetch(housing, location)
    assert 'id="notice"' in html


async def test_overdue_cannot_be_switched_off_and_nothing_typed_is_lost(web: Web) -> None:
    housing = await _as(web, "dby.housing")
    _, _, html = await fetch(housing, "/notification-settings")
    assert 'id="no-email"' in html  # no address yet: said plainly
    status, _, html = await post(
        housing,
        "/notification-settings",
        {
            "_csrf": csrf_from(html),
            "new-packets": "off",
            "requests-due": "digest",
            "decisions": "digest",
            "overdue": "off",
        },
    )
    assert status == 400
    assert 'id="settings-error"' in html and 'href="#overdue"' in html
    assert "cannot be switched off" in html
    assert "<title>Error: Notification settings" in html
    # What was chosen is still chosen.
    assert 'name="new-packets" type="radio" value="off" checked' in html
    settings = await web.hub.notices.settings(await actor_for(web.hub, "dby.housing"))
    assert settings.modes == notices.DEFAULTS


async def test_the_settings_page_is_not_for_admins_and_the_email_page_only_for_them(
    web: Web,
) -> None:
    admin = await _as(web, "dby.admin")
    assert (await fetch(admin, "/notification-settings"))[0] == 403
    housing = await _as(web, "dby.housing")
    assert (await fetch(housing, "/admin/email"))[0] == 403


async def test_the_admin_sees_queued_and_dead_mail_and_retries_a_dead_letter(web: Web) -> None:
    await web.hub.notices.set_email("dby.coordinator", "priya.shah@police.derbyshire.example")
    police_id = await agency_id(web.hub, "DBY-POLICE")
    now = web.hub.clock.now()
    async with web.hub.db.write() as conn:
        waiting = await notices.packets_delivered(conn, [("p-1", None, [police_id])], now)
        assert waiting == 1
        dead = await outbox.enqueue(
            conn,
            outbox.message(
                dedupe_key="minutes-late:item-9:x",
                message_id=outbox.new_message_id("hub.example"),
                kind=outbox.NOTIFICATION,
                event="minutes-late",
                channel="email",
                agency_id=police_id,
                to_address="priya.shah@police.derbyshire.example",
                when=now,
            ),
        )
        assert dead is not None
        await conn.execute(
            update(email_outbox)
            .where(email_outbox.c.id == dead)
            .values(status=outbox.DEAD, attempts=8, last_error="SMTP 451 (SMTPResponseException)")
        )
    admin = await _as(web, "dby.admin")
    status, _, html = await fetch(admin, "/admin/email")
    assert status == 200
    dead_table = html[html.index('id="dead"') : html.index("</table>")]
    assert "Meeting minutes late" in dead_table and "SMTP 451" in dead_table
    assert "priya.shah@police.derbyshire.example" in dead_table
    assert "New packet for the agency" in html[html.index('id="queued"') :]
    assert 'href="/admin/email"' in html  # in the menu

    status, location, _ = await post(
        admin, f"/admin/email/{dead}/retry", {"_csrf": csrf_from(html)}
    )
    assert (status, location) == (303, "/admin/email?retried=1")
    async with web.hub.db.read() as conn:
        row = (
            (await conn.execute(select(email_outbox).where(email_outbox.c.id == dead)))
            .mappings()
            .one()
        )
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    # Not dead any more: a second retry is refused, clearly.
    status, _, html = await post(admin, f"/admin/email/{dead}/retry", {"_csrf": csrf_from(html)})
    assert status == 400 and 'id="email-error"' in html
    # Another agency's admin sees none of it and cannot retry it.
    await web.hub.directory.add_user("dby.housing.admin", "Housing Admin", "DBY-HOUSING",
                                     Role.AGENCY_ADMIN, "correct-horse-battery-staple")  # fmt: skip
    other = await actor_for(web.hub, "dby.housing.admin")
    assert await web.hub.notices.agency_outbox(other) == ([], [])
    with pytest.raises(NotFound):
        await web.hub.notices.retry_dead(other, dead)


async def test_the_letter_form_keeps_what_was_typed_and_sends_once_approved(web: Web) -> None:
    coordinator = await actor_for(web.hub, "dby.coordinator")
    (view,) = await web.hub.disclosures.register(coordinator)
    police = await _as(web, "dby.police")  # the proposer
    _, _, html = await fetch(police, f"/disclosures/{view.id}")
    assert 'id="letter-form"' not in html  # not approved yet: no letter to send
    for username in ("dby.coordinator", "dby.senior"):
        person = await actor_for(web.hub, username)
        if await web.hub.disclosures.may_decide(person, view.id):
            await web.hub.disclosures.decide(person, view.id, "approve", "Necessary to protect.")
    approved = await web.hub.disclosures.get(coordinator, view.id)
    assert (approved.row.status, approved.row.method) == ("approved", "letter")

    _, _, html = await fetch(police, f"/disclosures/{view.id}")
    assert 'id="letter-form"' in html and 'id="to_address"' in html
    letter = "Dear Sir or Madam,\nWe disclose, under the MAPPA guidance, what follows."
    status, _, html = await post(
        police,
        f"/disclosures/{view.id}/letter",
        {"_csrf": csrf_from(html), "to_address": "not an address", "letter_text": letter},
    )
    assert status == 400
    assert 'id="disclosure-error"' in html and 'href="#to_address"' in html
    assert "Enter an email address in the correct format" in html
    assert 'value="not an address"' in html and "We disclose, under the MAPPA guidance" in html
    assert (await web.hub.disclosures.get(coordinator, view.id)).row.status == "approved"

    status, location, _ = await post(
        police,
        f"/disclosures/{view.id}/letter",
        {"_csrf": csrf_from(html), "to_address": "md@acme.example", "letter_text": letter},
    )
    assert (status, location) == (303, f"/disclosures/{view.id}?done=letter")
    assert (await web.hub.disclosures.get(coordinator, view.id)).row.status == "delivered"
    async with web.hub.db.read() as conn:
        [row] = (
            (await conn.execute(select(email_outbox).where(email_outbox.c.kind == "letter")))
            .mappings()
            .all()
        )
    assert row["to_address"] == "md@acme.example"
    assert b"We disclose" not in row["body_sealed"]
