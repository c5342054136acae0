"""Sign-in: password (argon2id), then TOTP (pyotp, each code once), lockout, server-side sessions.

Session stages: ``anonymous`` (a CSRF token for the login form), ``totp`` (password accepted,
waiting for a code, short-lived) and ``active``. The cookie value changes at every stage change, so
a token seen before login is worthless after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hub.clock import Clock
from hub.config import SessionPolicy
from hub.crypto import totp
from hub.crypto.passwords import PasswordHasher
from hub.crypto.secrets import random_token, token_digest
from hub.errors import NotAuthenticated
from hub.services.actor import Actor
from hub.services.directory import totp_context
from hub.services.keyring import KeyRing
from hub.store import directory as directory_store
from hub.store import login_throttle as throttle_store
from hub.store import sessions as store
from hub.store.database import Database
from hub.store.sessions import SessionRow

log = logging.getLogger("hub.auth")

LOGIN_FAILED = (
    "Sign-in failed. Check your username, password and code; after repeated failures the account "
    "is locked for a while."
)
LOCKED = "Too many failed attempts. Try again later."
# Failures on a username forgotten after this long without another (a lock in force stays), and
# how often a gateway sweeps them: the throttle table stays bounded by recent attempts.
_FORGET_AFTER = timedelta(hours=24)
_SWEEP_EVERY = timedelta(minutes=1)
# Refresh last-seen at most this often, so that reading pages does not write on every request.
_TOUCH_EVERY_SECONDS = 30


class Stage(StrEnum):
    ANONYMOUS = "anonymous"
    TOTP = "totp"
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


class AccountLocked(NotAuthenticated):
    """Too many failed sign-ins for the username typed, an account's or not: refused until
    ``until`` whatever is typed. The web page says until when, in the reader's time."""

    code = "locked"

    def __init__(self, until: datetime) -> None:
        super().__init__(LOCKED, reason="locked")
        self.until = until


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
        self._throttle_key = keyring.derived_key("login-throttle")
        self._last_sweep: datetime | None = None

    # -- sessions ---------------------------------------------------------------------------

    async def _new_session(self, user_id: int | None, stage: Stage) -> Session:
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
        return await self._new_session(None, Stage.ANONYMOUS)

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

    # -- signing in ---------------------------------------------------------------------------

    def username_digest(self, username: str) -> str:
        """The keyed digest the throttle counts under: HMAC-SHA256 of the username as typed
        (trimmed, case-folded) under a key derived from the KEK. Never the username itself."""
        typed = username.strip()[:64].casefold().encode()
        return hmac.new(self._throttle_key.reveal(), typed, hashlib.sha256).hexdigest()

    def _locked(self, locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and now < locked_until

    async def _record_failure(self, digest: str, user_id: int | None) -> datetime | None:
        """Count a failed sign-in against the username typed (and its account, if there is one).
        Returns the end of the lock when this failure starts one."""
        now = self._clock.now()
        until = None
        async with self._db.write() as conn:
            if self._last_sweep is None or now - self._last_sweep > _SWEEP_EVERY:
                self._last_sweep = now
                await throttle_store.sweep(
                    conn, now - max(_FORGET_AFTER, self._policy.lockout), now
                )
            # Counted in the database, so parallel wrong guesses are all counted.
            failures = await throttle_store.count_failure(conn, digest, now)
            if user_id is not None:
                await directory_store.count_failure(conn, user_id)
            if failures >= self._policy.max_failed_logins:
                until = now + self._policy.lockout
                await throttle_store.lock(conn, digest, until, now)
                if user_id is not None:
                    await directory_store.update_user(
                        conn, user_id, failed_logins=0, locked_until=until
                    )
        # For security monitoring: the account id or a digest prefix, never what was typed.
        who = f"user_id={user_id}" if user_id is not None else f"username_digest={digest[:12]}"
        log.warning("sign-in failure %s failures=%s", who, failures)
        if until is not None:
            log.warning("sign-in locked %s for %s", who, self._policy.lockout)
        return until

    async def password_step(self, session: Session, username: str, password: str) -> Session:
        """Check the password; on success replace the session with a TOTP-pending one.

        Failures count against the username typed, whether or not an account has it, so a lock
        (``AccountLocked``) looks the same for every username and reveals none."""
        if session.stage is not Stage.ANONYMOUS:
            raise NotAuthenticated(LOGIN_FAILED)
        typed = username.strip()[:64]
        digest = self.username_digest(typed)
        now = self._clock.now()
        async with self._db.read() as conn:
            throttle = await throttle_store.get(conn, digest)
            row = await directory_store.credentials_by_username(conn, typed)
        if throttle is not None and throttle.locked_until and now < throttle.locked_until:
            raise AccountLocked(throttle.locked_until)
        # argon2id takes tens of milliseconds of CPU: keep it off the event loop.
        ok = await asyncio.to_thread(
            self._hasher.verify, row["password_hash"] if row else None, password
        )
        if row is not None and self._locked(row["locked_until"], now):
            # An account locked outside the throttle (a lock from before it): refused like a
            # wrong password, so that it says nothing about whether the account exists.
            raise NotAuthenticated(LOGIN_FAILED, reason="locked")
        if row is None or not row["active"] or not ok:
            until = await self._record_failure(digest, row["id"] if row is not None else None)
            if until is not None:
                raise AccountLocked(until)
            raise NotAuthenticated(LOGIN_FAILED, reason="password")
        if self._hasher.needs_rehash(row["password_hash"]):
            rehashed = await asyncio.to_thread(self._hasher.hash, password)
            async with self._db.write() as conn:
                await directory_store.update_user(conn, row["id"], password_hash=rehashed)
        await self.end(session)
        return await self._new_session(row["id"], Stage.TOTP)

    async def totp_step(self, session: Session, code: str) -> Session:
        """Check the TOTP code (each code once); on success the session becomes active.

        A wrong code counts against the account's username as a wrong password does; the failure
        that locks it ends the half-finished sign-in (``AccountLocked``)."""
        if session.stage is not Stage.TOTP or session.row.user_id is None:
            raise NotAuthenticated(LOGIN_FAILED)
        async with self._db.read() as conn:
            row = await directory_store.credentials_by_id(conn, session.row.user_id)
        now = self._clock.now()
        if row is None or not row["active"]:
            await self.end(session)
            raise NotAuthenticated(LOGIN_FAILED, reason="locked")
        digest = self.username_digest(row["username"])
        async with self._db.read() as conn:
            throttle = await throttle_store.get(conn, digest)
        locks = [row["locked_until"], throttle.locked_until if throttle else None]
        in_force = [t for t in locks if t is not None and self._locked(t, now)]
        if in_force:
            await self.end(session)
            raise AccountLocked(max(in_force))
        secret = self._keyring.unwrap_secret(
            row["totp_secret_wrapped"], totp_context(row["username"])
        )
        step = totp.matching_step(secret.reveal().decode(), code[:16], now)
        claimed = False
        if step is not None and step > row["totp_last_step"]:
            async with self._db.write() as conn:
                claimed = await directory_store.claim_totp_step(conn, row["id"], step)
                if claimed:
                    await throttle_store.clear(conn, digest)
        if not claimed:
            until = await self._record_failure(digest, row["id"])
            if until is not None:
                await self.end(session)
                raise AccountLocked(until)
            raise NotAuthenticated(
                LOGIN_FAILED, reason="totp replay" if step is not None else "totp"
            )
        await self.end(session)
        return await self._new_session(row["id"], Stage.ACTIVE)
