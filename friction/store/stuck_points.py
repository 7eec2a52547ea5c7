"""Reads of the stuck points, from their rollups: the ranked list with evidence and
samples, one point, its trend, and a case's events."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import msgspec

from friction.store.engine import Cursor, Engine, Row, dt
from friction.stuck_points import (
    MAX_SAMPLE_CASES,
    MAX_SAMPLE_TRACES,
    Granularity,
    StuckPoint,
    TrendPoint,
    period_start,
    periods,
    remedy_for,
)
from kernel.events import FrictionEvent

__all__ = ["POINT_COLUMNS", "SELECT_BUNDLE_POINTS", "SELECT_POINTS", "StuckPointSql",
           "StuckPointStore"]

POINT_COLUMNS = """fingerprint, kind, bundle, step, subject, count, cases, first_seen, last_seen,
       citizen_minutes, clerk_minutes, burden_minutes, notes"""
SELECT_POINTS = f"""
SELECT {POINT_COLUMNS}
FROM stuck_points
ORDER BY burden_minutes DESC, count DESC, fingerprint
LIMIT ?"""
SELECT_BUNDLE_POINTS = f"""
SELECT {POINT_COLUMNS}
FROM stuck_points WHERE bundle = ?
ORDER BY burden_minutes DESC, count DESC, fingerprint
LIMIT ?"""
_SELECT_POINT = f"SELECT {POINT_COLUMNS} FROM stuck_points WHERE fingerprint = ?"
# The most recent cases or traces of a stuck point: a few index entries however many.
_SELECT_RECENT = {
    "cases": """
SELECT case_id FROM stuck_point_cases WHERE fingerprint = ?
ORDER BY first_seen DESC, case_id LIMIT ?""",
    "traces": """
SELECT trace_id FROM stuck_point_traces WHERE fingerprint = ?
ORDER BY first_seen DESC, trace_id LIMIT ?""",
}
# The same for many stuck points in one statement (PostgreSQL).
_SELECT_RECENT_LATERAL = {
    "cases": """
SELECT f.fingerprint, c.case_id
FROM unnest(CAST(? AS TEXT[])) AS f (fingerprint)
CROSS JOIN LATERAL (
    SELECT case_id, first_seen FROM stuck_point_cases
    WHERE fingerprint = f.fingerprint
    ORDER BY first_seen DESC, case_id LIMIT ?
) AS c
ORDER BY f.fingerprint, c.first_seen DESC, c.case_id""",
    "traces": """
SELECT f.fingerprint, c.trace_id
FROM unnest(CAST(? AS TEXT[])) AS f (fingerprint)
CROSS JOIN LATERAL (
    SELECT trace_id, first_seen FROM stuck_point_traces
    WHERE fingerprint = f.fingerprint
    ORDER BY first_seen DESC, trace_id LIMIT ?
) AS c
ORDER BY f.fingerprint, c.first_seen DESC, c.trace_id""",
}
_SELECT_DAYS = """
SELECT day, count, citizen_minutes, clerk_minutes FROM stuck_point_days
WHERE fingerprint = ? ORDER BY day"""
# Each stuck point's events in the recent window and in the window before it.
_SELECT_RECENT_COUNTS = """
SELECT fingerprint, sum(CASE WHEN day >= ? THEN count ELSE 0 END),
       sum(CASE WHEN day < ? THEN count ELSE 0 END)
FROM stuck_point_days WHERE day >= ? AND day < ?
GROUP BY fingerprint"""
_EVENTS_FOR_CASE = "SELECT body FROM events WHERE case_id = ? ORDER BY {order_column}"


@runtime_checkable
class StuckPointStore(Protocol):
    """What the backlog's readers need: the ranked stuck points and one point's story."""

    def stuck_points(self, *, bundle: str | None = None, limit: int = 50) -> list[StuckPoint]:
        """Stuck points ranked by burden minutes, largest first."""
        ...

    def stuck_point(self, fingerprint: str) -> StuckPoint | None:
        """One stuck point, or None if no event has its fingerprint."""
        ...

    def trend(self, fingerprint: str, granularity: Granularity = "day") -> list[TrendPoint]:
        """A stuck point's events per China-local day or week (Monday), oldest first, from
        its first to its last period (periods without events count zero)."""
        ...

    def recent_counts(self, since: date, split: date, until: date) -> dict[str, tuple[int, int]]:
        """Each stuck point's events on the China-local days [split, until) and the days
        [since, split) before them; points quiet in both left out."""
        ...

    def events_for_case(self, case_id: str) -> list[FrictionEvent]:
        """A case's events in the order they were stored."""
        ...


