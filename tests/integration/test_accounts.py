"""Accounts and sign-in through the services, on SQLite and PostgreSQL: recovery codes (one use
each, on the log), password changes that end other sessions, an agency admin's sign-out and
second-factor reset (the old authenticator dead at once, the new one set up at next sign-in),
the operator's reset and deactivation, and parallel guesses counted exactly."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pyotp
import pytest

from hub.crypto import totp
from hub.demo import DemoLogin
from hub.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from hub.services.auth import EnrolmentExpired, Session, SignedIn, Stage
from hub.services.login_throttle import SignInThrottled
from hub.store import ledger as ledger_store
from hub.store import sessions as session_store
from hub.wiring import Hub
from tests.conftest import actor_for

HOUSING = "dby.housing"


def _code(hub: Hub, uri: str, ahead: int = 0) -> str:
    return totp.code_at(pyotp.parse_uri(uri).secret, hub.clock.now() + timedelta(seconds=ahead))


async def _pending(hub: Hub, login: DemoLogin) -> Session:
    return await hub.auth.password_step(
        await hub.auth.anonymous_session(), login.username, login.password
    )


async def _sign_in(hub: Hub, login: DemoLogin) -> SignedIn:
    hub.clock.advance(timedelta(seconds=30))  # each sign-in its own TOTP step
    return await hub.auth.totp_step(await _pending(hub, login), _code(hub, login.totp_uri))


async def _events(hub: Hub, since: int) -> list[tuple[str, int | None, int | None]]:
    async with hub.db.read() as conn:
        rows = [dict(r) async for r in ledger_store.stream_entries(conn)][since:]
    return [(r["event"], r["actor_user_id"], r["actor_agency_id"]) for r in rows]


async def _seq(hub: Hub) -> int:
    async with hub.db.read() as conn:
        seq, _ = await ledger_store.head(conn)
    return int(seq)


async def _live(hub: Hub, user_id: int) -> int:
    async with hub.db.read() as conn:
        counts = await session_store.live_counts(conn, [user_id], "active", hub.clock.now())
    return counts.get(user_id, 0)


async def test_a_recovery_code_signs_in_once_and_is_on_the_log(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    login = logins[HOUSING]
    codes = await hub.accounts.recovery_codes_at_enrolment(HOUSING)
    assert len(codes) == len(set(codes)) == 10
    person = await actor_for(hub, HOUSING)
    seq = await _seq(hub)

    # Typed loosely (capitals, no hyphen, spaces): still the code.
    typed = codes[3].upper().replace("-", " ")
    signed = await hub.auth.recovery_step(await _pending(hub, login), typed)
    assert signed.session.stage is Stage.ACTIVE and signed.recovery_codes_left == 9
    assert await _events(hub, seq) == [
        ("recovery-code-used", person.user.id, person.agency.id),
    ]
    # The same code again is refused, as a wrong code is; another one works.
    pending = await _pending(hub, login)
    with pytest.raises(NotAuthenticated) as refused:
        await hub.auth.recovery_step(pending, codes[3])
    assert not isinstance(refused.value, SignInThrottled)
    signed = await hub.auth.recovery_step(pending, codes[0])
    assert signed.recovery_codes_left == 8
    # Not a code at all, or another person's: refused.
    other = await hub.accounts.recovery_codes_at_enrolment("dby.police")
    with pytest.raises(NotAuthenticated):
        await hub.auth.recovery_step(await _pending(hub, login), other[0])
    assert (await hub.ledger.verify()).entries == await _seq(hub)


async def test_wrong_recovery_codes_count_as_wrong_codes(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    await hub.accounts.recovery_codes_at_enrolment(HOUSING)
    pending = await _pending(hub, logins[HOUSING])  # one attempt counted until it completes
    for _ in range(3):
        with pytest.raises(NotAuthenticated) as refused:
            await hub.auth.recovery_step(pending, "aaaaa-bbbbb")
        assert not isinstance(refused.value, SignInThrottled)
    with pytest.raises(SignInThrottled):
        await hub.auth.recovery_step(pending, "aaaaa-bbbbb")  # the fifth failure: a wait
    # The half-finished sign-in is over.
    assert await hub.auth.session(pending.token) is None


async def test_a_password_change_ends_every_other_session_and_rotates_this_one(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    login = logins[HOUSING]
    here = await _sign_in(hub, login)
    elsewhere = await _sign_in(hub, login)
    actor = await actor_for(hub, HOUSING)
    assert await _live(hub, actor.user.id) == 2
    seq = await _seq(hub)

    new = "correct horse battery staple"
    with pytest.raises(InvalidInput) as wrong:
        await hub.accounts.change_password(actor, here.session, "not it", new, new)
    assert wrong.value.field == "current"
    for bad, again, field in (
        ("short", "short", "new"),
        (f"my {HOUSING} password", f"my {HOUSING} password", "new"),
        ("password1234", "password1234", "new"),
        (new, new + "!", "again"),
        (login.password, login.password, "new"),  # the same as now
    ):
        with pytest.raises(InvalidInput) as refused:
            await hub.accounts.change_password(actor, here.session, login.password, bad, again)
        assert refused.value.field == field, bad

    fresh = await hub.accounts.change_password(actor, here.session, login.password, new, new)
    assert fresh.token != here.session.token and fresh.stage is Stage.ACTIVE
    assert await hub.auth.session(here.session.token) is None
    assert await hub.auth.session(elsewhere.session.token) is None
    assert await hub.auth.session(fresh.token) is not None
    assert await _live(hub, actor.user.id) == 1
    assert await _events(hub, seq) == [("password-changed", actor.user.id, actor.agency.id)]
    # The old password no longer signs in; the new one does.
    with pytest.raises(NotAuthenticated):
        await hub.auth.password_step(await hub.auth.anonymous_session(), HOUSING, login.password)
    pending = await hub.auth.password_step(await hub.auth.anonymous_session(), HOUSING, new)
    assert pending.stage is Stage.TOTP


async def test_an_admin_signs_a_person_of_their_agency_out_everywhere(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    target = await actor_for(hub, "dby.police")
    admin = await actor_for(hub, "dby.admin")
    assert admin.agency.id == target.agency.id  # the demo's admin is of Derbyshire police
    first = await _sign_in(hub, logins["dby.police"])
    second = await _sign_in(hub, logins["dby.police"])
    half_way = await _pending(hub, logins["dby.police"])
    seq = await _seq(hub)

    people = {p.user.username: p for p in await hub.accounts.people(admin)}
    assert people["dby.police"].signed_in_sessions == 2
    assert all(p.user.agency_id == admin.agency.id for p in people.values())
    assert not any(u.startswith("system.") for u in people)

    user, ended = await hub.accounts.end_sessions(admin, target.user.id)
    assert (user.id, ended) == (target.user.id, 3)
    for s in (first.session, second.session, half_way):
        assert await hub.auth.session(s.token) is None
    assert await _events(hub, seq) == [("sign-out-forced", admin.user.id, admin.agency.id)]

    # Not another agency's people, and only an agency admin.
    housing = await actor_for(hub, HOUSING)
    with pytest.raises(NotFound):
        await hub.accounts.end_sessions(admin, housing.user.id)
    with pytest.raises(Forbidden):
        await hub.accounts.end_sessions(housing, target.user.id)
    with pytest.raises(Forbidden):
        await hub.accounts.people(housing)
    assert await _seq(hub) == seq + 1


async def test_an_admins_reset_kills_the_old_authenticator_and_the_person_sets_up_a_new_one(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    login = logins["dby.police"]
    admin = await actor_for(hub, "dby.admin")
    target = await actor_for(hub, "dby.police")
    await hub.accounts.recovery_codes_at_enrolment("dby.police")
    signed_in = await _sign_in(hub, login)
    with pytest.raises(Forbidden):
        await hub.accounts.reset_second_factor(admin, admin.user.id)  # never their own
    seq = await _seq(hub)

    await hub.accounts.reset_second_factor(admin, target.user.id)
    assert await _events(hub, seq) == [("second-factor-reset", admin.user.id, admin.agency.id)]
    assert await hub.auth.session(signed_in.session.token) is None
    people = {p.user.username: p for p in await hub.accounts.people(admin)}
    assert people["dby.police"].recovery_codes_left == 0
    enrol_by = people["dby.police"].enrol_by
    assert enrol_by is not None
    assert timedelta(hours=23, minutes=59) < enrol_by - hub.clock.now() <= timedelta(hours=24)

    # The password now leads to setting up the new app; the old app's code does not work there.
    hub.clock.advance(timedelta(seconds=30))
    enrolling = await _pending(hub, login)
    assert enrolling.stage is Stage.ENROL
    with pytest.raises(NotAuthenticated):
        await hub.auth.totp_step(enrolling, _code(hub, login.totp_uri))  # not a TOTP stage
    with pytest.raises(NotAuthenticated):
        await hub.auth.enrol_step(enrolling, _code(hub, login.totp_uri))
    new = await hub.auth.enrolment(enrolling)
    assert pyotp.parse_uri(new.uri).secret == new.secret != pyotp.parse_uri(login.totp_uri).secret
    done = await hub.auth.enrol_step(enrolling, _code(hub, new.uri))
    assert done.session.stage is Stage.ACTIVE and len(done.new_recovery_codes) == 10
    assert [e for e, _, _ in await _events(hub, seq + 1)] == [
        "second-factor-enrolled",
        "recovery-codes-issued",
    ]
    # From now on: the new app's codes sign in, the old app's never again.
    hub.clock.advance(timedelta(seconds=30))
    with pytest.raises(NotAuthenticated):
        await hub.auth.totp_step(await _pending(hub, login), _code(hub, login.totp_uri))
    hub.clock.advance(timedelta(seconds=30))
    again = await hub.auth.totp_step(await _pending(hub, login), _code(hub, new.uri))
    assert again.session.stage is Stage.ACTIVE


async def test_a_reset_not_set_up_in_time_must_be_done_again(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    admin = await actor_for(hub, "dby.admin")
    target = await actor_for(hub, "dby.police")
    await hub.accounts.reset_second_factor(admin, target.user.id)
    hub.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(EnrolmentExpired):
        await _pending(hub, logins["dby.police"])


async def test_the_operators_reset_hands_over_a_new_authenticator_and_codes(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    login = logins[HOUSING]
    old_codes = await hub.accounts.recovery_codes_at_enrolment(HOUSING)
    seq = await _seq(hub)
    reset = await hub.accounts.operator_reset_second_factor(HOUSING)
    assert [e for e, _, _ in await _events(hub, seq)] == [
        "second-factor-reset",
        "recovery-codes-issued",
    ]
    assert all(by is None for _, by, _ in await _events(hub, seq))  # the operator: nobody
    hub.clock.advance(timedelta(seconds=30))
    pending = await _pending(hub, login)
    assert pending.stage is Stage.TOTP  # handed over in person: no set-up step
    with pytest.raises(NotAuthenticated):
        await hub.auth.totp_step(pending, _code(hub, login.totp_uri))
    with pytest.raises(NotAuthenticated):
        await hub.auth.recovery_step(pending, old_codes[0])
    signed = await hub.auth.recovery_step(pending, reset.recovery_codes[0])
    assert signed.recovery_codes_left == 9
    with pytest.raises(NotFound):
        await hub.accounts.operator_reset_second_factor("no.such.person")


async def test_deactivation_ends_sessions_and_says_what_it_left(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    signed = await _sign_in(hub, logins[HOUSING])
    done = await hub.accounts.deactivate(HOUSING)
    assert (done.user.username, done.sessions_ended, done.tokens_issued) == (HOUSING, 1, 0)
    assert await hub.auth.session(signed.session.token) is None
    with pytest.raises(NotAuthenticated):
        await _pending(hub, logins[HOUSING])
    with pytest.raises(InvalidInput):
        await hub.accounts.deactivate(HOUSING)


async def test_parallel_guesses_are_counted_and_only_the_free_ones_are_checked(
    hub: Hub, logins: dict[str, DemoLogin]
) -> None:
    """Twenty wrong passwords at once: exactly five are checked (the free allowance); the rest
    find the wait the fifth one started and are refused unchecked."""

    async def guess(i: int) -> str:
        try:
            await hub.auth.password_step(await hub.auth.anonymous_session(), HOUSING, f"no {i}")
        except SignInThrottled:
            return "waited"
        except NotAuthenticated:
            return "checked"
        return "signed in"

    outcomes = await asyncio.gather(*(guess(i) for i in range(20)))
    assert outcomes.count("checked") == 5
    assert outcomes.count("waited") == 15
