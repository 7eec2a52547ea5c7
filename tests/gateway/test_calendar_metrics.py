"""/metrics says which of this year's and next year's official schedules the calendar
lacks, by year and by `when`, the label the alert rules read."""

from __future__ import annotations

from datetime import date

from prometheus_client import CollectorRegistry, generate_latest

from gateway.metrics import CalendarCoverage
from workflows.calendar import WorkingCalendar


def scraped(official_years: set[int], today: date) -> str:
    calendar = WorkingCalendar(id="test", official_years=frozenset(official_years))
    registry = CollectorRegistry()
    registry.register(CalendarCoverage(lambda: calendar, today=lambda: today))
    return generate_latest(registry).decode()


def test_next_year_missing_is_named_by_year_and_as_next_year() -> None:
    text = scraped({2030}, date(2030, 12, 1))
    assert 'onething_calendar_official{year="2030"} 1.0' in text
    assert 'onething_calendar_official{year="2031"} 0.0' in text
    assert 'onething_calendar_schedule_official{when="this_year"} 1.0' in text
    assert 'onething_calendar_schedule_official{when="next_year"} 0.0' in text


def test_a_new_year_without_its_schedule_is_this_year_missing() -> None:
    text = scraped({2030}, date(2031, 1, 2))
    assert 'onething_calendar_schedule_official{when="this_year"} 0.0' in text
    assert 'onething_calendar_schedule_official{when="next_year"} 0.0' in text
    assert 'onething_calendar_official{year="2030"}' not in text
