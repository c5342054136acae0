"""Sign-in throttling: slows guessing without letting a stranger lock a named person out.

Every sign-in attempt is counted against *buckets*, each a keyed digest (HMAC-SHA256 under a key
derived from the KEK; the table never holds a name or an address):

- a browser that completed a sign-in as this person before carries a **device cookie** (signed,
  bound to the username, 90 days): its attempts count in that device's own bucket only. A
  stranger cannot make one, so however hard a username is attacked, its owner's usual browser
  keeps its own allowance (the OWASP "device cookie" scheme);
- any other attempt counts against the **username typed** (an account's or not, alike) and
  against the **client address** (all usernames tried from it; an IPv6 address by its /64).

Numbers (``SessionPolicy``): a bucket's first 5 failures (30 for an address) cost nothing; from
then on each failure makes the next attempt wait 1 s, doubling per failure (2 s, 4 s, ... 512 s),
and never more than 15 minutes. An attempt that arrives early is refused *unchecked and
uncounted*: a flood cannot push the wait beyond the cap, and once it has passed, the first
attempt in is checked. A throttled stranger gets about 15 guesses in the first hour and then 4
an hour per username (and per address). An attempt counts as a failure from the moment it is
admitted until the sign-in completes (password and second factor), which clears the buckets it
used - the address's excepted, from which only that attempt is taken back: its other failures are
forgotten after an hour without one (a username's or device's after 24 hours).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.config import SessionPolicy
from hub.crypto.secrets import constant_time_equals, random_token
from hub.errors import NotAuthenticated
from hub.services.keyring import KeyRing
from hub.store import login_throttle as store
from hub.store.database import Database

log = logging.getLogger("hub.auth")

WAIT = "Too many failed attempts. Try again later."
_FORGET_AFTER = timedelta(hours=24)
_ADDRESS_FORGET_AFTER = timedelta(hours=1)
_SWEEP_EVERY = timedelta(minutes=1)
_DEVICE_VERSION = "d1"
_MAX_DEVICE_COOKIE = 200


class Kind(StrEnum):
    USERNAME = "username"
    DEVICE = "device"
    ADDRESS = "address"


@dataclass(frozen=True)
class Client:
    """What the web layer knows of who is trying: the client's address (None when unknown)
    and the device cookie the browser sent (None when it sent none)."""

    address: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class Bucket:
    kind: Kind
    digest: str
    free: int
    forget_after: timedelta


class SignInThrottled(NotAuthenticated):
    """An attempt that came before ``until``: refused without being checked or counted. The
    web page says when to try again, in the reader's time."""

    code = "throttled"

    def __init__(self, until: datetime) -> None:
        super().__init__(WAIT, reason="throttled")
        self.until = until


def wait_after(failures: int, free: int, policy: SessionPolicy) -> timedelta | None:
    """How long the next attempt waits after ``failures`` failures; None while still free."""
    if failures < free:
        return None
    doublings = min(failures - free, 30)  # 2**30 s is far past any cap: no overflow
    wait: timedelta = policy.throttle_base * (1 << doublings)
    return min(wait, policy.throttle_cap)


