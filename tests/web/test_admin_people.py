"""An agency admin's people page: the agency's people only, a sign-out everywhere and a reset of
the authenticator app (both on the log with the admin as the actor), then the person setting up
the new app at their next sign-in, through the real pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp

from hub.crypto import totp
from hub.store import ledger as ledger_store
from hub.web.qr import qr_svg
from tests.web.conftest import Web, csrf_from, fetch, post


async def _events(web: Web, since: int) -> list[tuple[str, int | None]]:
    async with web.hub.db.read() as conn:
        rows = [dict(r) async for r in ledger_store.stream_entries(conn)][since:]
    return [(r["event"], r["actor_user_id"]) for r in rows]


async def _user_id(web: Web, username: str) -> int:
    return next(u.id for u in await web.hub.directory.users() if u.username == username)


async def test_the_page_lists_the_admins_own_agency_and_signs_a_person_out(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    web.clock.advance(timedelta(seconds=30))
    admin = await web.login("dby.admin", await web.new_client())
    status, _, html = await fetch(admin, "/admin/people")
    assert status == 200 and 'id="people-link"' in html
    assert "dby.police" in html and "dby.housing" not in html  # another agency's
    assert "system." not in html  # token accounts are not people
    target = await _user_id(web, "dby.police")
    assert re.search(rf'id="sessions-{target}">1 device<', html)
    seq = await web.ledger_seq()

    status, location, _ = await post(
        admin, f"/admin/people/{target}/sign-out", {"_csrf": csrf_from(html)}
    )
    assert (status, location) == (303, f"/admin/people?done=signed-out&person={target}")
    status, _, html = await fetch(admin, location)
    assert "DS Mark Ellis is signed out everywhere." in html
    assert (await fetch(police, "/inbox"))[:2] == (303, "/login")
    admin_id = await _user_id(web, "dby.admin")
    assert await _events(web, seq) == [("sign-out-forced", admin_id)]

    # Another agency's person is not found; a person who is not an admin is refused.
    housing = await _user_id(web, "dby.housing")
    status, _, _ = await post(
        admin, f"/admin/people/{housing}/sign-out", {"_csrf": csrf_from(html)}
    )
    assert status == 404
    assert (await fetch(police, "/admin/people"))[0] in (303,)  # signed out: to the sign-in page
    web.clock.advance(timedelta(seconds=30))
    police = await web.login("dby.police", police)
    status, _, page = await fetch(police, "/admin/people")
    assert status == 403
    status, _, _ = await post(
        police, f"/admin/people/{target}/sign-out", {"_csrf": csrf_from(page)}
    )
    assert status == 403
    assert await _events(web, seq) == [("sign-out-forced", admin_id)]


async def test_a_reset_authenticator_is_set_up_again_at_the_next_sign_in(web: Web) -> None:
    admin = await web.login("dby.admin", await web.new_client())
    _, _, html = await fetch(admin, "/admin/people")
    admin_id, target = await _user_id(web, "dby.admin"), await _user_id(web, "dby.police")
    assert f'id="reset-{admin_id}"' not in html  # not offered for themselves
    status, _, _ = await post(
        admin, f"/admin/people/{admin_id}/reset-authenticator", {"_csrf": csrf_from(html)}
    )
    assert status == 403
    assert (await fetch(admin, f"/admin/people/{admin_id}/reset-authenticator"))[0] == 403
    # The list's button opens a page that asks first, naming the person; nothing is reset yet.
    seq = await web.ledger_seq()
    assert f'href="/admin/people/{target}/reset-authenticator"' in html
    status, _, confirm = await fetch(admin, f"/admin/people/{target}/reset-authenticator")
    assert status == 200 and "Are you sure you want to reset their authenticator app?" in confirm
    assert "DS Mark Ellis" in confirm and "within 24 hours" in confirm
    assert await _events(web, seq) == []
    status, location, _ = await post(
        admin, f"/admin/people/{target}/reset-authenticator", {"_csrf": csrf_from(confirm)}
    )
    assert status == 303
    _, _, html = await fetch(admin, location)
    assert "authenticator app is reset" in html and "within 24 hours" in html
    assert "Reset: to be set up by" in html
    assert await _events(web, seq) == [("second-factor-reset", admin_id)]

    # At their next sign-in the person is shown the new key and confirms a code from it.
    person = await web.new_client()
    web.clock.advance(timedelta(seconds=30))
    status, location, _ = await web.password_step(person, "dby.police")
    assert (status, location) == (303, "/login/totp")
    status, _, html = await fetch(person, "/login/totp")
    assert status == 200 and "Set up your authenticator app" in html
    uri = re.search(r'href="(otpauth://[^"]+)"', html)
    assert uri is not None
    secret = pyotp.parse_uri(uri.group(1).replace("&amp;", "&")).secret
    shown = re.search(r'id="secret">([A-Z2-7 ]+)<', html)
    assert shown is not None and shown.group(1).replace(" ", "") == secret
    # The QR code to scan encodes that same link, and has a name for screen readers.
    qr = qr_svg(
        uri.group(1).replace("&amp;", "&"), "QR code for adding MAPPA Hub to your authenticator app"
    )
    assert str(qr) in html and '<svg role="img"' in html
    # The old app's code does not set it up.
    old = web.totp_code("dby.police")
    status, _, html = await post(person, "/login/totp", {"_csrf": csrf_from(html), "code": old})
    assert status == 401 and "Set up your authenticator app" in html
    code = totp.code_at(secret, web.clock.now())
    status, _, html = await post(person, "/login/totp", {"_csrf": csrf_from(html), "code": code})
    assert status == 200 and "Your authenticator app is set up" in html
    assert len(re.findall(r"<code>[0-9a-z]{5}-[0-9a-z]{5}</code>", html)) == 10
    assert (await fetch(person, "/inbox"))[0] == 200
    assert [e for e, _ in await _events(web, seq + 1)] == [
        "second-factor-enrolled",
        "recovery-codes-issued",
    ]
