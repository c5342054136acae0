"""``hub.clock.utc_text``: the one form of an instant in what the hub signs and logs. It must
write exactly what the hub wrote before it (``strftime``), or stored headers and log entries
would no longer match what is recomputed from them: to the digit, at any year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from hub.clock import utc_text


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=-8))]
        ),
    )
)
def test_utc_text_is_the_text_strftime_wrote(when: datetime) -> None:
    assert utc_text(when) == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_utc_text_is_utc_to_the_microsecond() -> None:
    noon_in_delhi = datetime(2026, 12, 6, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert utc_text(noon_in_delhi) == "2026-12-06T06:30:00.000000Z"
    assert utc_text(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"


def test_before_the_year_1000_the_year_is_written_as_strftime_wrote_it() -> None:
    assert utc_text(datetime(999, 11, 23, 9, 0, tzinfo=UTC)) == "999-11-23T09:00:00.000000Z"
