"""Reads for the data bureau's reports and for the metrics, summed from rollups, cases and
the register so their cost does not grow with the number of raw events.

ReportSums and KindTotal are the store's answers, defined here beside the SQL that sums
them; friction.reports turns sums into the reforms' numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import msgspec

from friction.store.case_rollups import aligned
from friction.store.engine import Cursor, Engine, Row, day_window, filters, window
from friction.store.register import OpenCantGetItDone
from kernel.events import FRICTION_KINDS

__all__ = ["GroupBy", "KindTotal", "MetricsSql", "MetricsStore", "ReportSql", "ReportStore",
           "ReportSums"]

GroupBy = Literal["bundle", "step", "centre"]


class ReportSums(msgspec.Struct, kw_only=True, frozen=True):
    """What the store adds up for one group; cases are counted once each."""

    group: str  # the bundle id, "bundle/step" or the centre
    cases: int
    completed: int
    # Cases ended for good (completed, closed as not eligible, withdrawn) in a single trip.
    one_trip: int
    working_days_sum: int  # over completed cases (steps: over finished steps)
    working_days_count: int
    clerk_minutes: float | None  # None for steps: handling time is recorded per case
    friction_citizen_minutes: float
    friction_clerk_minutes: float
    fields_total: int
    fields_prefilled: int
    trips: int = 0  # summed over the cases (steps: over the cases that reached the step)
    closed: int = 0  # cases no longer open, however they ended
    not_eligible: int = 0  # closed by the clerk: a material rule the citizen cannot meet
    withdrawn: int = 0  # withdrawn by the citizen


class KindTotal(msgspec.Struct, kw_only=True, frozen=True):
    """Friction of one kind in one bundle (None: a channel that names no bundle)."""

    kind: str
    bundle: str | None
    events: int
    citizen_minutes: float
    clerk_minutes: float


# One statement for the cases of each group, one for their friction; both over the cases
# opened in the window, of one bundle and centre if asked ({filters}), summed from rollups.
_REPORT_STATEMENTS: dict[str, str] = {
    # A case's trips: its record's, or one plus its repeat_trip events when that is more (a
    # case's record is written when it opens and when it closes, so an open case's return
    # trips are known from its events only; a clerk's note joined to the point is no trip).
    "cases": """
SELECT {group}, count(*),
       sum(CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END),
       sum(CASE WHEN c.status IN ('completed', 'not_eligible', 'withdrawn') AND c.trips <= 1
           THEN 1 ELSE 0 END),
       coalesce(sum(CASE WHEN c.status = 'completed' THEN c.working_days END), 0),
       count(CASE WHEN c.status = 'completed' THEN c.working_days END),
       coalesce(sum(c.clerk_minutes), 0),
       coalesce(sum(c.fields_total), 0),
       coalesce(sum(c.fields_prefilled), 0),
       coalesce(sum(c.trips), 0),
       sum(CASE WHEN c.status <> 'open' THEN 1 ELSE 0 END),
       sum(CASE WHEN c.status = 'not_eligible' THEN 1 ELSE 0 END),
       sum(CASE WHEN c.status = 'withdrawn' THEN 1 ELSE 0 END)
FROM (
    SELECT t.bundle, t.centre, t.status, t.working_days, t.clerk_minutes, t.fields_total,
           t.fields_prefilled,
           CASE WHEN 1 + t.returns > t.trips THEN 1 + t.returns ELSE t.trips END AS trips
    FROM (
        SELECT c.*, (SELECT count(*) FROM events e
                     WHERE e.case_id = c.case_id AND e.kind = 'repeat_trip') AS returns
        FROM cases c
        WHERE c.opened_at >= ? AND c.opened_at < ?{filters}
    ) t
) c
GROUP BY {group}""",
    "case_friction": """
SELECT {group}, coalesce(sum(f.citizen_minutes), 0), coalesce(sum(f.clerk_minutes), 0)
FROM cases c JOIN case_friction f ON f.case_id = c.case_id
WHERE c.opened_at >= ? AND c.opened_at < ?{filters}
GROUP BY {group}""",
    # Steps: the share prefilled over approved steps, as a case counts its done steps.
    "steps": """
