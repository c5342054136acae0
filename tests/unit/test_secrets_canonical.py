"""Secret material helpers (hub.crypto.secrets) and canonical JSON (hub.crypto.canonical)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from hub.crypto.canonical import canonical_json
from hub.crypto.secrets import (
    SecretBytes,
    constant_time_equals,
    random_token,
    sha256_hex,
    token_digest,
)

# --- SecretBytes --------------------------------------------------------------------------------


def test_secret_bytes_never_shows_its_value() -> None:
    secret = SecretBytes(b"hunter2-correct-horse")

    for text in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"k": secret})):
        assert "hunter2" not in text
    assert repr(secret) == "<SecretBytes len=21>"
    assert str(secret) == repr(secret)


def test_secret_bytes_reveals_length_and_value_on_request() -> None:
    secret = SecretBytes(bytearray(b"abc"))

    assert secret.reveal() == b"abc"
    assert isinstance(secret.reveal(), bytes)
    assert len(secret) == 3


def test_secret_bytes_equality_and_hash() -> None:
    a, b, c = SecretBytes(b"same"), SecretBytes(b"same"), SecretBytes(b"diff")

    assert a == b
    assert a != c
    assert a != b"same"  # never equal to plain bytes
    assert hash(a) == hash(b)
    assert len({a, b, c}) == 2


# --- constant-time comparison and digests ----------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (b"abc", b"abc", True),
        (b"abc", b"abd", False),
        (b"abc", b"abcd", False),
        ("token", "token", True),
        ("token", "Token", False),
        ("token", b"token", True),
        ("é", "é".encode(), True),
        ("", b"", True),
    ],
)
def test_constant_time_equals(a: bytes | str, b: bytes | str, equal: bool) -> None:
    assert constant_time_equals(a, b) is equal
    assert constant_time_equals(b, a) is equal


def test_sha256_hex_and_token_digest() -> None:
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert token_digest("tok") == hashlib.sha256(b"tok").hexdigest()
    assert token_digest("tok") != "tok"


def test_random_token_is_url_safe_and_fresh() -> None:
    tokens = {random_token() for _ in range(20)}

    assert len(tokens) == 20
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, unpadded base64url
    assert all(
        set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for t in tokens
    )
    assert len(random_token(8)) == 11


# --- canonical JSON -----------------------------------------------------------------------------


def test_keys_are_sorted_at_every_level_without_white_space() -> None:
    value = {"b": 1, "a": {"z": [3, {"y": None, "x": True}], "c": False}, "A": "x"}

    assert canonical_json(value) == (b'{"A":"x","a":{"c":false,"z":[3,{"x":true,"y":null}]},"b":1}')


def test_insertion_order_does_not_matter() -> None:
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_non_ascii_is_written_as_utf8_and_controls_are_escaped() -> None:
    out = canonical_json({"name": "Größe – 報告", "ctl": 'a\nb\x01"\\'})

    assert out == '{"ctl":"a\\nb\\u0001\\"\\\\","name":"Größe – 報告"}'.encode()
    assert json.loads(out) == {"name": "Größe – 報告", "ctl": 'a\nb\x01"\\'}


def test_tuples_are_arrays_and_big_integers_are_exact() -> None:
    assert canonical_json({"t": (1, 2), "n": 2**53 - 1, "neg": -7}) == (
        b'{"n":9007199254740991,"neg":-7,"t":[1,2]}'
    )


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": 0.0}, [1, [2, float("nan")]], {"a": {"b": (1.0,)}}, float("inf")],
    ids=["top", "in-object", "nested-list", "in-tuple", "inf"],
)
def test_floats_are_refused_wherever_they_are(value: Any) -> None:
    with pytest.raises(TypeError, match="does not carry float"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {"ok": {None: 1}}, [{("t",): 1}], {True: 1}],
    ids=["int", "nested-none", "tuple-in-list", "bool"],
)
def test_non_string_keys_are_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="keys must be strings"):
        canonical_json(value)


def test_values_json_cannot_carry_are_refused() -> None:
    with pytest.raises(TypeError):
        canonical_json({"b": b"bytes"})
