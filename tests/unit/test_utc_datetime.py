"""``UTCDateTime`` on SQLite reads stored text by a fast path (``types._sqlite_reader``): it must
answer exactly what the general way (parse, then make UTC) answers, or fail as it fails. It writes
by one too (``types._sqlite_writer``), held to the text the general way writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite

from hub.store.types import UTCDateTime

DIALECT = sqlite.dialect()
# As SQLAlchemy asks for them: of the type adapted to the dialect (its impl SQLite's DATETIME).
ADAPTED = UTCDateTime().dialect_impl(DIALECT)
FAST = UTCDateTime()._cached_result_processor(DIALECT, None)
GENERAL = TypeDecorator.result_processor(ADAPTED, DIALECT, None)
# What the hub writes (the fast path), and the general way: the decorator's bind step, then
# SQLite's DATETIME text.
STORE = UTCDateTime()._cached_bind_processor(DIALECT)
GENERAL_STORE = TypeDecorator.bind_processor(ADAPTED, DIALECT)


def _answer(read: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", read(value)
    except Exception as exc:  # the same kind of failure either way
        return "error", type(exc)


def _same(value: Any) -> None:
    fast, general = _answer(FAST, value), _answer(GENERAL, value)
    assert fast == general
    if fast[0] == "value" and fast[1] is not None:
        assert fast[1].tzinfo is UTC


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1, 0, 0), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_what_the_hub_stores_reads_back_the_same(when: datetime) -> None:
    assert FAST is not None and STORE is not None
    stored = STORE(when)
    assert isinstance(stored, str)
    _same(stored)
    assert FAST(stored) == when


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2, 0, 0),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-11, minutes=-30))]
        ),
    )
)
def test_the_fast_writer_writes_what_the_general_way_writes(when: datetime) -> None:
    assert STORE is not None and GENERAL_STORE is not None
    assert STORE(when) == GENERAL_STORE(when)
    assert len(STORE(when)) == 26


@pytest.mark.parametrize(
    "value", [None, datetime(2026, 12, 4, 21, 0), "2026-12-04 21:00:00.000000", 17]
)
def test_the_fast_writer_refuses_what_the_general_way_refuses(value: Any) -> None:
    assert STORE is not None and GENERAL_STORE is not None
    assert _answer(STORE, value) == _answer(GENERAL_STORE, value)


def test_the_fast_writer_is_sqlites_alone() -> None:
    assert STORE is not None and STORE.__qualname__ == "_sqlite_writer"
    pg = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    write = UTCDateTime()._cached_bind_processor(pg)
    assert write is None or write.__qualname__ != "_sqlite_writer"


@given(st.text(alphabet="0123456789-:. TZ+", max_size=32) | st.text(max_size=32))
def test_any_text_reads_as_the_general_way_reads_it(text: str) -> None:
    _same(text)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "2026-12-04",  # a bare date: parsed with an offset appended it would stay naive
        "2026-12-04 21:00",
        "2026-12-04 21:00:00.123456",
        "2026-12-04T21:00:00Z",
        "2026-12-04T21:00:00+01:00",
        "2026-12-04 21:00:00.123456-05:30",
        "not a time",
        "",
        # Text the parser takes with an offset appended but refuses without one.
        "000101010000",
        "2020-01-01T05:070",
        "2024-01-01T00500",
        "2020-01-01Z05:",
        17,
        datetime(2026, 12, 4, 21, 0),
        datetime(2026, 12, 4, 21, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_the_forms_the_fast_path_must_not_misread(value: Any) -> None:
    _same(value)


def test_the_fast_path_is_sqlites_alone() -> None:
    assert FAST is not None and FAST is not GENERAL
    assert FAST.__qualname__ == "_sqlite_reader.<locals>.read"
    pg = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    read = UTCDateTime()._cached_result_processor(pg, None)
    assert read is None or read.__qualname__ != FAST.__qualname__