def address_key(address: str | None) -> str | None:
    """The part of a client address that is counted: an IPv4 address, an IPv6 /64 (one
    subscriber's network); None for loopback (the proxy itself: no one client) or garbage."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, db: Database, keyring: KeyRing, clock: Clock, policy: SessionPolicy) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        self._key = keyring.derived_key("login-throttle")
        self._device_key = keyring.derived_key("login-device")
        self._last_sweep: datetime | None = None

    # -- digests ------------------------------------------------------------------------------

    def _digest(self, kind: Kind, value: str) -> str:
        message = kind.value.encode() + b"\x00" + value.encode()
        return hmac.new(self._key.reveal(), message, hashlib.sha256).hexdigest()

    def username_digest(self, username: str) -> str:
        """The username as typed (trimmed, case-folded, at most 64 characters), keyed."""
        return self._digest(Kind.USERNAME, username.strip()[:64].casefold())

    # -- device cookies -----------------------------------------------------------------------

    def _device_mac(self, nonce: str, expires: int, username_digest: str) -> str:
        message = f"{_DEVICE_VERSION}.{nonce}.{expires}.{username_digest}".encode()
        return hmac.new(self._device_key.reveal(), message, hashlib.sha256).hexdigest()

    def device_cookie(self, username: str) -> str:
        """A new device cookie for a browser that has just signed in as ``username``."""
        nonce = random_token(16)
        expires = int((self._clock.now() + self._policy.device_lifetime).timestamp())
        mac = self._device_mac(nonce, expires, self.username_digest(username))
        return f"{_DEVICE_VERSION}.{nonce}.{expires}.{mac}"

    def _device_nonce(self, cookie: str | None, username: str) -> str | None:
        """The cookie's nonce if it is ours, unexpired and for this username; else None."""
        if not cookie or len(cookie) > _MAX_DEVICE_COOKIE:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != _DEVICE_VERSION or not parts[2].isdigit():
            return None
        _, nonce, expires, mac = parts
        expected = self._device_mac(nonce, int(expires), self.username_digest(username))
        if not constant_time_equals(mac, expected):
            return None
        if int(expires) <= self._clock.now().timestamp():
            return None
        return nonce

    # -- buckets ------------------------------------------------------------------------------

    def buckets(self, username: str, client: Client) -> list[Bucket]:
        """What an attempt on ``username`` from ``client`` counts against."""
        nonce = self._device_nonce(client.device, username)
        free = self._policy.free_failures
        if nonce is not None:
            return [Bucket(Kind.DEVICE, self._digest(Kind.DEVICE, nonce), free, _FORGET_AFTER)]
        found = [Bucket(Kind.USERNAME, self.username_digest(username), free, _FORGET_AFTER)]
        where = address_key(client.address)
        if where is not None:
            found.append(
                Bucket(
                    Kind.ADDRESS,
                    self._digest(Kind.ADDRESS, where),
                    self._policy.address_free_failures,
                    _ADDRESS_FORGET_AFTER,
                )
            )
        # One order everywhere: parallel attempts lock rows (PostgreSQL) without deadlock.
        return sorted(found, key=lambda b: b.digest)

    async def admit(self, buckets: list[Bucket]) -> None:
        """Let an attempt be checked, counting it as a failure until the sign-in completes; or
        raise ``SignInThrottled`` (nothing counted) if any bucket says wait."""
        now = self._clock.now()
        async with self._db.write() as conn:
            await self._sweep(conn, now)
            for bucket in buckets:
                await store.forget_if_quiet(conn, bucket.digest, now - bucket.forget_after, now)
            # Count first: the upsert locks the row, so parallel attempts queue behind it and
            # see its wait. An attempt that finds one raises, and its counts roll back.
            counts = [await store.count_failure(conn, b.digest, now) for b in buckets]
            rows = await store.get_many(conn, (b.digest for b in buckets))
            waits = [r.not_before for r in rows.values() if r.not_before and r.not_before > now]
            if waits:
                raise SignInThrottled(max(waits))
            for bucket, failures in zip(buckets, counts, strict=True):
                await self._hold(conn, bucket, failures, now)

    async def fail(self, buckets: list[Bucket]) -> datetime | None:
        """Count one more failure (a wrong code after an admitted attempt, which is already
        counted). Returns when the next attempt may come if it must now wait, else None."""
        now = self._clock.now()
        until: datetime | None = None
        async with self._db.write() as conn:
            for bucket in buckets:
                failures = await store.count_failure(conn, bucket.digest, now)
                held = await self._hold(conn, bucket, failures, now)
                if held is not None:
                    until = max(until or held, held)
        return until

    async def succeed(self, buckets: list[Bucket]) -> None:
        """A sign-in completed: forget the failures of its username or device. An address's
        other failures stay (one account's success must not buy guesses at others from the same
        place); only this attempt, counted when it was admitted, is taken back, so that many
        people signing in from one office address do not slow each other."""
        async with self._db.write() as conn:
            await store.clear(conn, (b.digest for b in buckets if b.kind is not Kind.ADDRESS))
            await store.uncount(conn, (b.digest for b in buckets if b.kind is Kind.ADDRESS))

    async def _hold(
        self, conn: AsyncConnection, bucket: Bucket, failures: int, now: datetime
    ) -> datetime | None:
        wait = wait_after(failures, bucket.free, self._policy)
        if wait is None:
            return None
        await store.hold(conn, bucket.digest, now + wait)
        # For security monitoring: the kind and a digest prefix, never what was typed.
        log.warning(
            "sign-in throttled %s=%s failures=%s wait=%ss",
            bucket.kind.value,
            bucket.digest[:12],
            failures,
            int(wait.total_seconds()),
        )
        return now + wait

    async def _sweep(self, conn: AsyncConnection, now: datetime) -> None:
        if self._last_sweep is not None and now - self._last_sweep < _SWEEP_EVERY:
            return
        self._last_sweep = now
        await store.sweep(conn, now - _FORGET_AFTER, now)
