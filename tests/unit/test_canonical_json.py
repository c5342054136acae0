"""canonical_json (orjson) writes exactly the bytes of the standard library's form, which every
stored signature and log entry was made with; and refuses what the standard library refused."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.crypto.canonical import _reference_json, canonical_json, parse_canonical

# Every code point but the lone surrogates (no UTF-8 for those), keys included.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_SCALARS = st.none() | st.booleans() | st.integers(-(2**80), 2**80) | _TEXT
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(_TEXT, inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(_VALUES)
def test_the_bytes_are_the_standard_librarys(value: Any) -> None:
    out = canonical_json(value)
    assert out == _reference_json(value)
    assert canonical_json(parse_canonical(out)) == out  # and it reads back as canonical


@pytest.mark.parametrize("code", range(0x00, 0x100))
def test_each_control_and_latin1_character_is_written_as_before(code: int) -> None:
    value = {"k" + chr(code): "a" + chr(code) + "b"}
    assert canonical_json(value) == _reference_json(value)


@pytest.mark.parametrize("text", ["\u2028\u2029", "\ufeff", "\U0001f600 𝔸", "\ud7ff\ue000\uffff"])
def test_unusual_text_is_written_as_before(text: str) -> None:
    assert canonical_json([text, {text: text}]) == _reference_json([text, {text: text}])


def test_keys_sort_by_code_point_beyond_the_basic_plane() -> None:
    # UTF-16 order would put the astral key before U+FFFF; code point order after.
    value = {"\uffff": 1, "\U00010000": 2, "a": 3}
    assert canonical_json(value) == '{"a":3,"\uffff":1,"\U00010000":2}'.encode()


def test_integers_beyond_64_bits_are_exact() -> None:
    assert (
        canonical_json({"n": 2**70, "m": -(2**64)})
        == b'{"m":-18446744073709551616,"n":1180591620717411303424}'
    )


def test_deep_nesting_is_written_as_before() -> None:
    value: Any = 1
    for _ in range(300):  # orjson stops at 254 levels
        value = [value]
    assert canonical_json(value) == _reference_json(value)


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"a": "\ud800"})


class _Colour(enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


class _Kind(enum.StrEnum):
    NOTE = "note"


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 12, 4, tzinfo=UTC), uuid.UUID(int=1), _Point(1), _Colour.RED, b"x", {1, 2}],
    ids=["datetime", "uuid", "dataclass", "enum", "bytes", "set"],
)
def test_what_the_standard_library_refused_is_still_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        canonical_json({"v": [value]})


def test_string_and_integer_enums_are_their_values_as_before() -> None:
    value = {"kind": _Kind.NOTE, "level": _Level.HIGH, "flag": True}
    assert canonical_json(value) == b'{"flag":true,"kind":"note","level":3}'
    assert canonical_json(value) == _reference_json(value)


class _Members(dict[str, Any]):
    pass


class _Items(list[Any]):
    pass


def test_subclasses_of_the_json_types_pass_the_check_at_any_depth() -> None:
    # The check takes str, int, bool and None by their exact type first; their subclasses (and
    # those of dict and list) must still pass, as members, items and keys, however deep.
    value = {
        "top": _Kind.NOTE,
        "list": [_Level.HIGH, [_Kind.NOTE, None, False]],
        "members": _Members({_Kind.NOTE: _Items([_Level.HIGH, "x"])}),
        "tuple": (_Kind.NOTE, {"n": _Level.HIGH}),
    }
    assert canonical_json(value) == _reference_json(value)
    assert canonical_json([_Items([_Members({"a": [_Kind.NOTE]})])]) == b'[[{"a":["note"]}]]'
