"""Statutory working days: weekends, public holidays and make-up working days, as data.

SLAs in the reforms are promised in working days (承诺时限), so a deadline is computed
against the State Council's published holiday schedule, never by adding calendar days.
Local dates are China time (kernel.china_time).

The calendar a case carries is built outside the workflow (workflows.calendar_source,
from the `holidays` package plus one data file per year); this module is the pure part
the workflow computes with. A year whose schedule has not been published is counted
from the statutory holidays alone, and a date in it is provisional (预计).
"""

from __future__ import annotations

from datetime import date, timedelta

import msgspec


class WorkingCalendar(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()  # weekend days worked in exchange (调休)
    # Years whose official schedule (the State Council's notice) the calendar holds; in the
    # others only the statutory holidays are known, so a date there is provisional.
    official_years: frozenset[int] = frozenset()

    def is_official(self, year: int) -> bool:
        return year in self.official_years

    def provisional(self, start: date, end: date) -> bool:
        """Whether a span counted from `start` to `end` crosses a year with no official
        schedule: its make-up days and exact holidays may still move the end."""
        return any(not self.is_official(y) for y in range(start.year, end.year + 1))

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
