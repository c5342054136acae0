"""What a new password must be (ASVS 4.0 V2.1): 12 to 1,024 characters of anything (spaces and
any script allowed, nothing required), not the username, and not one of the passwords that
attackers try first. The list is short and ships with the code: the hub makes no network call
to check a password. No composition rules and no expiry (NIST SP 800-63B 5.1.1.2)."""

from __future__ import annotations

import unicodedata

from hub.crypto.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from hub.errors import InvalidInput

# Twelve characters or more, from the most common entries of published breach corpora (the
# shorter common ones are refused by the length already), and the obvious ones for this service.
_COMMON = frozenset(
    {
        "123456789012", "1234567890123", "12345678901234", "123456789123", "1234567890qwerty",
        "qwertyuiopasdfghjkl", "qwertyuiopas", "qwerty123456", "qwertyuiop123",
        "1q2w3e4r5t6y", "1qaz2wsx3edc", "zaq12wsxcde3", "password1234", "password12345",
        "password123456", "passwordpassword", "password1234!", "p@ssw0rd1234", "iloveyou1234",
        "abcdefghijkl", "abcd1234abcd", "abc123abc123", "111111111111", "000000000000",
        "123123123123", "welcome12345", "letmein12345", "changeme1234", "administrator",
        "administrator1", "trustno1trustno1", "football1234", "baseball1234", "sunshine1234",
        "princess1234", "monkey123456", "dragon123456", "superman1234", "mappahub1234",
        "mappa-hub-password", "mappahubpassword", "probation1234", "police123456",
        "welcome2026!", "winter2026!!", "summer2026!!", "spring2026!!", "autumn2026!!",
    }
)  # fmt: skip


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def check_new_password(password: str, again: str, username: str) -> None:
    """Raise ``InvalidInput`` naming the field at fault (``new`` or ``again``)."""
    if not password:
        raise InvalidInput("Enter a new password", field="new")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(
            f"Your new password must be {MIN_PASSWORD_CHARS} characters or more", field="new"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(
            f"Your new password must be {MAX_PASSWORD_CHARS:,} characters or fewer", field="new"
        )
    folded = _folded(password)
    if _folded(username) in folded:
        raise InvalidInput("Your new password must not contain your username", field="new")
    if folded in _COMMON or len(set(folded)) <= 2:
        raise InvalidInput(
            "Your new password is too easy to guess. Try 3 or 4 unrelated words", field="new"
        )
    if again != password:
        raise InvalidInput("The passwords do not match", field="again")
