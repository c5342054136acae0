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
