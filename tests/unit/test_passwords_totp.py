"""Password hashing (hub.crypto.passwords) and TOTP (hub.crypto.totp), with explicit times."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from hub.config import PasswordHashing
from hub.crypto import totp
from hub.crypto.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordHasher

FAST = PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(FAST)


@pytest.fixture(scope="module")
def stored(hasher: PasswordHasher) -> str:
    return hasher.hash(PASSWORD)


# --- passwords ----------------------------------------------------------------------------------


def test_hash_is_argon2id_with_the_configured_parameters(stored: str) -> None:
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert PASSWORD not in stored


def test_hashes_are_salted(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.hash(PASSWORD) != stored


def test_verify_accepts_the_password_and_refuses_others(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify(stored, PASSWORD) is True
    assert hasher.verify(stored, PASSWORD + " ") is False
    assert hasher.verify(stored, PASSWORD.upper()) is False
    assert hasher.verify(stored, "") is False


def test_unknown_user_is_refused_even_with_the_dummy_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(None, PASSWORD) is False
    assert hasher.verify(None, "mappa-hub timing equaliser") is False


@pytest.mark.parametrize(
    "stored_hash", ["", "not a hash", "$argon2id$v=19$m=1024,t=1,p=1$bm9wZQ$bm9wZQ"]
)
def test_unusable_stored_hash_is_refused(hasher: PasswordHasher, stored_hash: str) -> None:
    assert hasher.verify(stored_hash, PASSWORD) is False


def test_over_long_password_is_refused_without_hashing(hasher: PasswordHasher) -> None:
    longest = "p" * MAX_PASSWORD_CHARS
    stored = hasher.hash(longest)

    assert hasher.verify(stored, longest) is True
    assert hasher.verify(stored, longest + "p") is False


@pytest.mark.parametrize("length", [0, 1, MIN_PASSWORD_CHARS - 1, MAX_PASSWORD_CHARS + 1], ids=str)
def test_hash_refuses_passwords_outside_the_length_bounds(
    hasher: PasswordHasher, length: int
) -> None:
    with pytest.raises(ValueError, match=f"{MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS}"):
        hasher.hash("x" * length)


def test_hash_accepts_the_shortest_allowed_password(hasher: PasswordHasher) -> None:
    shortest = "x" * MIN_PASSWORD_CHARS

    assert hasher.verify(hasher.hash(shortest), shortest) is True


def test_needs_rehash_when_parameters_change(hasher: PasswordHasher, stored: str) -> None:
    stronger = PasswordHasher(PasswordHashing(time_cost=2, memory_cost_kib=2048, parallelism=1))

    assert hasher.needs_rehash(stored) is False
    assert stronger.needs_rehash(stored) is True
    assert stronger.verify(stored, PASSWORD) is True  # old hashes still verify, then get rehashed
    assert stronger.needs_rehash(stronger.hash(PASSWORD)) is False


# --- TOTP ---------------------------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
WHEN = datetime(2026, 11, 23, 9, 0, 10, tzinfo=UTC)
STEP = int(WHEN.timestamp()) // 30


def test_code_at_matches_the_rfc_6238_sha1_vectors() -> None:
    secret = base64.b32encode(b"12345678901234567890").decode()

    assert totp.code_at(secret, datetime.fromtimestamp(59, UTC)) == "287082"
    assert totp.code_at(secret, datetime.fromtimestamp(1111111109, UTC)) == "081804"
    assert totp.code_at(secret, datetime.fromtimestamp(2000000000, UTC)) == "279037"


@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["previous", "current", "next"])
def test_code_of_a_step_in_the_window_names_that_step(offset: int) -> None:
    code = totp.code_at(SECRET, WHEN + timedelta(seconds=30 * offset))

    assert totp.matching_step(SECRET, code, WHEN) == STEP + offset


def test_any_moment_within_a_step_is_the_same_step() -> None:
    start = datetime.fromtimestamp(STEP * 30, UTC)
    code = totp.code_at(SECRET, start)

    assert totp.matching_step(SECRET, code, start) == STEP
    assert totp.matching_step(SECRET, code, start + timedelta(seconds=29)) == STEP
    assert totp.matching_step(SECRET, code, start + timedelta(seconds=30)) == STEP


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_code_outside_the_window_is_refused(offset: int) -> None:
    code = totp.code_at(SECRET, WHEN + timedelta(seconds=30 * offset))
    window = {totp.code_at(SECRET, WHEN + timedelta(seconds=30 * o)) for o in (-1, 0, 1)}
    assert code not in window  # the fixed secret and time give distinct codes

    assert totp.matching_step(SECRET, code, WHEN) is None


def test_code_for_another_secret_is_refused() -> None:
    other = totp.code_at("KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU", WHEN)
    assert other != totp.code_at(SECRET, WHEN)

    assert totp.matching_step(SECRET, other, WHEN) is None


def test_spaces_in_a_code_are_ignored() -> None:
    code = totp.code_at(SECRET, WHEN)

    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]} ", WHEN) == STEP


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "12a456", "abcdef", "12-456", "１２３４５６", "+12345"]
)
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.matching_step(SECRET, code, WHEN) is None


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri(SECRET, "dby.probation@example.org")
    parts = urlsplit(uri)
    query = parse_qs(parts.query)

    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert unquote(parts.path) == "/MAPPA Hub:dby.probation@example.org"
    assert query["issuer"] == ["MAPPA Hub"]
    assert query["secret"] == [SECRET]


def test_new_secrets_are_random_base32() -> None:
    secrets = {totp.new_secret() for _ in range(10)}

    assert len(secrets) == 10
    for secret in secrets:
        assert len(secret) == 32
        assert base64.b32decode(secret)  # decodes as base32
