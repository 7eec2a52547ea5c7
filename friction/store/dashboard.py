"""Reads for the data bureau's dashboard: friction by its own bundle, events by their
centre and time, cases by their centre and opening time, the register by bundle, centre
and registration time (its granularity is friction.dashboard's business).

The filter and the sums are the store's answers, defined here beside the SQL; the
dashboard imports them from here, never the other way round."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.store.case_rollups import aligned
from friction.store.engine import Cursor, Engine, Row, day_window, filters, window
from friction.store.reports import ReportStore
from friction.store.stuck_points import SELECT_BUNDLE_POINTS, SELECT_POINTS
from friction.stuck_points import Granularity

__all__ = ["BreachSums", "CantGetItDoneByCause", "DashboardFilter", "DashboardSql",
           "DashboardStore", "KindDay", "PointSums"]


class DashboardFilter(msgspec.Struct, kw_only=True, frozen=True):
    """What the page narrows to; None leaves a filter out."""

    bundle: str | None = None
    centre: str | None = None
    # Cases opened, events occurred and cases registered in [since, until). Friction over
    # time counts whole China-local days: exact when the bounds are local midnights.
    since: datetime | None = None
    until: datetime | None = None
    granularity: Granularity = "day"


class KindDay(msgspec.Struct, kw_only=True, frozen=True):
    """Events of one kind (the event's own: a clerk's note counts as a note) on one
    China-local day."""

    day: date
    kind: str
    events: int
    citizen_minutes: float
    clerk_minutes: float


class PointSums(msgspec.Struct, kw_only=True, frozen=True):
    """A stuck point's friction among the cases a filter selects (every event of it when
    the filter names no centre and no period)."""

    fingerprint: str
    kind: str
    bundle: str | None
    step: str | None
    subject: str
    events: int
    cases: int
    citizen_minutes: float
    clerk_minutes: float


class BreachSums(msgspec.Struct, kw_only=True, frozen=True):
    """Waits past their SLA at one step: extra_wait stuck points of every scope."""

    bundle: str | None
    step: str | None
    events: int
    cases: int  # distinct cases, however many kinds of wait each met there
    citizen_minutes: float
    clerk_minutes: float


class CantGetItDoneByCause(msgspec.Struct, kw_only=True, frozen=True):
    """Can't-get-it-done cases of one cause: still open, and answered."""

    cause: str
    open: int
    answered: int
    walk_ins: int = 0  # of these, walk-ins registered with no case yet


