"""Accounts: a person's own (password, recovery codes) and an agency admin's powers over the
people of their agency (end their sessions, reset their second factor), plus the operator's at
the command line (``admin`` None: deactivate, reset a second factor, set a password).

Every change here is on the log (hub.services.account_events), in the transaction that makes it.
Who may do what is decided here:

- anyone signed in changes their own password and gets new recovery codes, both with their
  current password (a session left open is not enough);
- an agency admin acts on the people of their own agency only (never another agency's, never a
  token's system account) and never resets their own second factor;
- the operator at the command line acts on anyone.

A password change ends every other session of the person and gives the current one a new cookie.
An admin's reset ends the person's sessions, removes their recovery codes and gives them a new
authenticator to set up at their next sign-in, within ``SessionPolicy.enrolment_window``: the
admin never sees the new secret. The operator's reset prints it instead, as ``user add`` does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.config import SessionPolicy
from hub.crypto import totp
from hub.crypto.passwords import PasswordHasher
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Event
from hub.model.directory import Role, User
from hub.services import ledger
from hub.services.account_events import account_record
from hub.services.actor import Actor
from hub.services.auth import AuthService, Session, Stage
from hub.services.directory import totp_context
from hub.services.keyring import KeyRing
from hub.services.login_throttle import Client
from hub.services.password_rules import check_new_password
from hub.store import directory as directory_store
from hub.store import recovery_codes as codes_store
from hub.store import sessions as session_store
from hub.store.database import Database
from hub.store.schema import api_tokens

log = logging.getLogger("hub.accounts")

WRONG_PASSWORD = "Your current password is not right"  # noqa: S105 - an error message


@dataclass(frozen=True)
class AccountSummary:
    recovery_codes_left: int
    password_changed_at: datetime | None


@dataclass(frozen=True)
class Person:
    """One person of an agency as their admin sees them: no secrets."""

    user: User
    signed_in_sessions: int
    recovery_codes_left: int
    password_changed_at: datetime | None
    # After an admin's reset: set up the new authenticator before this time (None: set up).
    enrol_by: datetime | None


@dataclass(frozen=True)
class SecondFactor:
    """A new authenticator and recovery codes, made by the operator: shown once."""

    user: User
    uri: str = field(repr=False)
    recovery_codes: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class Deactivation:
    user: User
    sessions_ended: int
    # API tokens this person issued stay in force (each is its own system account): named so
    # the operator can decide (``mappa-hub token list``, ``token revoke``).
    tokens_issued: int


class AccountService:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        hasher: PasswordHasher,
        clock: Clock,
        policy: SessionPolicy,
        auth: AuthService,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._hasher = hasher
        self._clock = clock
        self._policy = policy
        self._auth = auth

    # -- the person's own -------------------------------------------------------------------

    async def summary(self, actor: Actor) -> AccountSummary:
        async with self._db.read() as conn:
            left = await codes_store.count_unused(conn, actor.user.id)
            row = await directory_store.credentials_by_id(conn, actor.user.id)
        return AccountSummary(left, row["password_changed_at"] if row else None)

    async def _check_current(self, actor: Actor, password: str) -> None:
        """The person's current password, counted as a sign-in attempt is (a stolen session
        must not become a way to guess it). Raises ``InvalidInput`` on ``current``."""
        self._require_person(actor)
        if not password:
            raise InvalidInput("Enter your current password", field="current")
        buckets = self._auth.throttle.buckets(actor.user.username, Client())
        await self._auth.throttle.admit(buckets)
        async with self._db.read() as conn:
            row = await directory_store.credentials_by_id(conn, actor.user.id)
        stored = row["password_hash"] if row is not None else None
        if not await asyncio.to_thread(self._hasher.verify, stored, password):
            log.warning("wrong current password user_id=%s", actor.user.id)
            raise InvalidInput(WRONG_PASSWORD, field="current")
        await self._auth.throttle.succeed(buckets)

    def _require_person(self, actor: Actor) -> None:
        if actor.token_id is not None:
            raise Forbidden("An API token has no password or recovery codes.")

    async def change_password(
        self, actor: Actor, session: Session, current: str, new: str, again: str
    ) -> Session:
        """Change the signed-in person's password. Every other session of theirs ends, and this
        one is replaced (the returned session carries a new cookie value)."""
        check_new_password(new, again, actor.user.username)
        await self._check_current(actor, current)
        if await asyncio.to_thread(self._hasher.verify, await self._hash_of(actor), new):
            raise InvalidInput(
                "Your new password must be different from your current one", field="new"
            )
        hashed = await asyncio.to_thread(self._hasher.hash, new)
        now = self._clock.now()
        async with self._db.write() as conn:
            await directory_store.update_user(
                conn, actor.user.id, password_hash=hashed, password_changed_at=now
            )
            ended = await session_store.delete_user_sessions(conn, actor.user.id)
            await self._log(conn, Event.PASSWORD_CHANGED, actor.user, now, actor)
        log.warning("password changed user_id=%s sessions_ended=%s", actor.user.id, ended)
        return await self._auth.new_session(actor.user.id, Stage.ACTIVE)

    async def _hash_of(self, actor: Actor) -> str | None:
        async with self._db.read() as conn:
            row = await directory_store.credentials_by_id(conn, actor.user.id)
        return row["password_hash"] if row is not None else None

    async def new_recovery_codes(self, actor: Actor, current: str) -> list[str]:
        """A new set of ten recovery codes for the signed-in person, in place of the old."""
        await self._check_current(actor, current)
        now = self._clock.now()
        async with self._db.write() as conn:
            codes = await self._auth.recovery_codes.issue(conn, actor.user.id, now)
            await self._log(conn, Event.RECOVERY_CODES_ISSUED, actor.user, now, actor)
        log.warning("recovery codes issued user_id=%s", actor.user.id)
        return codes

    # -- an agency admin's ------------------------------------------------------------------

    def _require_admin(self, admin: Actor | None) -> None:
        if admin is not None and (
            admin.token_id is not None or not admin.has_role(Role.AGENCY_ADMIN)
        ):
            raise Forbidden("Only an agency admin manages the people of their agency.")

    async def people(self, admin: Actor) -> list[Person]:
        """The people of the admin's agency, with how each signs in."""
        self._require_admin(admin)
        now = self._clock.now()
        async with self._db.read() as conn:
            rows = await directory_store.people_of_agency(conn, admin.agency.id)
            ids = [r["id"] for r in rows]
            sessions = await session_store.live_counts(conn, ids, Stage.ACTIVE.value, now)
            codes = await codes_store.counts_unused(conn, ids)
        return [
            Person(
                user=User(
                    r["id"], r["username"], r["display_name"], r["agency_id"], Role(r["role"]),
                    bool(r["active"]), r["email"],
                ),
                signed_in_sessions=sessions.get(r["id"], 0),
                recovery_codes_left=codes.get(r["id"], 0),
                password_changed_at=r["password_changed_at"],
                enrol_by=r["totp_enrol_by"],
            )
            for r in rows
        ]  # fmt: skip

    async def person(self, admin: Actor, user: int) -> Person:
        """One person of the admin's agency, as ``people`` lists them (to confirm an action on
        them); anyone else, a system account included, is not found, as on the actions."""
        found = next((p for p in await self.people(admin) if p.user.id == user), None)
        if found is None:
            raise NotFound("No such person in your agency.")
        return found

    async def _target(self, conn: AsyncConnection, admin: Actor | None, user: int | str) -> User:
        """The person acted on: by id (the admin's pages) or username (the command line). An
        admin sees only their own agency's people: anyone else is not found."""
        found = (
            await directory_store.user_by_id(conn, user)
            if isinstance(user, int)
            else await directory_store.user_by_username(conn, user)
        )
        if found is None or await directory_store.is_system_account(conn, found.id):
            raise NotFound(
                f"unknown user {user}" if admin is None else "No such person in your agency."
            )
        if admin is not None and found.agency_id != admin.agency.id:
            raise NotFound("No such person in your agency.")
        return found

    async def end_sessions(self, admin: Actor | None, user: int | str) -> tuple[User, int]:
        """Sign a person out everywhere: every session ends (signed in or half-way through
        signing in). Returns them and how many sessions ended."""
        self._require_admin(admin)
        now = self._clock.now()
        async with self._db.write() as conn:
            target = await self._target(conn, admin, user)
            ended = await session_store.delete_user_sessions(conn, target.id)
            await self._log(conn, Event.SIGN_OUT_FORCED, target, now, admin)
        log.warning("sessions ended user_id=%s by=%s count=%s", target.id, _who(admin), ended)
        return target, ended

    async def reset_second_factor(self, admin: Actor, user: int) -> User:
        """An admin's reset: the old authenticator and recovery codes stop working at once, the
        person's sessions end, and they set up a new authenticator at their next sign-in."""
        self._require_admin(admin)
        if admin.user.id == user:
            raise Forbidden(
                "You cannot reset your own authenticator app. Ask another administrator of your "
                "agency, or the hub's operator."
            )
        now = self._clock.now()
        async with self._db.write() as conn:
            target = await self._target(conn, admin, user)
            await self._replace_secret(conn, target, now + self._policy.enrolment_window)
            await codes_store.remove(conn, target.id)
            await session_store.delete_user_sessions(conn, target.id)
            await self._log(conn, Event.SECOND_FACTOR_RESET, target, now, admin)
        log.warning("second factor reset user_id=%s by=%s", target.id, _who(admin))
        return target

    async def _replace_secret(
        self, conn: AsyncConnection, target: User, enrol_by: datetime | None
    ) -> str:
        secret = totp.new_secret()
        wrapped = self._keyring.wrap_secret(secret.encode(), totp_context(target.username))
        await directory_store.set_second_factor(conn, target.id, wrapped, enrol_by)
        return secret

    # -- the operator's (command line) -----------------------------------------------------

    async def operator_reset_second_factor(self, username: str) -> SecondFactor:
        """A new authenticator and recovery codes, to hand to the person (shown once); the old
        ones stop working and the person's sessions end."""
        now = self._clock.now()
        async with self._db.write() as conn:
            target = await self._target(conn, None, username)
            secret = await self._replace_secret(conn, target, None)
            codes = await self._auth.recovery_codes.issue(conn, target.id, now)
            await session_store.delete_user_sessions(conn, target.id)
            await self._log(conn, Event.SECOND_FACTOR_RESET, target, now, None)
            await self._log(conn, Event.RECOVERY_CODES_ISSUED, target, now, None)
        log.warning("second factor reset user_id=%s by=operator", target.id)
        return SecondFactor(target, totp.provisioning_uri(secret, target.username), tuple(codes))

    async def recovery_codes_at_enrolment(self, username: str) -> tuple[str, ...]:
        """Recovery codes for a person just added (``user add``): shown once with their
        authenticator's set-up link."""
        now = self._clock.now()
        async with self._db.write() as conn:
            target = await self._target(conn, None, username)
            codes = await self._auth.recovery_codes.issue(conn, target.id, now)
            await self._log(conn, Event.RECOVERY_CODES_ISSUED, target, now, None)
        return tuple(codes)

    async def deactivate(self, username: str) -> Deactivation:
        """The person can no longer sign in, and every session of theirs ends. Nothing else
        changes: their packets, cases and log entries stay, and API tokens they issued stay in
        force (reported, for the operator to revoke if they should)."""
        now = self._clock.now()
        async with self._db.write() as conn:
            target = await self._target(conn, None, username)
            if not target.active:
                raise InvalidInput(f"{target.username} is already deactivated")
            await directory_store.update_user(conn, target.id, active=False)
            ended = await session_store.delete_user_sessions(conn, target.id)
            await self._log(conn, Event.ACCOUNT_DEACTIVATED, target, now, None)
            issued = await conn.execute(
                api_tokens.select().where(
                    api_tokens.c.created_by_user_id == target.id, api_tokens.c.revoked_at.is_(None)
                )
            )
            tokens = len(issued.all())
        log.warning("user deactivated user_id=%s by=operator sessions_ended=%s", target.id, ended)
        return Deactivation(target, ended, tokens)

    async def set_password(self, username: str, password: str) -> tuple[User, int]:
        """The operator sets a forgotten password (to hand over in person): every session of
        the person ends. The same rules as a person's own change apply."""
        async with self._db.read() as conn:
            target = await self._target(conn, None, username)
        check_new_password(password, password, target.username)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        now = self._clock.now()
        async with self._db.write() as conn:
            await directory_store.update_user(
                conn, target.id, password_hash=hashed, password_changed_at=now
            )
            ended = await session_store.delete_user_sessions(conn, target.id)
            await self._log(conn, Event.PASSWORD_CHANGED, target, now, None)
        log.warning("password set user_id=%s by=operator sessions_ended=%s", target.id, ended)
        return target, ended

    async def _log(
        self, conn: AsyncConnection, event: Event, subject: User, now: datetime, by: Actor | None
    ) -> None:
        await ledger.append(
            conn,
            account_record(
                event,
                subject,
                now,
                by_user_id=by.user.id if by is not None else None,
                by_agency_id=by.agency.id if by is not None else None,
            ),
        )


def _who(admin: Actor | None) -> str:
    return "operator" if admin is None else f"user_id={admin.user.id}"
