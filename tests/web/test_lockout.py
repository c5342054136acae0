"""Lockout by the username typed: any username, an account's or not, is counted and locked alike,
so the pages say when a lock ends without saying whether the username exists."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.store.schema import login_throttle, users
from hub.web.login import locked_message
from tests.web.conftest import LOGIN_FAILED, Client, Web, fetch

LOCKED_AT_915 = "Too many failed attempts. You can try again at 9:15am."
NOBODY = "dby.nobody"  # no account has this username


def _comparable(html: str, typed: str) -> str:
    """The page less what is expected to differ: the CSRF token and the username typed back."""
    html = re.sub(r'name="_csrf" value="[^"]+"', 'name="_csrf" value=""', html)
    return html.replace(f'value="{typed}"', 'value=""')


async def _fail(web: Web, client: Client, username: str, times: int) -> list[tuple[int, str]]:
    pages = []
    for _ in range(times):
        status, _, html = await web.password_step(client, username, password="not it")
        pages.append((status, _comparable(html, username)))
    return pages


async def test_an_account_and_a_username_nobody_has_lock_alike(web: Web) -> None:
    account, nobody = await web.new_client(), await web.new_client()
    account_pages = await _fail(web, account, "dby.housing", 5)
    nobody_pages = await _fail(web, nobody, NOBODY, 5)
    # Every page, the generic refusals and the one that locks, is the same for both.
    assert account_pages == nobody_pages
    for status, html in account_pages[:4]:
        assert status == 401 and LOGIN_FAILED in html and "Too many" not in html
    status, html = account_pages[4]
    assert status == 401 and LOCKED_AT_915 in html
    assert '<a href="#username">' + LOCKED_AT_915 + "</a>" in html  # the summary links the field
    assert "<title>Error: Sign in - MAPPA Hub</title>" in html

    # Locked: the right password for the account gets exactly what the unknown name gets.
    status, _, locked = await web.password_step(account, "dby.housing")
    status_nobody, _, locked_nobody = await web.password_step(nobody, NOBODY, "anything")
    assert status == status_nobody == 401
    assert _comparable(locked, "dby.housing") == _comparable(locked_nobody, NOBODY)
    assert LOCKED_AT_915 in locked

    # After the lock: the account signs in, the unknown name is refused in the ordinary way.
    web.clock.advance(timedelta(minutes=15, seconds=1))
    await web.login("dby.housing", account)
    assert (await fetch(account, "/inbox"))[0] == 200
    status, _, html = await web.password_step(nobody, NOBODY, "anything")
    assert status == 401 and LOGIN_FAILED in html and "Too many" not in html


async def test_the_throttle_keeps_a_keyed_digest_never_the_username(web: Web) -> None:
    await _fail(web, web.client, "dby.housing", 2)
    await _fail(web, web.client, NOBODY, 1)
    async with web.hub.db.read() as conn:
        rows = {r.username_digest: r.failures for r in await conn.execute(select(login_throttle))}
    assert rows == {
        web.hub.auth.username_digest("dby.housing"): 2,
        web.hub.auth.username_digest(NOBODY): 1,
    }
    for digest in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        # Keyed: not the plain SHA-256 of the name, nor an HMAC under a guessable key.
        for name in ("dby.housing", NOBODY):
            assert digest != hashlib.sha256(name.encode()).hexdigest()
            assert digest != hmac.new(b"", name.encode(), hashlib.sha256).hexdigest()


async def test_case_and_spaces_do_not_make_a_fresh_count(web: Web) -> None:
    for typed in ("DBY.Housing", " dby.housing ", "dby.HOUSING", "Dby.housing"):
        await web.password_step(web.client, typed, password="not it")
    status, _, html = await web.password_step(web.client, "dby.housing", password="not it")
    assert status == 401 and LOCKED_AT_915 in html


async def test_a_successful_sign_in_starts_the_count_again(web: Web) -> None:
    await _fail(web, web.client, "dby.housing", 4)
    await web.login("dby.housing")
    await web.logout()
    web.clock.advance(timedelta(seconds=30))  # the next TOTP step
    for status, html in await _fail(web, web.client, "dby.housing", 4):
        assert status == 401 and LOGIN_FAILED in html and "Too many" not in html
    async with web.hub.db.read() as conn:
        row = (await conn.execute(select(users).where(users.c.username == "dby.housing"))).one()
    assert row.locked_until is None


async def test_wrong_codes_lock_the_username_as_wrong_passwords_do(web: Web) -> None:
    """A lock earned at the code step shows at the password step as any lock does."""
    assert (await web.password_step(web.client, "dby.housing"))[0] == 303
    await _fail(web, await web.new_client(), "dby.housing", 3)  # elsewhere, wrong passwords
    valid = {web.totp_code("dby.housing", timedelta(seconds=s)) for s in (-30, 0, 30)}
    wrong = [f"{n:06d}" for n in range(10) if f"{n:06d}" not in valid][:2]
    status, _, _ = await web.totp_step(web.client, wrong[0])
    assert status == 401
    status, _, html = await web.totp_step(web.client, wrong[1])  # the fifth failure in all
    assert status == 401 and LOCKED_AT_915 in html
    status, _, html = await web.password_step(web.client, "dby.housing")
    assert status == 401 and LOCKED_AT_915 in html


def test_the_lock_ends_in_uk_time_with_the_date_when_not_today() -> None:
    summer = datetime(2026, 7, 1, 14, 30, tzinfo=UTC)  # 3:30pm BST
    assert locked_message(summer + timedelta(minutes=15), summer) == (
        "Too many failed attempts. You can try again at 3:45pm."
    )
    late = datetime(2026, 12, 2, 23, 50, tzinfo=UTC)
    assert locked_message(late + timedelta(minutes=15), late) == (
        "Too many failed attempts. You can try again at 12:05am on 3 December 2026."
    )