# {filters} is " AND <column> = ?" for each filter given.
_STATEMENTS: dict[str, str] = {
    "kind_days": """
SELECT day, kind, sum(count), sum(citizen_minutes), sum(clerk_minutes) FROM kind_days
WHERE day >= ? AND day < ?{filters}
GROUP BY day, kind ORDER BY day, kind""",
    # A stuck point's friction among the cases opened in the window, from the per-case
    # rollup: what stalls at one centre, or in one period.
    "case_points": """
SELECT p.fingerprint, p.kind, p.bundle, p.step, p.subject, sum(f.count), count(*),
       sum(f.citizen_minutes), sum(f.clerk_minutes)
FROM cases c
JOIN case_friction f ON f.case_id = c.case_id
JOIN stuck_points p ON p.fingerprint = f.fingerprint
WHERE c.opened_at >= ? AND c.opened_at < ?{filters}
GROUP BY p.fingerprint, p.kind, p.bundle, p.step, p.subject
ORDER BY sum(f.citizen_minutes) + sum(f.clerk_minutes) DESC, sum(f.count) DESC, p.fingerprint
LIMIT ?""",
    # SLA breaches: the extra_wait stuck points of every scope (agency call, queue, step)
    # at a step, their cases counted once each.
    "breaches": """
SELECT p.bundle, p.step, sum(p.count), sum(p.citizen_minutes), sum(p.clerk_minutes)
FROM stuck_points p WHERE p.kind = 'extra_wait'{filters}
GROUP BY p.bundle, p.step""",
    "breach_cases": """
SELECT p.bundle, p.step, count(DISTINCT s.case_id)
FROM stuck_points p JOIN stuck_point_cases s ON s.fingerprint = p.fingerprint
WHERE p.kind = 'extra_wait'{filters}
GROUP BY p.bundle, p.step""",
    # The same from the rollup kept per (bundle, step): '' where a point names none.
    "rollup_breach_cases": """
SELECT p.bundle, p.step, p.cases FROM breach_cases p WHERE p.cases > 0{filters}""",
    "case_breaches": """
SELECT p.bundle, p.step, sum(f.count), count(DISTINCT f.case_id), sum(f.citizen_minutes),
       sum(f.clerk_minutes)
FROM cases c
JOIN case_friction f ON f.case_id = c.case_id
JOIN stuck_points p ON p.fingerprint = f.fingerprint
WHERE p.kind = 'extra_wait' AND c.opened_at >= ? AND c.opened_at < ?{filters}
GROUP BY p.bundle, p.step""",
    # The same two from the case-level rollups, for windows of whole local days.
    "day_points": """
SELECT p.fingerprint, p.kind, p.bundle, p.step, p.subject, sum(d.count), sum(d.cases),
       sum(d.citizen_minutes), sum(d.clerk_minutes)
FROM point_days d JOIN stuck_points p ON p.fingerprint = d.fingerprint
WHERE d.day >= ? AND d.day < ?{filters}
GROUP BY p.fingerprint, p.kind, p.bundle, p.step, p.subject HAVING sum(d.cases) > 0
ORDER BY sum(d.citizen_minutes) + sum(d.clerk_minutes) DESC, sum(d.count) DESC, p.fingerprint
LIMIT ?""",
    "day_breaches": """
SELECT p.bundle, p.step, sum(d.count), sum(d.cases), sum(d.citizen_minutes),
       sum(d.clerk_minutes)
FROM point_days d JOIN stuck_points p ON p.fingerprint = d.fingerprint
WHERE p.kind = 'extra_wait' AND d.day >= ? AND d.day < ?{filters}
GROUP BY p.bundle, p.step HAVING sum(d.cases) > 0""",
    "day_breach_cases": """
SELECT d.bundle, d.step, sum(d.cases) FROM breach_days d
WHERE d.day >= ? AND d.day < ?{filters}
GROUP BY d.bundle, d.step""",
    "register_counts": """
SELECT cause, sum(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END), count(resolved_at),
       sum(CASE WHEN substr(case_id, 1, 7) = 'WALKIN-' THEN 1 ELSE 0 END)
FROM cant_get_it_done
WHERE registered_at >= ? AND registered_at < ?{filters}
GROUP BY cause""",
}
# The drop-downs, from small tables and indexes. Centres by a loose index scan: one seek
# per centre, however many cases each has.
_BUNDLES = """
SELECT bundle FROM case_counts WHERE count > 0
UNION SELECT bundle FROM stuck_points WHERE bundle IS NOT NULL
UNION SELECT bundle FROM cant_get_it_done"""
_CENTRES = """
WITH RECURSIVE found (centre) AS (
    SELECT min(centre) FROM cases
    UNION ALL
    SELECT (SELECT min(c.centre) FROM cases c WHERE c.centre > found.centre)
    FROM found WHERE found.centre IS NOT NULL
)
SELECT centre FROM found WHERE centre IS NOT NULL
UNION SELECT centre FROM cant_get_it_done"""


@runtime_checkable
class DashboardStore(ReportStore, Protocol):
    """What the dashboard reads (the reports' sums per bundle among them)."""

    def kind_days(self, flt: DashboardFilter) -> list[KindDay]:
        """Events by kind and China-local day, oldest first, over every local day that
        [since, until) touches (the rollup counts whole days)."""
        ...

    def point_sums(self, flt: DashboardFilter, limit: int = 10) -> list[PointSums]:
        """Stuck points ranked by burden minutes, largest first. With a centre or a
        period, only the friction of the cases of that centre opened in that period."""
        ...

    def sla_breaches(self, flt: DashboardFilter) -> list[BreachSums]:
        """Waits past their SLA per bundle and step, sorted so, over the same friction as
        point_sums."""
        ...

    def register_counts(self, flt: DashboardFilter) -> list[CantGetItDoneByCause]:
        """Can't-get-it-done cases registered in [since, until), per cause with any."""
        ...

    def bundles_and_centres(self) -> tuple[list[str], list[str]]:
        """Every bundle and every centre a case, a stuck point or the register names,
        sorted."""
        ...


