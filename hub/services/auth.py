"""Sign-in: password (argon2id), then TOTP (pyotp, each code once) or a one-time recovery code,
throttled (hub.services.login_throttle, never a lock), with server-side sessions.

Session stages: ``anonymous`` (a CSRF token for the login form), ``totp`` (password accepted,
waiting for a code, short-lived), ``enrol`` (password accepted for a person whose second factor
an agency admin reset: they set up the new one now) and ``active``. The cookie value changes at
every stage change, so a token seen before login is worthless after it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.engine import RowMapping

from hub.clock import Clock
from hub.config import SessionPolicy
from hub.crypto import totp
from hub.crypto.passwords import PasswordHasher
from hub.crypto.secrets import random_token, token_digest
from hub.errors import NotAuthenticated
from hub.ledger.entries import Event
from hub.services import ledger
from hub.services.account_events import account_record
from hub.services.actor import Actor
from hub.services.directory import totp_context
from hub.services.keyring import KeyRing
from hub.services.login_throttle import Bucket, Client, LoginThrottle, SignInThrottled
from hub.services.recovery_codes import RecoveryCodes
from hub.store import directory as directory_store
from hub.store import sessions as store
from hub.store.database import Database
from hub.store.sessions import SessionRow

log = logging.getLogger("hub.auth")

LOGIN_FAILED = (
    "Sign-in failed. Check your username, password and code; after repeated failures you will "
    "have to wait before trying again."
)
RECOVERY_FAILED = (
    "That recovery code did not work. Check it, or try another: each code works only once."
)
ENROLMENT_FAILED = (
    "That code did not work. Check the app shows MAPPA Hub with the key on this page, and enter "
    "the newest code."
)
ENROLMENT_EXPIRED = (
    "Your authenticator app was reset, but the new one was not set up in time. Ask your "
    "agency's MAPPA Hub administrator to reset it again."
)
# Refresh last-seen at most this often, so that reading pages does not write on every request.
_TOUCH_EVERY_SECONDS = 30


class Stage(StrEnum):
    ANONYMOUS = "anonymous"
    TOTP = "totp"
    ENROL = "enrol"
    ACTIVE = "active"


@dataclass(frozen=True)
class Session:
    token: str  # the cookie value; only ever held in memory
    row: SessionRow

    @property
    def stage(self) -> Stage:
        return Stage(self.row.stage)

    @property
    def csrf_token(self) -> str:
        return self.row.csrf_token


class SessionExpired(NotAuthenticated):
    code = "session_expired"


class EnrolmentExpired(NotAuthenticated):
    code = "enrolment_expired"


@dataclass(frozen=True)
class SignedIn:
    """A completed sign-in: the new session, and a fresh device cookie for this browser."""

    session: Session
    device_cookie: str
    # After a recovery code: how many are left.
    recovery_codes_left: int | None = None
    # After setting up a new authenticator: the new recovery codes, to show once.
    new_recovery_codes: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Enrolment:
    """A new authenticator to set up: shown on the page, never logged."""

    secret: str = field(repr=False)
    uri: str = field(repr=False)
    enrol_by: datetime


class AuthService:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        hasher: PasswordHasher,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._hasher = hasher
        self._clock = clock
        self._policy = policy
        self.throttle = LoginThrottle(db, keyring, clock, policy)
        self.recovery_codes = RecoveryCodes(keyring)

    # -- sessions ---------------------------------------------------------------------------

    async def new_session(self, user_id: int | None, stage: Stage) -> Session:
        now = self._clock.now()
        lifetime = (
            self._policy.idle_timeout if stage is Stage.ACTIVE else self._policy.pending_timeout
        )
        token = random_token()
        row = SessionRow(
            token_hash=token_digest(token),
            user_id=user_id,
            stage=stage.value,
            csrf_token=random_token(),
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
        async with self._db.write() as conn:
            await store.insert_session(conn, row)
        return Session(token, row)

    async def anonymous_session(self) -> Session:
        # Anyone can create one of these by loading the sign-in page: sweep lapsed sessions here so
        # the table stays bounded by the sessions that are live.
        async with self._db.write() as conn:
            await store.delete_expired(conn, self._clock.now())
        return await self.new_session(None, Stage.ANONYMOUS)

    async def session(self, token: str | None) -> Session | None:
        """The live session for a cookie value, or None. Raises ``SessionExpired`` if it lapsed."""
        if not token or len(token) > 128:
            return None
        digest = token_digest(token)
        async with self._db.read() as conn:
            row = await store.session_by_hash(conn, digest)
        if row is None:
            return None
        now = self._clock.now()
        if now >= row.expires_at:
            async with self._db.write() as conn:
                await store.delete_session(conn, digest)
            if row.stage == Stage.ACTIVE:
                raise SessionExpired("Your session has expired. Please sign in again.")
            return None
        if (
            row.stage == Stage.ACTIVE
            and (now - row.last_seen_at).total_seconds() > _TOUCH_EVERY_SECONDS
        ):
            expires = min(
                row.created_at + self._policy.absolute_timeout, now + self._policy.idle_timeout
            )
            async with self._db.write() as conn:
                await store.touch(conn, digest, now, expires)
            row = SessionRow(**{**row.__dict__, "last_seen_at": now, "expires_at": expires})
        return Session(token, row)

    async def live_until(self, session: Session) -> datetime | None:
        """When a signed-in session lapses if nothing else happens; None once it has ended
        (lapsed, signed out, or its user deactivated). Unlike ``session``, this never extends
        it: a page left open (listening for new packets) must not keep its session alive."""
        async with self._db.read() as conn:
            row = await store.session_by_hash(conn, session.row.token_hash)
            user = (
                await directory_store.user_by_id(conn, row.user_id) if row and row.user_id else None
            )
        if row is None or row.stage != Stage.ACTIVE or user is None or not user.active:
            return None
        return row.expires_at if self._clock.now() < row.expires_at else None

    async def actor(self, session: Session) -> Actor:
        if session.stage is not Stage.ACTIVE or session.row.user_id is None:
            raise NotAuthenticated("Please sign in.")
        async with self._db.read() as conn:
            user = await directory_store.user_by_id(conn, session.row.user_id)
            agency = await directory_store.agency_by_id(conn, user.agency_id) if user else None
        if user is None or agency is None or not user.active:
            raise NotAuthenticated("Please sign in.")
        return Actor(user, agency)

    async def end(self, session: Session) -> None:
        async with self._db.write() as conn:
            await store.delete_session(conn, session.row.token_hash)

    async def sign_out(self, session: Session) -> None:
        """The person chose to sign out: end the session, and say so in the log."""
        await self.end(session)
        if session.stage is Stage.ACTIVE:
            log.info("signed out user_id=%s", session.row.user_id)

    # -- signing in ---------------------------------------------------------------------------

    def username_digest(self, username: str) -> str:
        """The keyed digest a username's failures count under (never the username itself)."""
        return self.throttle.username_digest(username)

    async def password_step(
        self, session: Session, username: str, password: str, client: Client | None = None
    ) -> Session:
        """Check the password; on success replace the session with one waiting for the second
        factor (``totp``, or ``enrol`` after an admin's reset).

        Each attempt counts against the username typed, whether or not an account has it (or
        against this browser's device cookie), so a wait (``SignInThrottled``) looks the same
        for every username and reveals none."""
        if session.stage is not Stage.ANONYMOUS:
            raise NotAuthenticated(LOGIN_FAILED)
        typed = username.strip()[:64]
        buckets = self.throttle.buckets(typed, client or Client())
        await self.throttle.admit(buckets)
        async with self._db.read() as conn:
            row = await directory_store.credentials_by_username(conn, typed)
        # argon2id takes tens of milliseconds of CPU: keep it off the event loop.
        ok = await asyncio.to_thread(
            self._hasher.verify, row["password_hash"] if row else None, password
        )
        if row is None or not row["active"] or not ok:
            # For security monitoring: the account id or a digest prefix, never what was typed.
            who = (
                f"user_id={row['id']}"
                if row is not None
                else f"username_digest={self.username_digest(typed)[:12]}"
            )
            log.warning("sign-in failure at the password %s", who)
            raise NotAuthenticated(LOGIN_FAILED, reason="password")
        if self._hasher.needs_rehash(row["password_hash"]):
            rehashed = await asyncio.to_thread(self._hasher.hash, password)
            async with self._db.write() as conn:
                await directory_store.update_user(conn, row["id"], password_hash=rehashed)
        enrol_by = row["totp_enrol_by"]
        if enrol_by is not None and self._clock.now() >= enrol_by:
            log.warning(
                "sign-in refused user_id=%s: second factor reset not set up in time", row["id"]
            )
            raise EnrolmentExpired(ENROLMENT_EXPIRED)
        await self.end(session)
        return await self.new_session(row["id"], Stage.TOTP if enrol_by is None else Stage.ENROL)

    async def _pending(self, session: Session, stage: Stage) -> RowMapping:
        """The credentials of a half-finished sign-in at ``stage``; a deactivated person's
        sign-in ends here."""
        if session.stage is not stage or session.row.user_id is None:
            raise NotAuthenticated(LOGIN_FAILED)
        async with self._db.read() as conn:
            row = await directory_store.credentials_by_id(conn, session.row.user_id)
        if row is None or not row["active"]:
            await self.end(session)
            raise NotAuthenticated(LOGIN_FAILED, reason="ended")
        return row

    async def _failed(
        self,
        session: Session,
        row: RowMapping,
        buckets: list[Bucket],
        reason: str,
        message: str = LOGIN_FAILED,
    ) -> NotAuthenticated:
        """Count a wrong code; the failure that starts a wait ends the half-finished sign-in."""
        log.warning("sign-in failure at the second factor user_id=%s (%s)", row["id"], reason)
        until = await self.throttle.fail(buckets)
        if until is not None:
            await self.end(session)
            return SignInThrottled(until)
        return NotAuthenticated(message, reason=reason)

    async def _signed_in(
        self, session: Session, row: RowMapping, buckets: list[Bucket]
    ) -> SignedIn:
        await self.throttle.succeed(buckets)
        await self.end(session)
        active = await self.new_session(row["id"], Stage.ACTIVE)
        # The success side of the sign-in trail (failures are warnings): the account id only.
        log.info("signed in user_id=%s", row["id"])
        return SignedIn(active, self.throttle.device_cookie(row["username"]))

    def _secret(self, row: RowMapping) -> str:
        wrapped = self._keyring.unwrap_secret(
            row["totp_secret_wrapped"], totp_context(row["username"])
        )
        return wrapped.reveal().decode()

    async def _claim_code(self, row: RowMapping, code: str) -> tuple[bool, int | None]:
        """Whether ``code`` is the current TOTP code, claimed now (each step once)."""
        step = totp.matching_step(self._secret(row), code[:16], self._clock.now())
        if step is None or step <= row["totp_last_step"]:
            return False, step
        async with self._db.write() as conn:
            return await directory_store.claim_totp_step(conn, row["id"], step), step

    async def totp_step(
        self, session: Session, code: str, client: Client | None = None
    ) -> SignedIn:
        """Check the TOTP code (each code once); on success the session becomes active."""
        row = await self._pending(session, Stage.TOTP)
        buckets = self.throttle.buckets(row["username"], client or Client())
        claimed, step = await self._claim_code(row, code)
        if not claimed:
            raise await self._failed(
                session, row, buckets, "totp replay" if step is not None else "totp"
            )
        return await self._signed_in(session, row, buckets)

    async def recovery_step(
        self, session: Session, typed: str, client: Client | None = None
    ) -> SignedIn:
        """Sign in with a recovery code instead of a TOTP code: each code works once, its use
        is on the log, and the answer says how many are left. A wrong one counts as a wrong
        code does."""
        row = await self._pending(session, Stage.TOTP)
        buckets = self.throttle.buckets(row["username"], client or Client())
        now = self._clock.now()
        async with self._db.write() as conn:
            left = await self.recovery_codes.redeem(conn, row["id"], typed[:64], now)
            if left is not None:
                person = await directory_store.user_by_id(conn, row["id"])
                assert person is not None  # noqa: S101 - read in this transaction
                await ledger.append(
                    conn,
                    account_record(
                        Event.RECOVERY_CODE_USED,
                        person,
                        now,
                        by_user_id=person.id,
                        by_agency_id=person.agency_id,
                    ),
                )
        if left is None:
            raise await self._failed(session, row, buckets, "recovery code", RECOVERY_FAILED)
        log.warning("sign-in with a recovery code user_id=%s left=%s", row["id"], left)
        signed = await self._signed_in(session, row, buckets)
        return SignedIn(signed.session, signed.device_cookie, recovery_codes_left=left)

    async def enrolment(self, session: Session) -> Enrolment:
        """The new authenticator a person whose second factor was reset sets up now."""
        row = await self._pending(session, Stage.ENROL)
        secret = self._secret(row)
        return Enrolment(
            secret, totp.provisioning_uri(secret, row["username"]), row["totp_enrol_by"]
        )

    async def enrol_step(
        self, session: Session, code: str, client: Client | None = None
    ) -> SignedIn:
        """Confirm the new authenticator with a code from it: the sign-in completes, and the
        person gets a new set of recovery codes (the old ones went with the reset)."""
        row = await self._pending(session, Stage.ENROL)
        enrol_by = row["totp_enrol_by"]
        if enrol_by is None or self._clock.now() >= enrol_by:
            await self.end(session)
            raise EnrolmentExpired(ENROLMENT_EXPIRED)
        buckets = self.throttle.buckets(row["username"], client or Client())
        claimed, _ = await self._claim_code(row, code)
        if not claimed:
            raise await self._failed(session, row, buckets, "enrolment code", ENROLMENT_FAILED)
        now = self._clock.now()
        async with self._db.write() as conn:
            await directory_store.update_user(conn, row["id"], totp_enrol_by=None)
            codes = await self.recovery_codes.issue(conn, row["id"], now)
            person = await directory_store.user_by_id(conn, row["id"])
            assert person is not None  # noqa: S101 - read in this transaction
            await ledger.append_many(
                conn,
                [
                    account_record(
                        event, person, now, by_user_id=person.id, by_agency_id=person.agency_id
                    )
                    for event in (Event.SECOND_FACTOR_ENROLLED, Event.RECOVERY_CODES_ISSUED)
                ],
            )
        log.warning("new second factor set up user_id=%s", row["id"])
        signed = await self._signed_in(session, row, buckets)
        return SignedIn(signed.session, signed.device_cookie, new_recovery_codes=tuple(codes))
