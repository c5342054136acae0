"""Canonical JSON bytes for anything that is signed or hashed.

Sorted keys, no insignificant white space, UTF-8, no floats: for the values the hub signs (strings,
integers, booleans, null, lists and objects) this is the same output as RFC 8785 (JCS).
"""

from __future__ import annotations

import json
from typing import Any


def _reject_float(value: Any) -> Any:
    raise TypeError(f"canonical JSON does not carry {type(value).__name__}")


def _check(value: Any) -> None:
    if isinstance(value, float):
        _reject_float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("canonical JSON object keys must be strings")
            _check(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _check(v)


def canonical_json(value: Any) -> bytes:
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


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