def _blank(value: str) -> str | None:
    """A rollup key column's '' back to the NULL it stands for."""
    return value or None


def _every_case(flt: DashboardFilter) -> bool:
    """Whether a filter keeps every case: friction is then read from the stuck points
    themselves, events without a case included."""
    return flt.centre is None and flt.since is None and flt.until is None


class DashboardSql:
    """The dashboard's reads of DashboardStore in SQL (report_sums is ReportSql's)."""

    _engine: Engine

    def _dashboard_sql(
        self,
        name: str,
        given: Sequence[tuple[str, object | None]],
        head: Sequence[object] = (),
        tail: Sequence[object] = (),
    ) -> tuple[str, tuple[object, ...]]:
        where, params = filters(given, head)
        text = _STATEMENTS[name].replace("{filters}", where)
        return self._engine.dialect.sql(text), (*params, *tail)

    def kind_days(self, flt: DashboardFilter) -> list[KindDay]:
        sql, params = self._dashboard_sql(
            "kind_days", (("bundle", flt.bundle), ("centre", flt.centre)),
            day_window(flt.since, flt.until),
        )
        return [
            KindDay(day=date.fromisoformat(day), kind=kind, events=int(n),
                    citizen_minutes=float(citizen), clerk_minutes=float(clerk))
            for day, kind, n, citizen, clerk in self._engine.query(sql, params)
        ]

    def point_sums(self, flt: DashboardFilter, limit: int = 10) -> list[PointSums]:
        if limit <= 0:  # LIMIT -1 would mean "all" to SQLite
            return []
        rows: list[Row]
        if _every_case(flt):
            # Every event of each stuck point, caseless ones too: the rollup as it is.
            rows = (
                self._engine.fetch(SELECT_POINTS, (limit,)) if flt.bundle is None
                else self._engine.fetch(SELECT_BUNDLE_POINTS, (flt.bundle, limit))
            )
            rows = [(*row[:7], *row[9:11]) for row in rows]
        elif aligned(flt.since, flt.until):
            rows = self._engine.query(*self._dashboard_sql(
                "day_points", (("p.bundle", flt.bundle), ("d.centre", flt.centre)),
                day_window(flt.since, flt.until), (limit,),
            ))
        else:
            rows = self._scanned_points(flt, limit)
        return [
            PointSums(fingerprint=fp, kind=kind, bundle=b, step=step, subject=subject,
                      events=int(n), cases=int(cases), citizen_minutes=float(citizen),
                      clerk_minutes=float(clerk))
            for fp, kind, b, step, subject, n, cases, citizen, clerk in rows
        ]

    def _scanned_points(self, flt: DashboardFilter, limit: int) -> list[Row]:
        return self._engine.query(*self._dashboard_sql(
            "case_points", (("p.bundle", flt.bundle), ("c.centre", flt.centre)),
            window(flt.since, flt.until), (limit,),
        ))

    def _scanned_breaches(self, flt: DashboardFilter) -> list[Row]:
        if _every_case(flt):
            by_bundle = (("p.bundle", flt.bundle),)

            def read(cur: Cursor) -> list[Row]:
                cur.execute(*self._dashboard_sql("breaches", by_bundle))
                sums = cur.fetchall()
                cur.execute(*self._dashboard_sql("breach_cases", by_bundle))
                cases = {(b, step): n for b, step, n in cur.fetchall()}
                return [(b, step, n, cases.get((b, step), 0), citizen, clerk)
                        for b, step, n, citizen, clerk in sums]

            return self._engine.read(read)
        return self._engine.query(*self._dashboard_sql(
            "case_breaches", (("p.bundle", flt.bundle), ("c.centre", flt.centre)),
            window(flt.since, flt.until),
        ))

    def _rollup_breaches(self, flt: DashboardFilter) -> list[Row]:
        """Breaches from the case-level rollups: distinct cases per step kept by
        case_rollups, sums from the stuck points or the per-day point rollup."""
        if _every_case(flt):
            by_bundle = (("p.bundle", flt.bundle),)
            sums_sql = self._dashboard_sql("breaches", by_bundle)
            cases_sql = self._dashboard_sql("rollup_breach_cases", by_bundle)
        else:
            given = (("p.bundle", flt.bundle), ("d.centre", flt.centre))
            days = day_window(flt.since, flt.until)
            sums_sql = self._dashboard_sql("day_breaches", given, days)
            cases_sql = self._dashboard_sql(
                "day_breach_cases", (("d.bundle", flt.bundle), ("d.centre", flt.centre)),
                days)

        def read(cur: Cursor) -> list[Row]:
            cur.execute(*sums_sql)
            sums = cur.fetchall()
            cur.execute(*cases_sql)
            cases = {(_blank(b), _blank(step)): n for b, step, n in cur.fetchall()}
            if _every_case(flt):
                return [(b, step, n, cases.get((b, step), 0), citizen, clerk)
                        for b, step, n, citizen, clerk in sums]
            return [(b, step, n, cases.get((b, step), 0), citizen, clerk)
                    for b, step, n, _, citizen, clerk in sums]

        return self._engine.read(read)

    def sla_breaches(self, flt: DashboardFilter) -> list[BreachSums]:
        if aligned(flt.since, flt.until):
            rows = self._rollup_breaches(flt)
        else:
            rows = self._scanned_breaches(flt)
        return self._breach_sums(rows)

    def scanned_sla_breaches(self, flt: DashboardFilter) -> list[BreachSums]:
        """sla_breaches from the cases and stuck-point cases themselves: the reference
        the rollups are tested against."""
        return self._breach_sums(self._scanned_breaches(flt))

    def scanned_point_sums(self, flt: DashboardFilter, limit: int = 10) -> list[PointSums]:
        """point_sums of a centre or period from the cases themselves (the reference)."""
        return [
            PointSums(fingerprint=fp, kind=kind, bundle=b, step=step, subject=subject,
                      events=int(n), cases=int(cases), citizen_minutes=float(citizen),
                      clerk_minutes=float(clerk))
            for fp, kind, b, step, subject, n, cases, citizen, clerk
            in self._scanned_points(flt, limit)
        ]

    def _breach_sums(self, rows: list[Row]) -> list[BreachSums]:
        return sorted(
            (
                BreachSums(bundle=b, step=step, events=int(n), cases=int(cases),
                           citizen_minutes=float(citizen), clerk_minutes=float(clerk))
                for b, step, n, cases, citizen, clerk in rows
            ),
            key=lambda r: (r.bundle or "", r.step or ""),
        )

    def register_counts(self, flt: DashboardFilter) -> list[CantGetItDoneByCause]:
        sql, params = self._dashboard_sql(
            "register_counts", (("bundle", flt.bundle), ("centre", flt.centre)),
            window(flt.since, flt.until),
        )
        return [
            CantGetItDoneByCause(cause=cause, open=int(n_open), answered=int(answered),
                                 walk_ins=int(walk_ins))
            for cause, n_open, answered, walk_ins in self._engine.query(sql, params)
        ]

    def bundles_and_centres(self) -> tuple[list[str], list[str]]:
        sql = self._engine.sql

        def read(cur: Cursor) -> tuple[list[str], list[str]]:
            cur.execute(sql(_BUNDLES))
            bundles = sorted(b for (b,) in cur.fetchall())
            cur.execute(sql(_CENTRES))
            return bundles, sorted(c for (c,) in cur.fetchall())

        return self._engine.read(read)
