"""Business counters for /metrics, read from the notebook's store at scrape time.

Cases and friction are recorded by workers in other processes; reading the store's
rollups gives one true count whichever gateway is scraped. Labels stay bounded: bundle,
status, kind and who, never a case or a person. Names follow Prometheus conventions:
counters end in _total, burden is in seconds (the base unit) although the notebook
estimates it in minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from friction.notebook import WorkingDays
from friction.register import CAUSES
from friction.store import MetricsStore
from kernel.china_time import local_date
from kernel.events import FRICTION_KINDS
from workflows.calendar import WorkingCalendar

# Burden is summed over every stuck point, not the top of the backlog. Their number is
# bounded by bundles x steps x subjects (fields, materials, rules), a few hundred.
NO_BUNDLE = "-"  # events from channels that name no bundle, as in a stuck point's fingerprint


class NotebookCollector(Collector):
    def __init__(
        self, store: MetricsStore, calendar: Callable[[], WorkingDays] | None = None
    ) -> None:
        self._store = store
        self._calendar = calendar  # ages in working days if given, else in days

    def collect(self) -> Iterator[Metric]:
        opened = CounterMetricFamily(
            "onething_cases_opened", "Cases opened, by bundle", labels=["bundle"]
        )
        completed = CounterMetricFamily(
            "onething_cases_completed", "Cases completed, by bundle", labels=["bundle"]
        )
        by_bundle: dict[str, int] = {}
        done: dict[str, int] = {}
        for (bundle, status), count in self._store.case_counts().items():
            by_bundle[bundle] = by_bundle.get(bundle, 0) + count
            if status == "completed":
                done[bundle] = done.get(bundle, 0) + count
        for bundle, count in sorted(by_bundle.items()):
            opened.add_metric([bundle], count)
            completed.add_metric([bundle], done.get(bundle, 0))
        friction = CounterMetricFamily(
            "onething_friction_events", "Friction events recorded, by kind", labels=["kind"]
        )
        for kind, count in sorted(self._store.counts_by_kind().items()):
            friction.add_metric([kind], count)
        yield opened
        yield completed
        yield friction
        yield from self._burden_and_trips(by_bundle)
        yield from self._cant_get_it_done()

    def _cant_get_it_done(self) -> Iterator[Metric]:
        unit = "working_days" if self._calendar else "days"
        open_cases = GaugeMetricFamily(
            "onething_cant_get_it_done_open",
            "Can't-get-it-done cases registered and not yet answered, by cause",
            labels=["cause"],
        )
        oldest = GaugeMetricFamily(
            f"onething_cant_get_it_done_oldest_age_{unit}",
            f"Age in {unit.replace('_', ' ')} of the oldest unanswered can't-get-it-done "
            "case, by cause (the deadline is about 5 working days)",
            labels=["cause"],
        )
        today = local_date(datetime.now(UTC))
        found = {o.cause: o for o in self._store.open_cant_get_it_done()}
        for cause in sorted({*CAUSES, *found}):
            summary = found.get(cause)
            open_cases.add_metric([cause], summary.count if summary else 0)
            if summary is None:
                continue
            registered = local_date(summary.oldest_registered_at)
            age = (
                self._calendar().working_days_between(registered, today)
                if self._calendar
                else (today - registered).days
            )
            oldest.add_metric([cause], age)
        yield open_cases
        yield oldest

    def _burden_and_trips(self, bundles: dict[str, int]) -> Iterator[Metric]:
        burden = CounterMetricFamily(
            "onething_friction_burden_seconds",
            "Estimated time friction cost citizens and clerks (burden.toml), by kind and who",
            labels=["kind", "who"],
        )
        trips = CounterMetricFamily(
            "onething_repeat_trips",
            "Trips a citizen made after the first, by bundle; trips per case is "
            "1 + this / onething_cases_opened_total",
            labels=["bundle"],
        )
        minutes = {(kind, who): 0.0 for kind in FRICTION_KINDS for who in ("citizen", "clerk")}
        repeats = dict.fromkeys(bundles, 0)
        for row in self._store.kind_totals():
            minutes[(row.kind, "citizen")] = (
                minutes.get((row.kind, "citizen"), 0.0) + row.citizen_minutes
            )
            minutes[(row.kind, "clerk")] = minutes.get((row.kind, "clerk"), 0.0) + row.clerk_minutes
            if row.kind == "repeat_trip":
                bundle = row.bundle or NO_BUNDLE
                repeats[bundle] = repeats.get(bundle, 0) + row.events
        for (kind, who), total in sorted(minutes.items()):
            burden.add_metric([kind, who], total * 60)
        for bundle, count in sorted(repeats.items()):
            trips.add_metric([bundle], count)
        yield burden
        yield trips


class CalendarCoverage(Collector):
    """Whether the working-day calendar holds the official schedule of this year and the
    next (0: counted from the statutory holidays alone, so promised dates are provisional),
    by year for people and by `when` (this_year, next_year) for alert rules, which cannot
    compare a label with the current year."""

    def __init__(
        self, calendar: Callable[[], WorkingCalendar],
        today: Callable[[], date] | None = None,
    ) -> None:
        self._calendar = calendar  # the calendar as published at each scrape
        self._today = today or (lambda: local_date(datetime.now(UTC)))

    def collect(self) -> Iterator[Metric]:
        year = self._today().year
        official = GaugeMetricFamily(
            "onething_calendar_official",
            "1 if the calendar holds the year's official holiday schedule, else 0",
            labels=["year"],
        )
        relative = GaugeMetricFamily(
            "onething_calendar_schedule_official",
            "1 if the calendar holds the official holiday schedule of this year or the "
            "next (when), else 0",
            labels=["when"],
        )
        calendar = self._calendar()
        for when, y in (("this_year", year), ("next_year", year + 1)):
            held = 1 if calendar.is_official(y) else 0
            official.add_metric([str(y)], held)
            relative.add_metric([when], held)
        yield official
        yield relative
