"""The data bureau's dashboard: where bundles stall, what it costs citizens and clerks,
and whether the reforms' numbers are met, for one bundle, centre and period or all.

The store sums rollups (the *Sums types and KindDay of friction.store.dashboard, its
answers, re-exported here for the dashboard's callers); this module shapes them into
the dashboard's sections and, as the reports do, withholds every figure about a bundle
that has fewer than min_group cases in the filter, so no number points at a few people.
"""

from __future__ import annotations

from datetime import date

import msgspec

from friction.register import CAUSES
from friction.reports import (
    DEFAULT_MIN_GROUP,
    PREFILL_BENCHMARK,
    ReportRow,
    ratio,
    to_row,
)
from friction.store.dashboard import (
    BreachSums,
    CantGetItDoneByCause,
    DashboardFilter,
    DashboardStore,
    KindDay,
    PointSums,
)
from friction.store.reports import ReportSums
from friction.stuck_points import Granularity, period_start, periods
from kernel.events import FRICTION_KINDS

__all__ = [
    "BreachSums", "CantGetItDoneByCause", "Dashboard", "DashboardFilter", "FilterOptions",
    "FrictionInPeriod", "KindDay", "PointSums", "PrefillShare", "SlaBreaches",
    "StuckPointBurden", "TripsPerCase", "build_dashboard", "filter_options",
]


# -- the dashboard's sections ---------------------------------------------------------------


class FrictionInPeriod(msgspec.Struct, kw_only=True, frozen=True):
    """Friction of one kind in one period (a China-local day, or a week from Monday)."""

    period_start: date
    kind: str
    events: int
    citizen_minutes: float
    clerk_minutes: float
    burden_minutes: float


class StuckPointBurden(msgspec.Struct, kw_only=True, frozen=True):
    """A stuck point among the top ones by burden; numbers None when suppressed."""

    fingerprint: str
    kind: str
    bundle: str | None
    step: str | None
    subject: str
    suppressed: bool
    events: int | None = None
    cases: int | None = None
    citizen_minutes: float | None = None
    clerk_minutes: float | None = None
    burden_minutes: float | None = None