SELECT c.bundle, s.step, count(*),
       sum(CASE WHEN s.status = 'approved' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.status IN ('approved', 'not_eligible', 'withdrawn') AND c.trips <= 1
           THEN 1 ELSE 0 END),
       coalesce(sum(s.working_days), 0),
       count(s.working_days),
       coalesce(sum(CASE WHEN s.status = 'approved' THEN s.fields_total ELSE 0 END), 0),
       coalesce(sum(CASE WHEN s.status = 'approved' THEN s.fields_prefilled ELSE 0 END), 0),
       coalesce(sum(c.trips), 0),
       sum(CASE WHEN c.status <> 'open' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.status = 'not_eligible' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.status = 'withdrawn' THEN 1 ELSE 0 END)
FROM cases c JOIN case_steps s ON s.case_id = c.case_id
WHERE c.opened_at >= ? AND c.opened_at < ?{filters}
GROUP BY c.bundle, s.step""",
    "step_friction": """
SELECT c.bundle, f.step, coalesce(sum(f.citizen_minutes), 0),
       coalesce(sum(f.clerk_minutes), 0)
FROM cases c JOIN case_friction f ON f.case_id = c.case_id
WHERE c.opened_at >= ? AND c.opened_at < ? AND f.step IS NOT NULL{filters}
GROUP BY c.bundle, f.step""",
}
# The same sums from the case-level rollups (friction.store.case_rollups), for windows of
# whole China-local days: what a report of any period or centre reads at city scale.
_ROLLUP_STATEMENTS: dict[str, str] = {
    "cases": """
SELECT {group}, sum(cases), sum(completed), sum(one_trip), sum(wd_sum), sum(wd_n),
       sum(clerk_minutes), sum(fields_total), sum(fields_prefilled), sum(trips),
       sum(closed), sum(not_eligible), sum(withdrawn), sum(friction_citizen),
       sum(friction_clerk)
FROM case_days c WHERE c.day >= ? AND c.day < ?{filters}
GROUP BY {group} HAVING sum(cases) > 0""",
    "steps": """
SELECT c.bundle, c.step, sum(cases), sum(completed), sum(one_trip), sum(wd_sum),
       sum(wd_n), sum(fields_total), sum(fields_prefilled), sum(trips), sum(closed),
       sum(not_eligible), sum(withdrawn), sum(friction_citizen), sum(friction_clerk)
