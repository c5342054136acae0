"""Canonical JSON bytes for anything that is signed or hashed.

Sorted keys, no insignificant white space, UTF-8, no floats: for the values the hub signs (strings,
integers, booleans, null, lists and objects) this is the same output as RFC 8785 (JCS).

The bytes are those of the standard library's ``json.dumps`` (sorted keys, compact separators,
``ensure_ascii=False``), which every stored signature and log entry was made with. orjson writes
them 15-25 times faster and, for the values ``_check`` lets through, byte for byte the same
(tests/unit/test_canonical_json.py holds the two to it over generated values, every control
character and non-BMP text). What orjson refuses and the standard library takes (integers beyond
64 bits, nesting deeper than 254) or refuses in its own words (a lone surrogate) goes to the
standard library, so the output and the errors are what they always were.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS


def _reject_float(value: Any) -> Any:
    raise TypeError(f"canonical JSON does not carry {type(value).__name__}")


# Types that are whole values as they are; checked by identity first, which costs less than
# ``isinstance`` for the strings and integers that make up most of a header or a log entry.
_LEAF_TYPES = frozenset({str, int, bool, type(None)})
_PLAIN = (str, int)  # their subclasses too (a StrEnum, an IntEnum); bool is an int
_ARRAYS = (list, tuple)


def _check(value: Any) -> None:
    """Refuse floats, and whatever the standard library would not write (orjson would write
    datetimes, UUIDs, dataclasses and other enums: not here). A member or item that is a leaf
    is checked in the loop, not by a call of its own: 8 calls for a share's header, not 30."""
    if type(value) in _LEAF_TYPES or isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str):
                raise TypeError("canonical JSON object keys must be strings")
            if type(v) not in _LEAF_TYPES:
                _check(v)
    elif isinstance(value, _ARRAYS):
        for v in value:
            if type(v) not in _LEAF_TYPES:
                _check(v)
    elif isinstance(value, float):
        _reject_float(value)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _reference_json(value: Any) -> bytes:
    """The standard library's canonical form: the reference the fast path is held to."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_json(value: Any) -> bytes:
    _check(value)
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _reference_json(value)


class NotCanonical(ValueError):
    """JSON refused by ``parse_canonical`` or ``loads_unique``; the message says why, in words
    that may go back to whoever sent it (at most 40 characters of a member name it quotes)."""


class DuplicateMember(NotCanonical):
    """An object names one member twice."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise DuplicateMember(f"the member name {name[:40]!r} appears twice in one object")
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise NotCanonical(f"{name} is not a JSON number")


def _no_float(text: str) -> Any:
    raise NotCanonical("a number with a fraction or an exponent where only integers are allowed")


def loads_unique(data: bytes | str) -> Any:
    """JSON as ``json.loads`` reads it, but refusing an object that names a member twice (which
    parsers resolve differently: the first, the last, or an error) and NaN or Infinity.
    Raises ``NotCanonical`` (a ``ValueError``) for those and for anything that is not JSON."""
    try:
        return json.loads(data, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except NotCanonical:
        raise
    except RecursionError:
        raise NotCanonical("nested too deeply") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise NotCanonical("not JSON in UTF-8") from None


def parse_canonical(data: bytes) -> Any:
    """The value of ``data`` if ``data`` is exactly ``canonical_json`` of it; ``NotCanonical``
    otherwise (not JSON, a duplicate member name, a float, white space, keys out of order,
    escapes other than the canonical ones, an unpaired surrogate).

    What is signed must have one reading: a verifier that re-encoded what it parsed, or a second
    parser that kept the other of two duplicate members, would otherwise see other values
    under the same signature."""
    try:
        value = json.loads(
            data,
            object_pairs_hook=_unique_members,
            parse_constant=_no_constant,
            parse_float=_no_float,
        )
    except NotCanonical:
        raise
    except RecursionError:
        raise NotCanonical("nested too deeply") from None
    except ValueError:
        raise NotCanonical("not JSON in UTF-8") from None
    try:
        again = canonical_json(value)
    except (UnicodeEncodeError, RecursionError):  # "\ud800": no UTF-8 encoding
        raise NotCanonical("a string that is not Unicode text") from None
    if again != data:
        raise NotCanonical("not in canonical form (sorted keys, no white space, UTF-8)")
    return value
