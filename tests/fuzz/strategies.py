"""Strategies shared by the property tests: any JSON value, and a valid document mutated.

A mutation changes one place of a valid document (a value replaced by any JSON value, a member
removed, an unknown member added, a list item duplicated or dropped), so that most examples get
past the first checks and exercise the ones behind them; raw bytes and text cover the rest.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "0", "1", "true", "null", "NaN", "1e999", "\u202e", "\x00", "a" * 300])
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Python values a JSON or TOML parser could hand over, infinities and NaN included.
JSON_WITH_SPECIALS = JSON | st.sampled_from([float("inf"), float("-inf"), float("nan"), 10**5000])


class Named(bytes):
    """Bytes too large to print, shown by their name when hypothesis reports an example."""

    name: str

    def __new__(cls, name: str, data: bytes) -> Named:
        made = super().__new__(cls, data)
        made.name = name
        return made

    def __repr__(self) -> str:
        return f"<{self.name}: {len(self)} bytes>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


# JSON nested far past any parser's recursion limit.
DEEP = st.sampled_from(
    [Named("deep array", b"[" * 100_000), Named("deep object", b'{"a":' * 50_000)]
)


NAMES = st.text(min_size=1, max_size=12)
# One value of each JSON type, none of them empty or zero: hypothesis shrinks towards 0, "" and
# [], which a careless ``value or []`` takes in its stride; these are what catch it.
RETYPED = st.sampled_from([None, True, 7, -1, 2.5, "x", [1], ["x", "y"], {"a": 1}, [[]], [{}]])


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``doc``: () for the whole, then each member and item, depth first."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, (*prefix, i))
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def mutated(
    draw: st.DrawFn,
    doc: Any,
    values: st.SearchStrategy[Any] = JSON,
    keys: st.SearchStrategy[str] = NAMES,
    retyped: st.SearchStrategy[Any] | None = None,
) -> Any:
    """``doc`` (deep-copied) changed at one place; ``keys``: names for an added member (the
    optional members a reader knows find more than random names)."""
    doc = copy.deepcopy(doc)
    path = draw(st.sampled_from(paths(doc)))
    how = draw(st.sampled_from(["replace", "retype", "remove", "add", "duplicate"]))
    if not path:
        return draw(values) if how == "replace" else doc
    parent, last = _at(doc, path[:-1]), path[-1]
    if how == "replace":
        parent[last] = draw(values)
    elif how == "retype":
        parent[last] = draw(RETYPED if retyped is None else retyped)
    elif how == "remove":
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[draw(keys)] = draw(values)
    elif isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    else:
        parent[last] = [copy.deepcopy(parent[last])]
    return doc


@st.composite
def flipped(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes changed, inserted or cut, or truncated."""
    out = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not out:
            break
        at = draw(st.integers(min_value=0, max_value=len(out) - 1))
        how = draw(st.sampled_from(["flip", "insert", "cut", "truncate"]))
        if how == "flip":
            out[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif how == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif how == "cut":
            del out[at : at + draw(st.integers(min_value=1, max_value=64))]
        else:
            del out[at:]
    return bytes(out)
