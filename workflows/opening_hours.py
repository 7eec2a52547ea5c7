"""A service window's opening hours, in China time on the calendar's working days.

Pure functions of the window, the working calendar and a moment, so the workflow can ask
them with workflow.now() and replay to the same answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec

from kernel.china_time import CHINA_TZ, local_date
from workflows.calendar import WorkingCalendar
from workflows.definition import WindowSpec

# A window closed this long in a row is a misconfiguration, not a holiday.
_LONGEST_CLOSURE_DAYS = 60


class Session(msgspec.Struct, kw_only=True, frozen=True):
    """One opening period of the window on one day, as UTC instants."""

    opens: datetime
    closes: datetime


def sessions_on(window: WindowSpec, calendar: WorkingCalendar, day: date) -> list[Session]:
    if not calendar.is_working_day(day):
        return []
    return [
        Session(
            opens=datetime.combine(day, h.opens, CHINA_TZ).astimezone(UTC),
            closes=datetime.combine(day, h.closes, CHINA_TZ).astimezone(UTC),
        )
        for h in window.hours
    ]


def session_at(
    window: WindowSpec, calendar: WorkingCalendar, moment: datetime
) -> Session | None:
    """The opening period `moment` falls in, or None while the window is closed."""
    for s in sessions_on(window, calendar, local_date(moment)):
        if s.opens <= moment < s.closes:
            return s
    return None


def next_opening(window: WindowSpec, calendar: WorkingCalendar, moment: datetime) -> datetime:
    """The first opening at or after `moment`."""
    day = local_date(moment)
    for _ in range(_LONGEST_CLOSURE_DAYS):
        for s in sessions_on(window, calendar, day):
            if s.opens >= moment:
                return s.opens
        day += timedelta(days=1)
    raise ValueError(f"the window does not open within {_LONGEST_CLOSURE_DAYS} days")


def cut_off(window: WindowSpec, calendar: WorkingCalendar, moment: datetime) -> bool:
    """Whether `moment` lies within the closing margin of an opening period: too close to
    closing to take a submission, the moment the article's clerk stopped reviewing."""
    session = session_at(window, calendar, moment)
    margin = timedelta(minutes=window.closing_margin_minutes)
    return session is not None and moment >= session.closes - margin


def takes_submissions(window: WindowSpec, calendar: WorkingCalendar, moment: datetime) -> bool:
    """Open, and not within the closing margin."""
    return session_at(window, calendar, moment) is not None and not cut_off(
        window, calendar, moment
    )
