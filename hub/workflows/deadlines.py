"""Every MAPPA timescale in one place, and the working-day calendar they are counted on.

The rules come from MAPPA guidance as the inspectors quote it (see ../shared/DOMAIN.md):
minutes within 10 working days of a level 2 meeting and 5 of a level 3 (001 l.537); reviews at
least every 16 weeks at level 2 and 8 at level 3 (001 l.439); referral at least six months before a
prisoner's release (001 l.376); requests answered by the due date the requester set, 10 working
days unless they say otherwise (four-fifths of referrals were answered within 10 days).
Working days exclude weekends and the England and Wales bank holidays.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

MINUTES_WORKING_DAYS = {2: 10, 3: 5}
REVIEW_WEEKS = {2: 16, 3: 8}
REFERRAL_MONTHS_BEFORE_RELEASE = 6
REQUEST_DEFAULT_WORKING_DAYS = 10
# How far ahead "due soon" looks in the inbox.
DUE_SOON_DAYS = 14
# Deadlines are days in England and Wales: after midnight in summer time it is already tomorrow.
LOCAL_TIME = ZoneInfo("Europe/London")


class ItemKind(StrEnum):
    """What a work item waits for."""

    MINUTES = "minutes"
    REVIEW = "review"
    REQUEST = "request"
    ACTION = "action"
    REFERRAL = "referral"
    # Case transfer steps (hub.services.transfers), timescales from policies/transfer.toml.
    TRANSFER_DECISION = "transfer-decision"
    TRANSFER_SEND = "transfer-send"
    TRANSFER_RECEIPT = "transfer-receipt"

    @property
    def label(self) -> str:
        return {
            "minutes": "Minutes to circulate",
            "review": "Review meeting due",
            "request": "Request for information to answer",
            "action": "Meeting action",
            "referral": "Referral before release",
            "transfer-decision": "Case transfer to accept or decline",
            "transfer-send": "Accepted case transfer to send",
            "transfer-receipt": "Transferred case to receive and complete",
        }[self.value]

    @property
    def transfer(self) -> bool:
        return self.value.startswith("transfer-")


def local_date(moment: datetime) -> date:
    """The calendar date in England and Wales at ``moment`` (an aware datetime)."""
    return moment.astimezone(LOCAL_TIME).date()


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    # England and Wales share one list of bank holidays (Wales is not a separate subdivision).
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def prepare(today: date) -> None:
    """Load the bank holidays of ``today``'s year and the next now (a server does, before its first
    request). The first lookup imports the calendar and builds the year, about 65 ms, which would
    otherwise fall inside the first commit that sets a deadline, with the log writer's batch."""
    for year in (today.year, today.year + 1):
        _bank_holidays(year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself does not count)."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    while days:
        day += timedelta(days=1)
        if is_working_day(day):
            days -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if ``end`` is earlier)."""
    if end < start:
        return -working_days_between(end, start)
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def minutes_due(meeting: date, level: int) -> date:
    return add_working_days(meeting, MINUTES_WORKING_DAYS[_multi_agency(level)])


def review_due(meeting: date, level: int) -> date:
    return meeting + timedelta(weeks=REVIEW_WEEKS[_multi_agency(level)])


def referral_due(release: date) -> date:
    due: date = release - relativedelta(months=REFERRAL_MONTHS_BEFORE_RELEASE)
    return due


def request_default_due(sent: date) -> date:
    return add_working_days(sent, REQUEST_DEFAULT_WORKING_DAYS)


def _multi_agency(level: int) -> int:
    if level not in MINUTES_WORKING_DAYS:
        raise ValueError("MAPPA meetings are held at level 2 or 3")
    return level


def is_overdue(due: date, today: date) -> bool:
    """Overdue once the due date has passed: an item due today is still on time."""
    return today > due
