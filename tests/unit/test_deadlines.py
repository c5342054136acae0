"""The MAPPA timescales and the England and Wales working-day calendar they are counted on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hub.workflows import deadlines
from hub.workflows.deadlines import (
    ItemKind,
    add_working_days,
    is_overdue,
    is_working_day,
    minutes_due,
    referral_due,
    request_default_due,
    review_due,
    working_days_between,
)

# -- the calendar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 23), True),  # Monday
        (date(2026, 11, 27), True),  # Friday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 12, 24), True),  # Christmas Eve is not a bank holiday
        (date(2026, 12, 25), False),  # Christmas Day (Friday)
        (date(2026, 12, 26), False),  # Boxing Day (Saturday)
        (date(2026, 12, 28), False),  # Boxing Day observed on the Monday
        (date(2026, 12, 29), True),
        (date(2027, 1, 1), False),  # New Year's Day
        (date(2027, 3, 26), False),  # Good Friday 2027
        (date(2027, 3, 29), False),  # Easter Monday 2027
        (date(2027, 3, 30), True),
        (date(2027, 8, 30), False),  # late summer bank holiday (England and Wales)
        # Holidays of the other UK jurisdictions are working days in England and Wales.
        (date(2026, 11, 30), True),  # St Andrew's Day (Scotland), a Monday in 2026
        (date(2027, 1, 4), True),  # 2 January substitute (Scotland)
        (date(2027, 3, 17), True),  # St Patrick's Day (Northern Ireland)
        (date(2027, 7, 12), True),  # Battle of the Boyne (Northern Ireland)
        (date(2027, 8, 2), True),  # summer bank holiday (Scotland: first Monday in August)
    ],
)
def test_working_days_follow_the_england_and_wales_calendar(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_adding_working_days_skips_weekends() -> None:
    friday = date(2026, 11, 27)
    assert add_working_days(friday, 1) == date(2026, 11, 30)  # the Monday
    assert add_working_days(friday, 5) == date(2026, 12, 4)
    # The start day does not count, even when it is a working day.
    assert add_working_days(date(2026, 11, 23), 1) == date(2026, 11, 24)
    # Starting on a weekend: the first working day after it.
    assert add_working_days(date(2026, 11, 28), 1) == date(2026, 11, 30)
    assert add_working_days(date(2026, 11, 29), 1) == date(2026, 11, 30)


def test_adding_no_working_days_is_the_start_day() -> None:
    assert add_working_days(date(2026, 11, 28), 0) == date(2026, 11, 28)


def test_adding_negative_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 11, 23), -1)


def test_christmas_and_boxing_day_observed_are_skipped() -> None:
    # Thu 24 Dec 2026 -> Fri 25 (Christmas), Sat 26 (Boxing Day), Sun 27, Mon 28 (Boxing Day
    # observed) -> Tue 29 Dec.
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert add_working_days(date(2026, 12, 23), 2) == date(2026, 12, 29)
    # ... and New Year's Day 2027 (a Friday) across the year end.
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    # 2027: Christmas and Boxing Day fall at the weekend, both observed (Mon 27, Tue 28).
    assert add_working_days(date(2027, 12, 24), 1) == date(2027, 12, 29)


def test_easter_2027_is_skipped() -> None:
    # Good Friday 26 March and Easter Monday 29 March 2027.
    assert add_working_days(date(2027, 3, 25), 1) == date(2027, 3, 30)
    assert add_working_days(date(2027, 3, 24), 2) == date(2027, 3, 30)
    assert add_working_days(date(2027, 3, 22), 10) == date(2027, 4, 7)


def test_working_days_between_counts_after_start_up_to_end() -> None:
    assert working_days_between(date(2026, 11, 23), date(2026, 11, 23)) == 0
    assert working_days_between(date(2026, 11, 23), date(2026, 11, 24)) == 1
    # Fri -> Mon: the weekend is not counted.
    assert working_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 1
    # Across Christmas 2026: only 29 December counts.
    assert working_days_between(date(2026, 12, 24), date(2026, 12, 29)) == 1
    # Earlier end: negative.
    assert working_days_between(date(2026, 12, 29), date(2026, 12, 24)) == -1
    assert working_days_between(date(2026, 12, 7), date(2026, 11, 23)) == -10


@pytest.mark.parametrize(
    ("start", "days"),
    [
        (date(2026, 11, 23), 10),
        (date(2026, 12, 17), 10),
        (date(2027, 3, 19), 7),
        (date(2027, 12, 20), 12),
    ],
)
def test_working_days_between_inverts_adding(start: date, days: int) -> None:
    assert working_days_between(start, add_working_days(start, days)) == days


# -- the guidance's timescales -----------------------------------------------------------------


def test_minutes_due_in_ten_working_days_at_level_2() -> None:
    assert deadlines.MINUTES_WORKING_DAYS == {2: 10, 3: 5}
    assert minutes_due(date(2026, 11, 23), 2) == date(2026, 12, 7)
    # Across Christmas and New Year: 18, 21-24, 29-31 Dec, 4-5 Jan.
    assert minutes_due(date(2026, 12, 17), 2) == date(2027, 1, 5)
    # Across Easter 2027: 22-25, 30-31 Mar, 1-2, 5-6 Apr.
    assert minutes_due(date(2027, 3, 19), 2) == date(2027, 4, 6)


def test_minutes_due_in_five_working_days_at_level_3() -> None:
    # St Andrew's Day (Monday 30 November) is a Scottish holiday only: it counts.
    assert minutes_due(date(2026, 11, 23), 3) == date(2026, 11, 30)
    assert minutes_due(date(2026, 12, 17), 3) == date(2026, 12, 24)
    assert minutes_due(date(2026, 12, 21), 3) == date(2026, 12, 30)
    # Across Easter 2027: 25, 30, 31 Mar, 1-2 Apr.
    assert minutes_due(date(2027, 3, 24), 3) == date(2027, 4, 2)


def test_review_due_in_16_weeks_at_level_2_and_8_at_level_3() -> None:
    meeting = date(2026, 11, 23)
    assert review_due(meeting, 2) == date(2027, 3, 15)
    assert review_due(meeting, 3) == date(2027, 1, 18)
    # Calendar weeks, not working days: a review may fall on a bank holiday.
    assert review_due(date(2026, 12, 7), 2) == date(2027, 3, 29)
    assert not is_working_day(review_due(date(2026, 12, 7), 2))


@pytest.mark.parametrize("level", [0, 1, 4, -2])
def test_meeting_timescales_refuse_levels_other_than_2_and_3(level: int) -> None:
    with pytest.raises(ValueError, match="level 2 or 3"):
        minutes_due(date(2026, 11, 23), level)
    with pytest.raises(ValueError, match="level 2 or 3"):
        review_due(date(2026, 11, 23), level)


@pytest.mark.parametrize(
    ("release", "referral"),
    [
        (date(2027, 5, 15), date(2026, 11, 15)),
        (date(2027, 1, 10), date(2026, 7, 10)),  # across the year
        (date(2027, 8, 31), date(2027, 2, 28)),  # no 31 February: the month's last day
        (date(2028, 8, 31), date(2028, 2, 29)),  # leap year
        (date(2027, 12, 31), date(2027, 6, 30)),  # no 31 June
        (date(2027, 3, 31), date(2026, 9, 30)),
    ],
)
def test_referral_due_six_months_before_release(release: date, referral: date) -> None:
    assert referral_due(release) == referral


def test_request_default_due_in_ten_working_days() -> None:
    assert request_default_due(date(2026, 11, 23)) == date(2026, 12, 7)
    assert request_default_due(date(2026, 12, 18)) == date(2027, 1, 6)


def test_an_item_due_today_is_not_overdue() -> None:
    due = date(2026, 12, 7)
    assert not is_overdue(due, due - timedelta(days=1))
    assert not is_overdue(due, due)
    assert is_overdue(due, due + timedelta(days=1))


def test_every_item_kind_has_a_label() -> None:
    labels = {kind: kind.label for kind in ItemKind}
    assert labels[ItemKind.MINUTES] == "Minutes to circulate"
    assert all(labels.values())
    assert len(set(labels.values())) == len(ItemKind)


def test_prepare_loads_this_year_and_the_next() -> None:
    deadlines._bank_holidays.cache_clear()
    deadlines.prepare(date(2031, 6, 2))
    cached = deadlines._bank_holidays.cache_info()
    assert cached.currsize == 2
    # The years loaded are the ones looked up: no new entry for either.
    assert is_working_day(date(2031, 12, 25)) is False  # Christmas Day
    assert is_working_day(date(2032, 1, 1)) is False  # New Year's Day
    assert deadlines._bank_holidays.cache_info().currsize == 2
    assert deadlines._bank_holidays.cache_info().hits == cached.hits + 2
