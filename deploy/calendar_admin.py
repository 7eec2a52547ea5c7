"""`onething calendar show | publish`: what the product believes about a year's working
days, and installing a newly published schedule for every open case."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

from temporalio.client import Client

from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar
from workflows.calendar_source import build_calendar, read_schedule, years_around
from workflows.cant_get_it_done import CantGetItDoneWorkflow


def published_dir(state_dir: Path) -> Path:
    return state_dir / "calendars"


def show(calendar: WorkingCalendar, year: int) -> str:
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    days = [d for d in days if d.year == year]
    working = sum(calendar.is_working_day(d) for d in days)
    off = sorted(d for d in calendar.holidays if d.year == year)
    worked = sorted(d for d in calendar.makeup_workdays if d.year == year)
    status = ("official: the State Council's schedule is installed (正式)"
              if calendar.is_official(year)
              else "provisional: statutory holidays only, no make-up days yet (预计)")
    return "\n".join([
        f"{year}: {working} working days; {status}",
        f"calendar {calendar.id}",
        "holidays (节假日): " + (", ".join(f"{d:%m-%d}" for d in off) or "none"),
        "make-up working days (调休上班): " + (", ".join(f"{d:%m-%d}" for d in worked) or "none"),
    ])


def install(file: Path, state_dir: Path) -> int:
    """Check a year's schedule file and copy it into the installation's state; the year
    it names. Raises ScheduleError naming the field at fault."""
    schedule = read_schedule(file)
    target = published_dir(state_dir)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file, target / f"{schedule.year}.toml")
    return schedule.year


async def hand_to_open_cases(client: Client, state_dir: Path, today: date) -> int:
    """Signal every running bundle case and can't-get-it-done case with the calendar as
    now published; the count."""
    count = 0
    built: dict[int, WorkingCalendar] = {}  # by the year cases opened in: read files once
    async for execution in client.list_workflows(
        'WorkflowType IN ("BundleWorkflow", "CantGetItDoneWorkflow") '
        'AND ExecutionStatus = "Running"'
    ):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        # Each case is counted around the year it started in, as when it was opened.
        opened = execution.start_time.date() if execution.start_time else today
        if opened.year not in built:
            built[opened.year] = build_calendar(years_around(opened), published_dir(state_dir))
        if execution.workflow_type == "CantGetItDoneWorkflow":
            await handle.signal(CantGetItDoneWorkflow.calendar_published, built[opened.year])
        else:
            await handle.signal(BundleWorkflow.calendar_published, built[opened.year])
        count += 1
    return count
