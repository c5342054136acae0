"""Small helpers for secret material: a repr that hides it, randomness, constant-time compare."""

from __future__ import annotations

import hashlib
import hmac
import secrets


class SecretBytes:
    """Bytes that never show themselves in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<SecretBytes len={len(self._value)}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretBytes) and constant_time_equals(self._value, other._value)

    def __hash__(self) -> int:
        return hash(sha256_hex(self._value))


def constant_time_equals(a: bytes | str, b: bytes | str) -> bool:
    """The one comparison to use for tokens, MACs and digests."""
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def token_digest(token: str) -> str:
    """What is stored for a bearer or session token: its SHA-256, never the token."""
    return sha256_hex(token.encode())
