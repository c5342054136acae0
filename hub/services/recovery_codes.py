"""Recovery codes: ten one-time codes for a person whose authenticator app is lost.

A code is 10 characters of Crockford's base32 (50 random bits), shown as ``abcde-12345``. Only an
HMAC-SHA256 of each (under a key derived from the KEK, with the person's id) is stored: a stolen
database does not give them up, and a slow hash would add nothing a 50-bit secret behind sign-in
throttling needs. Typed codes are compared against every unused one in constant time, and a code
is marked used in the same statement that checks it was not (one use, even in a race).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto.secrets import constant_time_equals
from hub.services.keyring import KeyRing
from hub.store import recovery_codes as store

CODES_PER_SET = 10
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: no i, l, o or u
_LENGTH = 10
# What people misread, as Crockford's decoding reads it.
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1"})


def normalise(typed: str) -> str | None:
    """The code as stored, from what was typed (any case, spaces or hyphens); None if it
    cannot be a recovery code."""
    code = typed.strip().lower().replace("-", "").replace(" ", "").translate(_READ_AS)
    if len(code) != _LENGTH or any(c not in _ALPHABET for c in code):
        return None
    return code


def _shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


class RecoveryCodes:
    def __init__(self, keyring: KeyRing) -> None:
        self._key = keyring.derived_key("recovery-codes")

    def _digest(self, user_id: int, code: str) -> str:
        message = f"{user_id}:{code}".encode()
        return hmac.new(self._key.reveal(), message, hashlib.sha256).hexdigest()

    async def issue(self, conn: AsyncConnection, user_id: int, now: datetime) -> list[str]:
        """A new set in place of any earlier one; the codes as the person is shown them, once."""
        codes = [
            "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)) for _ in range(CODES_PER_SET)
        ]
        await store.replace(conn, user_id, [self._digest(user_id, c) for c in codes], now)
        return [_shown(c) for c in codes]

    async def redeem(
        self, conn: AsyncConnection, user_id: int, typed: str, now: datetime
    ) -> int | None:
        """Use the code typed: how many remain unused, or None if it is not an unused code."""
        code = normalise(typed)
        if code is None:
            return None
        digest = self._digest(user_id, code)
        match: int | None = None
        for code_id, stored in await store.unused(conn, user_id):
            # Every stored code is compared, whichever matches.
            if constant_time_equals(stored, digest) and match is None:
                match = code_id
        if match is None or not await store.use(conn, match, now):
            return None
        return await store.count_unused(conn, user_id)
