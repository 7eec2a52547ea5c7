"""Working days in every year: the `holidays` package's statutory holidays joined with one
schedule file per year, a calendar that knows which years are official, and a schedule
published while a case is open moving its deadline (time-skipping server, pinned clock)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import msgspec
import pytest
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    pin_clock,
    running_worker,
    set_behaviour,
)
from temporalio.testing import WorkflowEnvironment

from deploy import calendar_admin
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.china_time import CHINA_TZ, end_of_day
from kernel.events import ExtraWait
from workflows.bundle import BundleWorkflow
from workflows.calendar_source import (
    PublishedCalendar,
    ScheduleError,
    build_calendar,
    load_calendar,
    missing_official,
    read_schedule,
)
from workflows.definition import BundleDefinition, Catalogue, StepSpec

# The State Council's 2026 schedule as it was typed by hand before the package held it:
# the package plus the year file must give exactly these working days.
HAND_TYPED_2026_OFF = {
    "01-01", "01-02", "01-03", "02-15", "02-16", "02-17", "02-18", "02-19", "02-20", "02-21",
    "02-22", "02-23", "04-04", "04-05", "04-06", "05-01", "05-02", "05-03", "05-04", "05-05",
    "06-19", "06-20", "06-21", "09-25", "09-26", "09-27", "10-01", "10-02", "10-03", "10-04",
    "10-05", "10-06", "10-07",
}
HAND_TYPED_2026_WORKED = {"01-04", "02-14", "02-28", "05-09", "09-20", "10-10"}

CAL = load_calendar(date(2026, 12, 7))

pytestmark = pytest.mark.own_clock


def test_2026_is_the_official_schedule_day_for_day() -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        key = f"{day:%m-%d}"
        expected = key in HAND_TYPED_2026_WORKED or (
            key not in HAND_TYPED_2026_OFF and day.weekday() < 5
        )
        assert CAL.is_working_day(day) is expected, day
        day += timedelta(days=1)
    assert CAL.is_official(2026)


def test_2027_has_its_statutory_holidays_and_is_provisional() -> None:
    assert not CAL.is_working_day(date(2027, 1, 1))  # New Year's Day
    for d in range(5, 11):  # the Spring Festival of 2027
        assert not CAL.is_working_day(date(2027, 2, d))
    assert CAL.add_working_days(date(2026, 12, 28), 5) == date(2027, 1, 5)
    assert not CAL.is_official(2027)
    assert CAL.provisional(date(2026, 12, 28), date(2027, 1, 5))
    assert not CAL.provisional(date(2026, 12, 1), date(2026, 12, 8))
    assert missing_official(CAL, date(2026, 12, 7)) == [2027]


def test_a_published_schedule_adds_make_up_days_and_local_days_off(tmp_path: Path) -> None:
    (tmp_path / "2027.toml").write_text(
        'year = 2027\nofficial = true\nnotice = "国务院办公厅关于2027年部分节假日安排的通知"\n'
        "makeup_workdays = [2027-02-20]\nlocal_holidays = [2027-03-01]\n"
    )
    cal = build_calendar([2026, 2027], tmp_path)
    assert cal.is_official(2027) and cal.id != CAL.id
    assert cal.is_working_day(date(2027, 2, 20))  # a Saturday worked in exchange
    assert not cal.is_working_day(date(2027, 3, 1))  # the city's own day off
    assert missing_official(cal, date(2026, 12, 7)) == []
    printed = calendar_admin.show(cal, 2027)
    assert "official" in printed and "02-20" in printed and "03-01" in printed


@pytest.mark.parametrize(("body", "field"), [
    ("year = 2027\nofficial = true\n", "notice"),
    ('year = 2027\nmakeup_workdays = [2027-02-22]\n', "makeup_workdays"),  # a Monday
    ('year = 2027\nholidays = [2028-01-01]\n', "holidays"),
    ('year = 2027\nholidays = [2027-02-20]\nmakeup_workdays = [2027-02-20]\n', "holidays"),
])
def test_a_wrong_schedule_file_is_refused_naming_the_field(
    tmp_path: Path, body: str, field: str
) -> None:
    path = tmp_path / "2027.toml"
    path.write_text(body)
    with pytest.raises(ScheduleError, match=field):
        read_schedule(path)
    with pytest.raises(ScheduleError):
        calendar_admin.install(path, tmp_path / "state")
    assert not (tmp_path / "state" / "calendars" / "2027.toml").exists()


def test_the_published_calendar_follows_new_files_and_the_turn_of_the_year(
    tmp_path: Path,
) -> None:
    day = [date(2027, 3, 1)]
    source = PublishedCalendar(tmp_path / "calendars", today=lambda: day[0])
    first = source()
    assert not first.is_official(2027) and source() is first  # nothing changed: no rebuild
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "2027.toml").write_text(
        'year = 2027\nofficial = true\nnotice = "test notice"\nmakeup_workdays = [2027-02-14]\n')
    published = source()
    assert published.is_official(2027) and published.is_working_day(date(2027, 2, 14))
    assert published.id != first.id
    day[0] = date(2031, 1, 2)
    assert 2032 in {d.year for d in source().holidays}  # the years around the new day


# -- on the time-skipping server ----------------------------------------------------------
# The suite's clock is pinned 28 years ahead (same weekdays): Monday 2054-12-28 plays the
# role of Monday 2026-12-28, and 2055-01-01 is New Year's Day, a Friday.
ACCEPTED = datetime.combine(date(2054, 12, 28), time(9, 0), CHINA_TZ)


def five_day_step() -> BundleDefinition:
    employment = Catalogue.load().default("employment-hardship")
    step = employment.step("unemployment-registration")
    known = tuple(f for f in step.fields if f.concept and not f.concept.startswith("employment."))
    slow = StepSpec(id="registration-review", name_zh="失业登记复核",
                    name_en="Registration review", agency="hrss", sla_working_days=5,
                    fields=known, materials=step.materials)
    return msgspec.structs.replace(employment, id="review-only", steps=(slow,))


async def run_slow_case(
    env: WorkflowEnvironment, agencies: ServedApp, urls: dict[str, str],
    store: SqliteFrictionStore, citizen: Citizen, task_queue: str, publish: Path | None,
) -> tuple[ExtraWait, bool]:
    await pin_clock(env, ACCEPTED)
    # About sixteen days of pending polls: past the SLA whatever the holidays.
    await set_behaviour(agencies, "hrss", pending_polls=400)
    start = msgspec.structs.replace(bundle_start(five_day_step(), citizen),
                                    calendar=build_calendar([2054, 2055]))
    async with running_worker(env.client, urls, store, task_queue):
        handle = await env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue,
            execution_timeout=timedelta(days=60))
        if publish is not None:
            await handle.signal(BundleWorkflow.calendar_published,
                                build_calendar([2054, 2055], publish))
        progress = await handle.result()
    assert progress.status == "completed"
    [wait] = [e for e in store.events_for_case(start.case_id) if isinstance(e, ExtraWait)]
    assert wait.occurred_at >= wait.due_at  # type: ignore[operator]
    return wait, progress.steps[0].due_provisional


async def test_a_five_working_day_sla_across_new_year_breaches_on_the_right_day(
    time_env: WorkflowEnvironment, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str,
) -> None:
    wait, provisional = await run_slow_case(
        time_env, fresh_agencies, agency_urls, store,
        citizen_where(population, ecerts=True), task_queue, publish=None)
    # 29, 30, 31 December, (1 January off), 4 and 5 January.
    assert wait.due_at == end_of_day(date(2055, 1, 5))
    assert provisional  # no official schedule for 2054-55 is installed


async def test_a_schedule_published_while_the_case_is_open_moves_its_deadline(
    time_env: WorkflowEnvironment, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str, tmp_path: Path,
) -> None:
    (tmp_path / "2054.toml").write_text(
        'year = 2054\nofficial = true\nnotice = "test notice 2054"\nholidays = [2054-12-31]\n')
    (tmp_path / "2055.toml").write_text(
        'year = 2055\nofficial = true\nnotice = "test notice 2055"\n'
        "holidays = [2055-01-04]\n")
    wait, _ = await run_slow_case(
        time_env, fresh_agencies, agency_urls, store,
        citizen_where(population, ecerts=True), task_queue, publish=tmp_path)
    # 29, 30 December, 5, 6, 7 January: two more days off move the end two working days.
    assert wait.due_at == end_of_day(date(2055, 1, 7))
    assert wait.calendar == build_calendar([2054, 2055], tmp_path).id


async def test_an_sla_across_the_spring_festival(
    time_env: WorkflowEnvironment, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str,
) -> None:
    # The Spring Festival on the pinned clock's year: 2055's statutory days off.
    cal = build_calendar([2055])
    off = sorted(d for d in cal.holidays if d.month in (1, 2) and d.day != 1)
    assert off, "the package computes 2055's Spring Festival"
    before = off[0] - timedelta(days=1)
    while not cal.is_working_day(before):
        before -= timedelta(days=1)
    due = cal.add_working_days(before, 5)
    weekdays_only = before
    counted = 0
    while counted < 5:
        weekdays_only += timedelta(days=1)
        counted += weekdays_only.weekday() < 5
    assert due > weekdays_only  # the festival's days do not count
    assert all(not cal.is_working_day(d) for d in off if d.weekday() < 5)