class StuckPointSql:
    """StuckPointStore in SQL: one read transaction per answer, so a point, its evidence
    and its samples come from one snapshot."""

    _engine: Engine
    _decoder: msgspec.json.Decoder[FrictionEvent]

    def stuck_points(self, *, bundle: str | None = None, limit: int = 50) -> list[StuckPoint]:
        if limit <= 0:  # LIMIT -1 would mean "all" to SQLite
            return []
        sql = self._engine.sql

        def read(cur: Cursor) -> list[StuckPoint]:
            if bundle:
                cur.execute(sql(SELECT_BUNDLE_POINTS), (bundle, limit))
            else:
                cur.execute(sql(SELECT_POINTS), (limit,))
            return self._points(cur, cur.fetchall())

        return self._engine.read(read)

    def stuck_point(self, fingerprint: str) -> StuckPoint | None:
        def read(cur: Cursor) -> list[StuckPoint]:
            cur.execute(self._engine.sql(_SELECT_POINT), (fingerprint,))
            return self._points(cur, cur.fetchall())

        found = self._engine.read(read)
        return found[0] if found else None

    def _points(self, cur: Cursor, rows: list[Row]) -> list[StuckPoint]:
        fps = [r[0] for r in rows]
        known = self._counts(cur, "stuck_point_sources", "source", fps)
        details = self._counts(cur, "stuck_point_details", "detail", fps)
        samples = self._recent(cur, "cases", fps, MAX_SAMPLE_CASES)
        traces = self._recent(cur, "traces", fps, MAX_SAMPLE_TRACES)
        return [
            StuckPoint(
                fingerprint=fp, kind=kind, bundle=b, step=step, subject=subject,
                count=int(count), cases=int(cases), first_seen=dt(first),
                last_seen=dt(last), citizen_minutes=citizen, clerk_minutes=clerk,
                burden_minutes=burden, known_from=known[fp], sample_cases=samples[fp],
                remedy=remedy_for(kind, subject, step, known[fp], details[fp]),
                details=details[fp], sample_traces=traces[fp], notes=int(notes),
            )
            for (
                fp, kind, b, step, subject, count, cases, first, last, citizen, clerk, burden,
                notes,
            ) in rows
        ]

    def _counts(
        self, cur: Cursor, table: str, column: str, fps: list[str]
    ) -> dict[str, dict[str, int]]:
        """Evidence counts (sources or details) of each stuck point, largest first."""
        found: dict[str, dict[str, int]] = {fp: {} for fp in fps}
        if fps:
            cur.execute(
                self._engine.dialect.sql(
                    f"SELECT fingerprint, {column}, count FROM {table}"
                    f" WHERE fingerprint IN ({','.join('?' * len(fps))})"
                    f" ORDER BY count DESC, {column}"
                ),
                fps,
            )
            for fp, key, n in cur.fetchall():
                found[fp][key] = int(n)
        return found

    def _recent(
        self, cur: Cursor, what: str, fps: list[str], limit: int
    ) -> dict[str, tuple[str, ...]]:
        """The most recent cases (or traces) of each stuck point: in one LATERAL join where
        the database has them (one round trip to a server), else one query per stuck point
        (in-process for SQLite)."""
        found: dict[str, list[str]] = {fp: [] for fp in fps}
        if not fps:
            return {}
        if self._engine.dialect.lateral_joins:
            cur.execute(self._engine.sql(_SELECT_RECENT_LATERAL[what]), (fps, limit))
            for fp, value in cur.fetchall():
                found[fp].append(value)
        else:
            sql = self._engine.sql(_SELECT_RECENT[what])
            for fp in fps:
                cur.execute(sql, (fp, limit))
                found[fp] = [value for (value,) in cur.fetchall()]
        return {fp: tuple(values) for fp, values in found.items()}

    def recent_counts(self, since: date, split: date, until: date) -> dict[str, tuple[int, int]]:
        rows = self._engine.fetch(_SELECT_RECENT_COUNTS, (
            split.isoformat(), split.isoformat(), since.isoformat(), until.isoformat()))
        return {fp: (int(recent), int(before)) for fp, recent, before in rows}

    def trend(self, fingerprint: str, granularity: Granularity = "day") -> list[TrendPoint]:
        if granularity not in ("day", "week"):
            raise ValueError(f"granularity: day or week, not {granularity!r}")
        rows = self._engine.fetch(_SELECT_DAYS, (fingerprint,))
        sums: dict[date, list[float]] = {}
        for day, count, citizen, clerk in rows:
            start = period_start(date.fromisoformat(day), granularity)
            total = sums.setdefault(start, [0, 0.0, 0.0])
            total[0] += int(count)
            total[1] += citizen
            total[2] += clerk
        if not sums:
            return []
        return [
            TrendPoint(period_start=start, count=int(count), citizen_minutes=citizen,
                       clerk_minutes=clerk)
            for start in periods(min(sums), max(sums), granularity)
            for count, citizen, clerk in [sums.get(start, (0, 0.0, 0.0))]
        ]

    def events_for_case(self, case_id: str) -> list[FrictionEvent]:
        return [
            self._decoder.decode(body)
            for (body,) in self._engine.fetch(_EVENTS_FOR_CASE, (case_id,))
        ]