FROM step_days c WHERE c.day >= ? AND c.day < ?{filters}
GROUP BY c.bundle, c.step HAVING sum(cases) > 0""",
}
# A clerk's note merged into another kind's stuck point still counts as a note.
_COUNTS_BY_KIND = "SELECT kind, sum(count - notes), sum(notes) FROM stuck_points GROUP BY kind"
_CASE_COUNTS = "SELECT bundle, status, count FROM case_counts WHERE count > 0"
_KIND_TOTALS = """
SELECT kind, bundle, sum(count - notes), sum(citizen_minutes), sum(clerk_minutes)
FROM stuck_points GROUP BY kind, bundle"""


@runtime_checkable
class ReportStore(Protocol):
    """What the reports need."""

    def report_sums(
        self,
        group_by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        bundle: str | None = None,
        centre: str | None = None,
    ) -> list[ReportSums]:
        """Sums per bundle, "bundle/step" or centre over the cases opened in [since, until)
        (of one bundle and one centre if given)."""
        ...


@runtime_checkable
class MetricsStore(Protocol):
    """What a scrape reads: cheap enough for every one (rollups and small tables)."""

    def counts_by_kind(self) -> dict[str, int]:
        """Events stored, by kind (every kind present, zero if none)."""
        ...

    def case_counts(self) -> dict[tuple[str, str], int]:
        """Cases by (bundle, status)."""
        ...

    def kind_totals(self) -> list[KindTotal]:
        """Events (clerk notes merged into a point excluded) and burden by stuck-point
        kind and bundle, straight from the rollups."""
        ...

    def open_cant_get_it_done(self) -> list[OpenCantGetItDone]:
        """Open cases per cause with the oldest registration."""
        ...


class ReportSql:
    """ReportStore in SQL."""

    _engine: Engine

    def report_sums(
        self,
        group_by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        bundle: str | None = None,
        centre: str | None = None,
    ) -> list[ReportSums]:
        if group_by not in ("bundle", "step", "centre"):
            raise ValueError(f"group_by: bundle, step or centre, not {group_by!r}")
        if aligned(since, until):
            return self._rollup_sums(group_by, since, until, bundle, centre)
        return self.scanned_sums(group_by, since, until, bundle, centre)

    def _rollup_sums(
        self,
        group_by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        bundle: str | None,
        centre: str | None,
    ) -> list[ReportSums]:
        where, params = filters(
            (("c.bundle", bundle), ("c.centre", centre)), day_window(since, until)
        )
        name = "steps" if group_by == "step" else "cases"
        text = _ROLLUP_STATEMENTS[name].replace("{group}", f"c.{group_by}")
        rows = self._engine.query(
            self._engine.dialect.sql(text.replace("{filters}", where)), params)
        if group_by == "step":
            rows = [(f"{b}/{step}", *rest) for b, step, *rest in rows]
        friction = {row[0]: (row[-2], row[-1]) for row in rows}
        return sorted((_sums(row[:-2], group_by, friction) for row in rows),
                      key=lambda s: s.group)

    def scanned_sums(
        self,
        group_by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        bundle: str | None = None,
        centre: str | None = None,
    ) -> list[ReportSums]:
        """report_sums from the cases, their steps and friction themselves: any window
        (to the microsecond), and the reference the rollups are tested against."""
        where, params = filters(
            (("c.bundle", bundle), ("c.centre", centre)), window(since, until)
        )
        dialect = self._engine.dialect

        def sql(name: str, group: str = "") -> str:
            text = _REPORT_STATEMENTS[name].replace("{group}", group)
            return dialect.sql(text.replace("{filters}", where))

        def read(cur: Cursor) -> tuple[list[Row], dict[str, tuple[float, float]]]:
            if group_by == "step":
                cur.execute(sql("steps"), params)
                rows = [(f"{b}/{step}", *rest) for b, step, *rest in cur.fetchall()]
                cur.execute(sql("step_friction"), params)
                friction = {f"{b}/{step}": (c, k) for b, step, c, k in cur.fetchall()}
            else:
                group = f"c.{group_by}"
                cur.execute(sql("cases", group), params)
                rows = cur.fetchall()
                cur.execute(sql("case_friction", group), params)
                friction = {g: (c, k) for g, c, k in cur.fetchall()}
            return rows, friction

        rows, friction = self._engine.read(read)
        return sorted((_sums(row, group_by, friction) for row in rows), key=lambda s: s.group)


def _sums(row: Row, group_by: GroupBy, friction: dict[str, tuple[float, float]]) -> ReportSums:
    if group_by == "step":
        (group, cases, done, one_trip, wd_sum, wd_n, total, prefilled, trips,
         closed, not_eligible, withdrawn) = row
        clerk: float | None = None  # handling time is recorded per case only
    else:
        (group, cases, done, one_trip, wd_sum, wd_n, clerk_sum, total, prefilled,
         trips, closed, not_eligible, withdrawn) = row
        clerk = float(clerk_sum)
    citizen_f, clerk_f = friction.get(group, (0.0, 0.0))
    return ReportSums(
        group=group, cases=int(cases), completed=int(done),
        one_trip=int(one_trip), working_days_sum=int(wd_sum),
        working_days_count=int(wd_n), clerk_minutes=clerk,
        friction_citizen_minutes=float(citizen_f),
        friction_clerk_minutes=float(clerk_f),
        fields_total=int(total), fields_prefilled=int(prefilled),
        trips=int(trips), closed=int(closed), not_eligible=int(not_eligible),
        withdrawn=int(withdrawn),
    )


class MetricsSql:
    """MetricsStore in SQL (open_cant_get_it_done is the register's: RegisterSql)."""

    _engine: Engine

    def counts_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(FRICTION_KINDS, 0)
        for kind, n, notes in self._engine.fetch(_COUNTS_BY_KIND):
            counts[kind] = counts.get(kind, 0) + int(n)  # PostgreSQL sums bigints as numeric
            counts["clerk_note"] += int(notes)
        return counts

    def case_counts(self) -> dict[tuple[str, str], int]:
        return {(b, status): int(n) for b, status, n in self._engine.fetch(_CASE_COUNTS)}

    def kind_totals(self) -> list[KindTotal]:
        return [
            KindTotal(kind=kind, bundle=bundle, events=int(n),
                      citizen_minutes=float(citizen), clerk_minutes=float(clerk))
            for kind, bundle, n, citizen, clerk in self._engine.fetch(_KIND_TOTALS)
        ]
