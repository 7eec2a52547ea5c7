"""Where a case's working-day calendar comes from: the `holidays` package's statutory
holidays of mainland China, joined with one schedule file per year (the State Council's
make-up working days and days off the package lacks, and a city's local overrides).

Read by the gateway, the worker and the CLI when a case starts, never inside a workflow
(it reads files); the result, a WorkingCalendar, travels in the case's start input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import holidays
import msgspec

from kernel.china_time import local_date
from workflows.calendar import WorkingCalendar

PACKAGED_SCHEDULES = Path(__file__).parent / "calendars" / "cn-mainland"
# Years around the processing date a calendar covers: every SLA the bundles promise
# (at most a few weeks of working days) ends well inside them.
YEARS_BEFORE, YEARS_AFTER = 1, 2


class YearSchedule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One year's published schedule, as the notice gives it."""

    year: int
    official: bool = False
    notice: str = ""
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    local_holidays: frozenset[date] = frozenset()
    local_workdays: frozenset[date] = frozenset()


class ScheduleError(ValueError):
    """A schedule file that cannot be right; the message names the field."""


def read_schedule(path: Path) -> YearSchedule:
    try:
        schedule = msgspec.toml.decode(path.read_bytes(), type=YearSchedule)
    except msgspec.ValidationError as e:
        raise ScheduleError(f"{path.name}: {e}") from e
    check_schedule(schedule)
    return schedule


def check_schedule(s: YearSchedule) -> None:
    if not 2000 <= s.year <= 2099:
        raise ScheduleError(f"year: {s.year} is outside 2000-2099")
    if s.official and not s.notice.strip():
        raise ScheduleError("notice: an official schedule names the notice it comes from")
    for name in ("holidays", "makeup_workdays", "local_holidays", "local_workdays"):
        for day in getattr(s, name):
            if day.year != s.year:
                raise ScheduleError(f"{name}: {day} is not in {s.year}")
    for day in s.makeup_workdays:
        if day.weekday() < 5:
            raise ScheduleError(f"makeup_workdays: {day} is a weekday, not a weekend day")
    clash = (s.holidays | s.local_holidays) & (s.makeup_workdays | s.local_workdays)
    if clash:
        raise ScheduleError(f"holidays: {min(clash)} is both a day off and a working day")


def schedules(dirs: Iterable[Path]) -> dict[int, YearSchedule]:
    """Each year's schedule; a later folder (the installation's published files) overrides
    an earlier one (the files shipped with the product) for the same year."""
    found: dict[int, YearSchedule] = {}
    for folder in dirs:
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                schedule = read_schedule(path)
                found[schedule.year] = schedule
    return found


def statutory(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The package's days off and make-up working days of `year`."""
    cn = holidays.country_holidays("CN", years=year)
    off = frozenset(d for d in cn if d.year == year)
    worked = frozenset(d for d in getattr(cn, "weekend_workdays", ()) if d.year == year)
    return off, worked


def build_calendar(years: Iterable[int], published: Path | None = None) -> WorkingCalendar:
    dirs = [PACKAGED_SCHEDULES] + ([published] if published is not None else [])
    known = schedules(dirs)
    off: set[date] = set()
    worked: set[date] = set()
    official: set[int] = set()
    for year in years:
        package_off, package_worked = statutory(year)
        schedule = known.get(year, YearSchedule(year=year))
        year_worked = package_worked | schedule.makeup_workdays | schedule.local_workdays
        off |= (package_off | schedule.holidays | schedule.local_holidays) - year_worked
        worked |= year_worked
        if schedule.official:
            official.add(year)
    digest = hashlib.sha256(
        repr((sorted(off), sorted(worked), sorted(official))).encode()
    ).hexdigest()[:10]
    return WorkingCalendar(
        id=f"cn-mainland@{digest}",
        holidays=frozenset(off),
        makeup_workdays=frozenset(worked),
        official_years=frozenset(official),
    )


def years_around(day: date) -> range:
    return range(day.year - YEARS_BEFORE, day.year + YEARS_AFTER + 1)


def load_calendar(today: date | None = None, published: Path | None = None) -> WorkingCalendar:
    """The calendar for cases processed around `today` (default: today in China)."""
    return build_calendar(years_around(today or local_date(datetime.now(UTC))), published)


class PublishedCalendar:
    """The calendar as published now, for a process that runs for months (the gateway, the
    worker): rebuilt when the processing year turns or a schedule file is published into
    `published`, so `onething calendar publish` reaches every case started afterwards
    without a restart. Calling it costs one directory listing while nothing changed."""

    def __init__(
        self, published: Path | None = None, today: Callable[[], date] | None = None
    ) -> None:
        self._published = published
        self._today = today or (lambda: local_date(datetime.now(UTC)))
        self._key: tuple[object, ...] | None = None
        self._calendar: WorkingCalendar | None = None

    def _files(self) -> tuple[tuple[str, int], ...]:
        if self._published is None or not self._published.is_dir():
            return ()
        return tuple(sorted((f.name, f.stat().st_mtime_ns)
                            for f in self._published.glob("*.toml")))

    def __call__(self) -> WorkingCalendar:
        day = self._today()
        key = (day.year, self._files())
        if self._calendar is None or key != self._key:
            self._calendar = load_calendar(day, self._published)
            self._key = key
        return self._calendar


def missing_official(calendar: WorkingCalendar, today: date) -> list[int]:
    """This year and the next, where the calendar has no official schedule: what an
    operator should publish."""
    return [y for y in (today.year, today.year + 1) if not calendar.is_official(y)]
