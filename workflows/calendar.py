"""Statutory working days: weekends, public holidays and make-up working days, as data.

SLAs in the reforms are promised in working days (承诺时限), so a deadline is computed
against the State Council's published holiday schedule, never by adding calendar days.
China keeps one time zone with no daylight saving, so local dates use a fixed UTC+8.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import msgspec

CHINA_TZ = timezone(timedelta(hours=8), "CST")


class WorkingCalendar(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()  # weekend days worked in exchange (调休)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The last working day of an SLA of `days` working days counted from the day
        after `start` (the day of acceptance does not count)."""
        if days < 1:
            raise ValueError("an SLA is at least one working day")
        day, counted = start, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def local_date(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def end_of_day(day: date) -> datetime:
    """The first instant after `day` ends, in UTC: when an SLA whose last day is `day`
    is breached."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), CHINA_TZ).astimezone(
        UTC
    )


CALENDARS_DIR = Path(__file__).parent / "calendars"


def load_calendar(path: Path = CALENDARS_DIR / "cn-mainland.toml") -> WorkingCalendar:
    return msgspec.toml.decode(path.read_bytes(), type=WorkingCalendar)


def month_of(day: date) -> str:
    """A calendar month as "YYYY-MM"."""
    return f"{day:%Y-%m}"
