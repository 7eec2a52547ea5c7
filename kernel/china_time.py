"""China time: one offset all year (UTC+8, no daylight saving), so a local date, the end
of a day and a calendar month are plain arithmetic. Every layer counts days and months by
these, never by the machine's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "CST")


def local_date(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def end_of_day(day: date) -> datetime:
    """The first instant after `day` ends, in UTC: when an SLA whose last day is `day`
    is breached."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), CHINA_TZ).astimezone(
        UTC
    )


def month_of(day: date) -> str:
    """A calendar month as "YYYY-MM"."""
    return f"{day:%Y-%m}"
