"""The board indicators' arithmetic, apart from the database: quarters of the MAPPA year, one
pass from observations to each breakdown, suppression for publication, and a case's level at a
moment from its grading history."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hub.services.indicator_observations import _Levels
from hub.services.indicators import (
    NO_CASE,
    Observation,
    Tally,
    quarter_label,
    quarters_between,
    suppress,
    tally,
)
from hub.store.indicators import Grading


def test_quarters_cover_the_period_in_order_across_the_year_end() -> None:
    quarters = quarters_between(date(2005, 4, 1), date(2006, 3, 31))
    assert [quarter_label(q) for q in quarters] == [
        "Apr-Jun 2005", "Jul-Sep 2005", "Oct-Dec 2005", "Jan-Mar 2006",
    ]  # fmt: skip
    assert [quarter_label(q) for q in quarters_between(date(2026, 12, 3), date(2027, 1, 2))] == [
        "Oct-Dec 2026", "Jan-Mar 2027",
    ]  # fmt: skip


def test_each_observation_counts_once_in_every_breakdown() -> None:
    def seen(met: bool, level: int | None, agency: int | None, day: date) -> Observation:
        return Observation("requests_on_time", met, level, agency, day)

    observations = [
        seen(True, 2, 1, date(2026, 5, 1)),
        seen(False, 2, 1, date(2026, 8, 1)),
        seen(True, 3, 2, date(2026, 8, 2)),
        seen(True, None, None, date(2026, 8, 3)),  # no case, from another hub
    ]
    found = {i.key: i for i in tally(observations, date(2026, 4, 1), date(2026, 9, 30),
                                     {1: "Housing", 2: "Police"})}  # fmt: skip
    requests = found["requests_on_time"]
    assert requests.total == Tally(3, 4)
    assert dict(requests.by_level) == {"Level 2": Tally(1, 2), "Level 3": Tally(1, 1),
                                       NO_CASE: Tally(1, 1)}  # fmt: skip
    assert dict(requests.by_agency) == {"Another hub": Tally(1, 1), "Housing": Tally(1, 2),
                                        "Police": Tally(1, 1)}  # fmt: skip
    assert requests.by_quarter == (("Apr-Jun 2026", Tally(1, 1)), ("Jul-Sep 2026", Tally(2, 3)))
    # An indicator with nothing to judge says so, in every quarter.
    assert found["minutes_on_time"].total == Tally(0, 0)
    assert found["minutes_on_time"].total.shown() == "none due"
    assert [t.of for _, t in found["minutes_on_time"].by_quarter] == [0, 0]


def test_publication_hides_cells_judging_fewer_than_the_threshold() -> None:
    observations = [Observation("minutes_on_time", n % 2 == 0, 2, 1, date(2026, 5, 1))
                    for n in range(7)]  # fmt: skip
    observations.append(Observation("minutes_on_time", True, 3, 1, date(2026, 5, 2)))
    (minutes, *_) = suppress(tally(observations, date(2026, 4, 1), date(2026, 6, 30), {1: "A"}), 5)
    assert minutes.total == Tally(5, 8) and minutes.total.shown() == "62% (5 of 8)"
    levels = dict(minutes.by_level)
    assert not levels["Level 2"].suppressed
    assert levels["Level 3"].suppressed and levels["Level 3"].percent is None
    assert levels["Level 3"].to_json()["met"] is None


def test_a_cases_level_at_a_moment() -> None:
    def at(day: int) -> datetime:
        return datetime(2026, 1, day, tzinfo=UTC)

    levels = _Levels([Grading(7, 2, at(10), at(20)), Grading(7, 3, at(20), None)])
    assert levels.at(7, at(15)) == 2
    assert levels.at(7, at(20)) == 3
    assert levels.at(7, at(1)) == 2  # before its first grading: the level it was opened at
    assert levels.at(8, at(15)) is None and levels.at(None, at(15)) is None
