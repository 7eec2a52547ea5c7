from datetime import UTC, date, datetime

from kernel.china_time import end_of_day, local_date
from workflows.calendar_source import load_calendar

CAL = load_calendar()


def test_holidays_and_makeup_days_are_respected() -> None:
    assert not CAL.is_working_day(date(2026, 10, 1))  # National Day
    assert CAL.is_working_day(date(2026, 10, 10))  # a Saturday worked in exchange
    assert not CAL.is_working_day(date(2026, 11, 21))  # an ordinary Saturday
    assert CAL.is_working_day(date(2026, 11, 23))


def test_sla_counts_from_the_day_after_acceptance() -> None:
    # Accepted on Wednesday 30 September: 8, 9 and 10 October are the next working days.
    assert CAL.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    # Accepted on a Friday: five working days end the next Friday.
    assert CAL.add_working_days(date(2026, 11, 20), 5) == date(2026, 11, 27)
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3


def test_local_dates_are_china_time() -> None:
    late_utc = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # 01:00 on the 21st in Wuxi
    assert local_date(late_utc) == date(2026, 11, 21)
    assert end_of_day(date(2026, 11, 20)) == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
