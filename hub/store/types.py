from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        # SQLite's binds go through ``_sqlite_writer`` (below); this stays the general way it is
        # held to (tests/unit/test_utc_datetime.py), and what a literal rendering of a value uses.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_writer

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError("expected a datetime from the database")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or general is None:
            return general
        return _sqlite_reader(general)


def _sqlite_writer(value: datetime | None) -> str | None:
    """An aware datetime straight to the text SQLite's DATETIME stores ("2026-12-05 17:00:00.000000",
    UTC, always to the microsecond), in one C call. The general way (``process_bind_param``, then
    the DATETIME type's ``%`` formatting of seven fields) took twice as long, and a share
    binds three (tests/unit/test_utc_datetime.py holds the two to the same text)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]


def _sqlite_reader(general: Callable[[Any], Any]) -> Callable[[Any], datetime | None]:
    """SQLite's stored text straight to an aware UTC datetime: parsed with the offset appended,
    in one C call, where parsing and then ``replace(tzinfo=UTC)`` took eight times as long (a
    listing page reads a hundred). Anything that does not parse so (an offset of its own, a bare
    date, which the parser would leave naive) goes the general way: the same answer, or error,
    as without this (tests/unit/test_utc_datetime.py)."""
    parse = datetime.fromisoformat

    def read(value: Any) -> datetime | None:
        if value is None:
            return None
        if not (
            type(value) is str
            and len(value) == 26
            and value[4] == value[7] == "-"
            and value[10] == " "
            and value[13] == value[16] == ":"
            and value[19] == "."
        ):
            # Not in the form the hub writes ("2026-12-05 17:00:00.000000"): with an offset
            # appended, the parser takes text it refuses without one ("2020-01-01T05:070" read
            # as 05:07, "000101010000" as 0001-01-01), so such text goes the general way.
            return general(value)  # type: ignore[no-any-return]
        try:
            parsed = parse(value + "+00:00")
        except ValueError:
            return general(value)  # type: ignore[no-any-return]
        return parsed if parsed.tzinfo is UTC else general(value)

    return read