class TripsPerCase(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    suppressed: bool
    cases: int | None = None
    average_trips: float | None = None  # over every case opened, open ones so far
    one_trip_share: float | None = None  # of the completed cases, those done in one trip


class PrefillShare(msgspec.Struct, kw_only=True, frozen=True):
    """Fields prefilled over the approved steps of a bundle's cases."""

    bundle: str
    suppressed: bool
    fields_total: int | None = None
    fields_prefilled: int | None = None
    share: float | None = None
    benchmark: float = PREFILL_BENCHMARK
    benchmark_met: bool | None = None


class SlaBreaches(msgspec.Struct, kw_only=True, frozen=True):
    """Waits past their SLA at one step of a bundle; burden minutes as the notebook
    costs them (clerks' notes about a wait included, as in its stuck point)."""

    bundle: str | None
    step: str | None
    suppressed: bool
    events: int | None = None
    cases: int | None = None
    citizen_minutes: float | None = None
    clerk_minutes: float | None = None
    burden_minutes: float | None = None


class Dashboard(msgspec.Struct, kw_only=True, frozen=True):
    filter: DashboardFilter
    min_group: int
    friction_over_time: tuple[FrictionInPeriod, ...]  # by period, then kind
    stuck_points: tuple[StuckPointBurden, ...]  # by burden, largest first
    trips: tuple[TripsPerCase, ...]  # by bundle
    prefill: tuple[PrefillShare, ...]  # by bundle
    sla_breaches: tuple[SlaBreaches, ...]  # by bundle and step
    cant_get_it_done: tuple[CantGetItDoneByCause, ...]  # every cause, in the register's order


class FilterOptions(msgspec.Struct, kw_only=True, frozen=True):
    bundles: tuple[str, ...]
    centres: tuple[str, ...]


def filter_options(store: DashboardStore) -> FilterOptions:
    """The bundles and centres the store knows, sorted, for the page's drop-downs."""
    bundles, centres = store.bundles_and_centres()
    return FilterOptions(bundles=tuple(bundles), centres=tuple(centres))


def build_dashboard(
    store: DashboardStore,
    flt: DashboardFilter,
    *,
    top: int = 10,
    min_group: int = DEFAULT_MIN_GROUP,
) -> Dashboard:
    if flt.granularity not in ("day", "week"):
        raise ValueError(f"granularity: day or week, not {flt.granularity!r}")
    sums = store.report_sums("bundle", flt.since, flt.until, flt.bundle, centre=flt.centre)
    rows = {s.group: to_row(s, min_group) for s in sums}

    def suppressed(bundle: str | None) -> bool:
        # A bundle's figures describe its cases: withheld when it has fewer than
        # min_group in the filter (none at all included). Friction naming no bundle
        # belongs to no group of cases.
        return bundle is not None and (bundle not in rows or rows[bundle].suppressed)

    points = store.point_sums(flt, limit=top)
    breaches = store.sla_breaches(flt)
    causes = {c.cause: c for c in store.register_counts(flt)}
    return Dashboard(
        filter=flt,
        min_group=min_group,
        friction_over_time=_over_time(store.kind_days(flt), flt.granularity),
        stuck_points=tuple(_point(p, suppressed(p.bundle)) for p in points),
        trips=tuple(_trips(s, rows[s.group]) for s in sums),
        prefill=tuple(_prefill(s, rows[s.group]) for s in sums),
        sla_breaches=tuple(_breach(b, suppressed(b.bundle)) for b in breaches),
        cant_get_it_done=tuple(
            causes.get(cause, CantGetItDoneByCause(cause=cause, open=0, answered=0))
            for cause in CAUSES
        ),
    )


def _over_time(days: list[KindDay], granularity: Granularity) -> tuple[FrictionInPeriod, ...]:
    sums: dict[tuple[date, str], tuple[int, float, float]] = {}
    for d in days:
        key = (period_start(d.day, granularity), d.kind)
        events, citizen, clerk = sums.get(key, (0, 0.0, 0.0))
        sums[key] = (events + d.events, citizen + d.citizen_minutes, clerk + d.clerk_minutes)
    if not sums:
        return ()
    starts = [start for start, _ in sums]
    present = {kind for _, kind in sums}
    kinds = [k for k in FRICTION_KINDS if k in present] + sorted(present - set(FRICTION_KINDS))
    # Every kind in every period, quiet ones as zeros, so each kind's line is continuous.
    return tuple(
        FrictionInPeriod(period_start=start, kind=kind, events=events,
                         citizen_minutes=citizen, clerk_minutes=clerk,
                         burden_minutes=citizen + clerk)
        for start in periods(min(starts), max(starts), granularity)
        for kind in kinds
        for events, citizen, clerk in [sums.get((start, kind), (0, 0.0, 0.0))]
    )


def _point(p: PointSums, suppressed: bool) -> StuckPointBurden:
    named = StuckPointBurden(fingerprint=p.fingerprint, kind=p.kind, bundle=p.bundle,
                             step=p.step, subject=p.subject, suppressed=True)
    if suppressed:
        return named
    return msgspec.structs.replace(
        named, suppressed=False, events=p.events, cases=p.cases,
        citizen_minutes=p.citizen_minutes, clerk_minutes=p.clerk_minutes,
        burden_minutes=p.citizen_minutes + p.clerk_minutes,
    )


def _trips(sums: ReportSums, row: ReportRow) -> TripsPerCase:
    if row.suppressed:
        return TripsPerCase(bundle=sums.group, suppressed=True)
    return TripsPerCase(
        bundle=sums.group, suppressed=False, cases=row.cases,
        average_trips=ratio(sums.trips, sums.cases), one_trip_share=row.one_trip_rate,
    )


def _prefill(sums: ReportSums, row: ReportRow) -> PrefillShare:
    if row.suppressed:
        return PrefillShare(bundle=sums.group, suppressed=True)
    return PrefillShare(
        bundle=sums.group, suppressed=False, fields_total=sums.fields_total,
        fields_prefilled=sums.fields_prefilled, share=row.prefilled_share,
        benchmark_met=row.prefill_benchmark_met,
    )


def _breach(b: BreachSums, suppressed: bool) -> SlaBreaches:
    if suppressed:
        return SlaBreaches(bundle=b.bundle, step=b.step, suppressed=True)
    return SlaBreaches(
        bundle=b.bundle, step=b.step, suppressed=False, events=b.events, cases=b.cases,
        citizen_minutes=b.citizen_minutes, clerk_minutes=b.clerk_minutes,
        burden_minutes=b.citizen_minutes + b.clerk_minutes,
    )
