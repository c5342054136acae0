"""Sign-in throttling (hub.services.login_throttle): any username, an account's or not, is counted
and slowed alike; a stranger's flood never keeps the owner out for longer than the cap, and never
at all on a browser the owner has signed in with; one address guessing across usernames is slowed
on its own."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from hub.demo import seed
from hub.services.login_throttle import Client as ThrottleClient
from hub.services.login_throttle import SignInThrottled, wait_after
from hub.store.schema import login_throttle
from hub.web.app import build_app
from hub.web.login import wait_message
from hub.wiring import Hub, initialise
from tests.conftest import TickingClock, make_config
from tests.web.conftest import LOGIN_FAILED, Client, Web, csrf_from, fetch, post

NOBODY = "dby.nobody"  # no account has this username
DEVICE = "__Host-mappa-device"
CAP = timedelta(minutes=15)
_WAIT = re.compile(r"Too many failed attempts\. (?:Wait (\d+) seconds?|You can try again at)")


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


@pytest.fixture
async def proxied(tmp_path: Path, sqlite_url: str, clock: TickingClock) -> AsyncIterator[Web]:
    """The demo behind a trusted reverse proxy on loopback: X-Forwarded-For names the client."""
    async with AsyncExitStack() as stack:
        config = make_config(tmp_path / "data", sqlite_url)
        config = dataclasses.replace(config, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
        await initialise(config)
        hub = await Hub.open(config, clock)
        stack.push_async_callback(hub.close)
        logins = {login.username: login for login in await seed(hub)}
        server = TestServer(build_app(hub))
        await server.start_server()
        stack.push_async_callback(server.close)
        web = Web(hub, clock, logins, server, client=None, _stack=stack)  # type: ignore[arg-type]
        web.client = await web.new_client()
        yield web


async def test_an_account_and_a_username_nobody_has_are_slowed_alike(web: Web) -> None:
    account, nobody = await web.new_client(), await web.new_client()
    account_pages = await _fail(web, account, "dby.housing", 6)
    nobody_pages = await _fail(web, nobody, NOBODY, 6)
    # Every page, the refusals and the one that says wait, is the same for both.
    assert account_pages == nobody_pages
    for status, html in account_pages[:5]:
        assert status == 401 and LOGIN_FAILED in html and "Too many" not in html
    status, html = account_pages[5]
    wait = "Too many failed attempts. Wait 1 second, then try again."
    assert status == 401 and wait in html
    assert '<a href="#username">' + wait + "</a>" in html  # the summary links the field
    assert "<title>Error: Sign in - MAPPA Hub</title>" in html

    # After the wait: the account signs in, the unknown name is refused in the ordinary way.
    web.clock.advance(timedelta(seconds=1))
    await web.login("dby.housing", account)
    assert (await fetch(account, "/inbox"))[0] == 200
    status, _, html = await web.password_step(nobody, NOBODY, "anything")
    assert status == 401 and LOGIN_FAILED in html and "Too many" not in html


async def test_the_throttle_keeps_keyed_digests_never_the_username(web: Web) -> None:
    await _fail(web, web.client, "dby.housing", 2)
    await _fail(web, web.client, NOBODY, 1)
    async with web.hub.db.read() as conn:
        rows = {r.digest: r.failures for r in await conn.execute(select(login_throttle))}
    # The test client is on loopback with no proxy configured: no address is counted.
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
    for typed in ("DBY.Housing", " dby.housing ", "dby.HOUSING", "Dby.housing", "dby.housing"):
        await web.password_step(web.client, typed, password="not it")
    status, _, html = await web.password_step(web.client, "dby.housing", password="not it")
    assert status == 401 and "Wait 1 second" in html


async def test_a_successful_sign_in_starts_the_count_again(web: Web) -> None:
    await _fail(web, web.client, "dby.housing", 4)
    await web.login("dby.housing")
    await web.logout()
    web.clock.advance(timedelta(seconds=30))  # the next TOTP step
    for status, html in await _fail(web, web.client, "dby.housing", 5):
        assert status == 401 and LOGIN_FAILED in html and "Too many" not in html
    async with web.hub.db.read() as conn:
        rows = list(await conn.execute(select(login_throttle)))
    assert [r.failures for r in rows] == [5]


async def test_a_flood_of_strangers_never_keeps_the_owner_out(proxied: Web) -> None:
    """Strangers guess at dby.housing from many addresses for three hours, as fast as they are
    let. They get ~15 guesses in the first hour and 4 an hour after; the owner's own browser
    signs in at any moment, and a new browser of theirs within the cap."""
    web = proxied
    owner = await web.new_client()
    await web.login("dby.housing", owner)  # this browser now has a device cookie
    assert any(c.key == DEVICE for c in owner.session.cookie_jar)
    await web.logout(owner)

    checked: list[datetime] = []
    longest = timedelta(0)
    attacker = await web.new_client()  # never signs in, so never has a device cookie
    end = web.clock.now() + timedelta(hours=3)
    n = 0
    while web.clock.now() < end:
        n += 1
        address = f"198.51.100.{n % 250 + 1}"  # a botnet: another address each time
        _, _, html = await _attempt(web, attacker, "dby.housing", f"guess-{n}", address)
        if _WAIT.search(html) is None:
            assert LOGIN_FAILED in html
            checked.append(web.clock.now())
            continue
        # Refused unchecked: come back when told (the attacker's best), on the test clock.
        until = _until(html, web.clock.now())
        longest = max(longest, until - web.clock.now())
        web.clock.advance(until - web.clock.now())

    first_hour = [t for t in checked if t < checked[0] + timedelta(hours=1)]
    last_hour = [t for t in checked if t >= end - timedelta(hours=1)]
    assert len(first_hour) <= 20
    assert len(last_hour) <= 5
    # As a person reads it (to the minute, rounded up), no wait is longer than the cap; the
    # server's own wait never is.
    assert longest <= CAP + timedelta(minutes=1)
    async with web.hub.db.read() as conn:
        for row in await conn.execute(select(login_throttle)):
            assert row.not_before is None or row.not_before - row.updated_at <= CAP
    # The owner's browser (device cookie) is not slowed by any of it.
    await web.login("dby.housing", owner)
    assert (await fetch(owner, "/inbox"))[0] == 200
    await web.logout(owner)
    # A browser the owner never used, coming just after a stranger's guess, waits the cap (no
    # longer), then gets in.
    while _WAIT.search(html := (await _attempt(web, attacker, "dby.housing", "x", "192.0.2.1"))[2]):
        web.clock.advance(_until(html, web.clock.now()) - web.clock.now())
    fresh = await web.new_client()
    status, _, html = await web.password_step(fresh, "dby.housing")
    assert status == 401
    wait = _until(html, web.clock.now()) - web.clock.now()
    assert CAP - timedelta(seconds=5) <= wait <= CAP + timedelta(minutes=1)
    web.clock.advance(wait)
    await web.login("dby.housing", fresh)


def _until(html: str, now: datetime) -> datetime:
    """When a refusal says to try again, as a person reads it."""
    found = _WAIT.search(html)
    assert found is not None
    if found.group(1):
        return now + timedelta(seconds=int(found.group(1)))
    clock = re.search(r"You can try again at (midday|midnight|(\d+):(\d\d)(am|pm))", html)
    assert clock is not None
    if clock.group(1) in ("midday", "midnight"):
        hour, minute = (12 if clock.group(1) == "midday" else 0), 0
    else:
        hour = int(clock.group(2)) % 12 + (12 if clock.group(4) == "pm" else 0)
        minute = int(clock.group(3))
    # The test day is in November: UK time is UTC.
    when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return when if when >= now else when + timedelta(days=1)


async def _attempt(
    web: Web, client: Client, username: str, password: str, address: str
) -> tuple[int, str, str]:
    """The sign-in page and one attempt, through the proxy from ``address``."""
    headers = {"X-Forwarded-For": address}
    status, _, html = await fetch(client, "/login", headers=headers)
    assert status == 200
    form = {"_csrf": csrf_from(html), "username": username, "password": password}
    return await post(client, "/login", form, headers=headers)


async def test_one_address_guessing_across_usernames_is_slowed(proxied: Web) -> None:
    web = proxied
    guesser, neighbour = await web.new_client(), await web.new_client()
    # 30 failures from one address, each at a different username: none of them is slowed.
    for i in range(30):
        status, _, html = await _attempt(web, guesser, f"someone.{i}", "not it", "203.0.113.7")
        assert status == 401 and LOGIN_FAILED in html, i
    status, _, html = await _attempt(web, guesser, "someone.else", "not it", "203.0.113.7")
    assert "Wait 1 second" in html
    # Another address is not affected, nor the owner of a username the guesser tried.
    await web.login("dby.housing", neighbour)
    # The guesser's proxy-written address is the one counted, whatever the client claims.
    status, _, html = await _attempt(
        web, guesser, "someone.else", "not it", "10.9.9.9, 203.0.113.7"
    )
    assert "Wait 1 second" in html


async def test_a_device_cookie_counts_for_its_own_username_only(web: Web) -> None:
    owner = await web.new_client()
    await web.login("dby.housing", owner)
    await web.logout(owner)
    cookie = next(c.value for c in owner.session.cookie_jar if c.key == DEVICE)
    # The owner's browser trying another username is a stranger there.
    for _ in range(5):
        await web.password_step(owner, "dby.police", password="not it")
    status, _, html = await web.password_step(await web.new_client(), "dby.police")
    assert status == 401 and "Wait 1 second" in html
    # A forged or altered cookie is no cookie at all.
    stranger = await web.new_client()
    forged = cookie[:-1] + ("0" if cookie[-1] != "0" else "1")
    stranger.session.cookie_jar.update_cookies({DEVICE: forged})
    _, _, html = await web.password_step(stranger, "dby.police")
    assert "Wait 1 second" in html
    # The real cookie on another browser still counts for dby.housing alone.
    web.clock.advance(timedelta(seconds=30))
    copy = await web.new_client()
    copy.session.cookie_jar.update_cookies({DEVICE: cookie})
    await web.login("dby.housing", copy)


def test_the_wait_in_words_in_uk_time_rounded_up_with_the_date_when_not_today() -> None:
    now = datetime(2026, 7, 1, 14, 30, tzinfo=UTC)  # 3:30pm BST
    assert wait_message(now + timedelta(seconds=1), now) == (
        "Too many failed attempts. Wait 1 second, then try again."
    )
    assert wait_message(now + timedelta(seconds=59.2), now) == (
        "Too many failed attempts. Wait 60 seconds, then try again."
    )
    assert wait_message(now + timedelta(minutes=15), now) == (
        "Too many failed attempts. You can try again at 3:45pm."
    )
    # Never a time before the wait ends: 3:34:16 is shown as 3:35.
    assert wait_message(now + timedelta(minutes=4, seconds=16), now) == (
        "Too many failed attempts. You can try again at 3:35pm."
    )
    late = datetime(2026, 12, 2, 23, 50, tzinfo=UTC)
    assert wait_message(late + timedelta(minutes=15), late) == (
        "Too many failed attempts. You can try again at 12:05am on 3 December 2026."
    )


def test_the_numbers() -> None:
    from hub.config import SessionPolicy

    policy = SessionPolicy()
    waits = [wait_after(n, 5, policy) for n in range(0, 17)]
    assert waits[:5] == [None] * 5
    assert waits[5:10] == [timedelta(seconds=s) for s in (1, 2, 4, 8, 16)]
    assert waits[14] == timedelta(seconds=512)
    assert waits[15] == waits[16] == CAP
    assert wait_after(10_000, 5, policy) == CAP  # no overflow however many


async def test_people_signing_in_from_one_office_address_do_not_slow_each_other(
    web: Web,
) -> None:
    """An agency behind one NAT address: many sign-ins from new browsers, all successful, never
    add up to the address's allowance; its failures still do."""
    throttle = web.hub.auth.throttle
    office = ThrottleClient(address="203.0.113.50")
    for i in range(3 * web.hub.config.sessions.address_free_failures):
        buckets = throttle.buckets(f"person.{i}", office)
        await throttle.admit(buckets)  # counted as a failure until it completes...
        await throttle.succeed(buckets)  # ...and taken back when it does
    for i in range(web.hub.config.sessions.address_free_failures):
        await throttle.admit(throttle.buckets(f"guess.{i}", office))  # never completed
    with pytest.raises(SignInThrottled):
        await throttle.admit(throttle.buckets("guess.more", office))
