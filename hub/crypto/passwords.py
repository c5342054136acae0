"""Password hashing with argon2id (argon2-cffi), rehash on login, bounded input."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.config import PasswordHashing

MAX_PASSWORD_CHARS = 1024
MIN_PASSWORD_CHARS = 12


class PasswordHasher:
    def __init__(self, params: PasswordHashing) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None

    def prepare(self) -> str:
        """A hash of nothing in particular, so that an unknown user costs as much as a known one.
        Made once, when first needed (a command that checks no password does not pay its 0.1 s),
        or before a server's first request (``Hub.build_all``)."""
        if self._dummy is None:
            self._dummy = str(self._hasher.hash("mappa-hub timing equaliser"))
        return self._dummy

    def hash(self, password: str) -> str:
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise ValueError(
                f"passwords must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
            )
        return str(self._hasher.hash(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches. Runs the full hash even for unknown users."""
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        try:
            return bool(self._hasher.verify(stored_hash or self.prepare(), password)) and (
                stored_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return bool(self._hasher.check_needs_rehash(stored_hash))
