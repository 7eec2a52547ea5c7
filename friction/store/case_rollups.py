"""Case-level rollups: the reports' and the dashboard's sums per China-local day the case
opened, centre and bundle (and step, or stuck point), so a period or centre filter reads
rollup rows whose number does not grow with the number of cases or events.

Each case contributes to these rows through what the scan-based reads would sum for it:
its record, its steps, its friction (case_friction), its return trips (repeat_trip
events) and the extra_wait stuck points it met. A write that changes any of these for
some cases goes through `changing`: the cases' contributions are taken out before the
write and put back after it, in the same transaction, by the same statements that
`rebuild_case_rollups` runs over every case. So the rollups equal the scan by
construction, whatever the write did (a record replaced, a centre corrected, a case
failed, friction arriving before or after the case's record).

The rows only ever add (`t.x + excluded.x`, as the other rollups) and are locked in key
order (ORDER BY the key), so concurrent writers queue instead of deadlocking. A row whose
cases drop to zero stays with zero sums; reads skip it (HAVING sum(cases) > 0).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, time

from friction.store.engine import CHINA_TZ, Cursor, Dialect, Engine

__all__ = ["CASE_ROLLUP_TABLES", "aligned", "changing", "rebuild_case_rollups"]

CASE_ROLLUP_TABLES = ("case_days", "step_days", "point_days", "breach_days", "breach_cases")
CHUNK = 500  # case ids per IN list

# A case's effective trips, as the report counts them: its record's, or one plus its
# repeat_trip events when that is more (an open case's returns are known from events).
_CASES = """
SELECT c.case_id, c.bundle, c.centre, c.status, c.opened_at, c.working_days,
       c.clerk_minutes, c.fields_total, c.fields_prefilled,
       CASE WHEN 1 + (SELECT count(*) FROM events e
                      WHERE e.case_id = c.case_id AND e.kind = 'repeat_trip') > c.trips
            THEN 1 + (SELECT count(*) FROM events e
                      WHERE e.case_id = c.case_id AND e.kind = 'repeat_trip')
            ELSE c.trips END AS trips
FROM cases c WHERE 1 = 1@cases@"""

_CASE_SUMS = """cases = t.cases + excluded.cases,
    completed = t.completed + excluded.completed,
    one_trip = t.one_trip + excluded.one_trip,
    wd_sum = t.wd_sum + excluded.wd_sum,
    wd_n = t.wd_n + excluded.wd_n,
    fields_total = t.fields_total + excluded.fields_total,
    fields_prefilled = t.fields_prefilled + excluded.fields_prefilled,
    trips = t.trips + excluded.trips,
    closed = t.closed + excluded.closed,
    not_eligible = t.not_eligible + excluded.not_eligible,
    withdrawn = t.withdrawn + excluded.withdrawn,
    friction_citizen = t.friction_citizen + excluded.friction_citizen,
    friction_clerk = t.friction_clerk + excluded.friction_clerk"""

# @s@ is the sign (1: add the cases, -1: take them out), @day@ the local day of
# c.opened_at in the dialect's SQL, @cases@ " AND c.case_id IN (...)" or nothing.
_CONTRIBUTIONS: tuple[str, ...] = (
    f"""
INSERT INTO case_days AS t (day, centre, bundle, cases, completed, one_trip, wd_sum, wd_n,
                            clerk_minutes, fields_total, fields_prefilled, trips, closed,
                            not_eligible, withdrawn, friction_citizen, friction_clerk)
SELECT @day@, c.centre, c.bundle, @s@ * count(*),
       @s@ * sum(CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END),
       @s@ * sum(CASE WHEN c.status IN ('completed', 'not_eligible', 'withdrawn')
                       AND c.trips <= 1 THEN 1 ELSE 0 END),
       @s@ * coalesce(sum(CASE WHEN c.status = 'completed' THEN c.working_days END), 0),
       @s@ * count(CASE WHEN c.status = 'completed' THEN c.working_days END),
       @s@ * coalesce(sum(c.clerk_minutes), 0),
       @s@ * coalesce(sum(c.fields_total), 0),
       @s@ * coalesce(sum(c.fields_prefilled), 0),
       @s@ * coalesce(sum(c.trips), 0),
       @s@ * sum(CASE WHEN c.status <> 'open' THEN 1 ELSE 0 END),
       @s@ * sum(CASE WHEN c.status = 'not_eligible' THEN 1 ELSE 0 END),
       @s@ * sum(CASE WHEN c.status = 'withdrawn' THEN 1 ELSE 0 END),
       0, 0
FROM ({_CASES}) c WHERE 1 = 1
GROUP BY @day@, c.centre, c.bundle ORDER BY @day@, c.centre, c.bundle
ON CONFLICT (day, centre, bundle) DO UPDATE SET
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes, {_CASE_SUMS}""",
    f"""
INSERT INTO case_days AS t (day, centre, bundle, cases, completed, one_trip, wd_sum, wd_n,
                            clerk_minutes, fields_total, fields_prefilled, trips, closed,
                            not_eligible, withdrawn, friction_citizen, friction_clerk)
SELECT @day@, c.centre, c.bundle, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
       @s@ * coalesce(sum(f.citizen_minutes), 0), @s@ * coalesce(sum(f.clerk_minutes), 0)
FROM cases c JOIN case_friction f ON f.case_id = c.case_id WHERE 1 = 1@cases@
GROUP BY @day@, c.centre, c.bundle ORDER BY @day@, c.centre, c.bundle
ON CONFLICT (day, centre, bundle) DO UPDATE SET
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes, {_CASE_SUMS}""",
    # Steps: the raw record's trips, as the step report reads them.
    f"""
INSERT INTO step_days AS t (day, centre, bundle, step, cases, completed, one_trip, wd_sum,
                            wd_n, fields_total, fields_prefilled, trips, closed,
                            not_eligible, withdrawn, friction_citizen, friction_clerk)
SELECT @day@, c.centre, c.bundle, s.step, @s@ * count(*),
       @s@ * sum(CASE WHEN s.status = 'approved' THEN 1 ELSE 0 END),
       @s@ * sum(CASE WHEN s.status IN ('approved', 'not_eligible', 'withdrawn')
                       AND c.trips <= 1 THEN 1 ELSE 0 END),
       @s@ * coalesce(sum(s.working_days), 0),
       @s@ * count(s.working_days),
       @s@ * coalesce(sum(CASE WHEN s.status = 'approved' THEN s.fields_total ELSE 0 END), 0),
       @s@ * coalesce(sum(CASE WHEN s.status = 'approved' THEN s.fields_prefilled
                               ELSE 0 END), 0),
       @s@ * coalesce(sum(c.trips), 0),
       @s@ * sum(CASE WHEN c.status <> 'open' THEN 1 ELSE 0 END),
       @s@ * sum(CASE WHEN s.status = 'not_eligible' THEN 1 ELSE 0 END),
       @s@ * sum(CASE WHEN s.status = 'withdrawn' THEN 1 ELSE 0 END),
       0, 0
FROM cases c JOIN case_steps s ON s.case_id = c.case_id WHERE 1 = 1@cases@
GROUP BY @day@, c.centre, c.bundle, s.step ORDER BY @day@, c.centre, c.bundle, s.step
ON CONFLICT (day, centre, bundle, step) DO UPDATE SET {_CASE_SUMS}""",
    f"""
INSERT INTO step_days AS t (day, centre, bundle, step, cases, completed, one_trip, wd_sum,
                            wd_n, fields_total, fields_prefilled, trips, closed,
                            not_eligible, withdrawn, friction_citizen, friction_clerk)
SELECT @day@, c.centre, c.bundle, f.step, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
       @s@ * coalesce(sum(f.citizen_minutes), 0), @s@ * coalesce(sum(f.clerk_minutes), 0)
FROM cases c JOIN case_friction f ON f.case_id = c.case_id
WHERE f.step IS NOT NULL@cases@
GROUP BY @day@, c.centre, c.bundle, f.step ORDER BY @day@, c.centre, c.bundle, f.step
ON CONFLICT (day, centre, bundle, step) DO UPDATE SET {_CASE_SUMS}""",
    """
INSERT INTO point_days AS t (day, centre, fingerprint, count, cases, citizen_minutes,
                             clerk_minutes)
SELECT @day@, c.centre, f.fingerprint, @s@ * sum(f.count), @s@ * count(*),
       @s@ * sum(f.citizen_minutes), @s@ * sum(f.clerk_minutes)
FROM cases c JOIN case_friction f ON f.case_id = c.case_id WHERE 1 = 1@cases@
GROUP BY @day@, c.centre, f.fingerprint ORDER BY @day@, c.centre, f.fingerprint
ON CONFLICT (day, centre, fingerprint) DO UPDATE SET
    count = t.count + excluded.count,
    cases = t.cases + excluded.cases,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes""",
    # Cases that met an SLA breach (an extra_wait stuck point of any scope) at a step,
    # each counted once however many kinds of wait it met there.
    """
INSERT INTO breach_days AS t (day, centre, bundle, step, cases)
SELECT @day@, c.centre, coalesce(p.bundle, ''), coalesce(p.step, ''),
       @s@ * count(DISTINCT c.case_id)
FROM cases c
JOIN case_friction f ON f.case_id = c.case_id
JOIN stuck_points p ON p.fingerprint = f.fingerprint
WHERE p.kind = 'extra_wait'@cases@
GROUP BY @day@, c.centre, coalesce(p.bundle, ''), coalesce(p.step, '')
ORDER BY @day@, c.centre, coalesce(p.bundle, ''), coalesce(p.step, '')
ON CONFLICT (day, centre, bundle, step) DO UPDATE SET cases = t.cases + excluded.cases""",
    # The same over every case with friction, recorded or not (the unfiltered chart).
    """
INSERT INTO breach_cases AS t (bundle, step, cases)
SELECT coalesce(p.bundle, ''), coalesce(p.step, ''), @s@ * count(DISTINCT f.case_id)
FROM case_friction f JOIN stuck_points p ON p.fingerprint = f.fingerprint
WHERE p.kind = 'extra_wait'@fcases@
GROUP BY coalesce(p.bundle, ''), coalesce(p.step, '')
ORDER BY coalesce(p.bundle, ''), coalesce(p.step, '')
ON CONFLICT (bundle, step) DO UPDATE SET cases = t.cases + excluded.cases""",
)

# The China-local date of a stored instant (ISO text on SQLite, timestamptz on
# PostgreSQL), as engine.local_day computes it in Python.
_DAY_OF = {
    # Whole seconds: SQLite rounds a fraction to milliseconds, which could cross midnight.
    "sqlite": "date(substr(c.opened_at, 1, 19), '+8 hours')",
    "postgresql": "to_char(c.opened_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')",
}


def _statements(dialect: Dialect, sign: int, n_cases: int | None) -> list[str]:
    if n_cases is None:
        scope = fscope = ""
    elif dialect.array_params:  # the ids as one array: one parameter, one plan
        scope, fscope = " AND c.case_id = ANY(?)", " AND f.case_id = ANY(?)"
    else:
        marks = ", ".join("?" * n_cases)
        scope, fscope = f" AND c.case_id IN ({marks})", f" AND f.case_id IN ({marks})"
    day = _DAY_OF[dialect.name]
    return [
        dialect.sql(
            text.replace("@cases@", scope).replace("@fcases@", fscope)
            .replace("@day@", day).replace("@s@", str(sign))
        )
        for text in _CONTRIBUTIONS
    ]


def _apply(cur: Cursor, dialect: Dialect, sign: int, case_ids: list[str]) -> None:
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start : start + CHUNK]
        params: Sequence[object] = (chunk,) if dialect.array_params else chunk
        for statement in _statements(dialect, sign, len(chunk)):
            # Each scoped statement names the ids in one IN list or array (the
            # correlated subqueries of _CASES are scoped by the outer row).
            cur.execute(statement, params)


def lock(cur: Cursor, engine: Engine, case_ids: Collection[str | None]) -> list[str]:
    """These cases locked until the transaction ends, before anything reads them (where
    the dialect needs it: PostgreSQL reads committed rows, so two writes to one case
    must not both read it before either commits). The ids, sorted, without None."""
    ids = sorted({case_id for case_id in case_ids if case_id is not None})
    if ids and engine.dialect.lock_cases:
        cur.execute(engine.dialect.lock_cases, (ids,))
    return ids


@contextlib.contextmanager
def changing(cur: Cursor, engine: Engine, case_ids: Collection[str | None]) -> Iterator[None]:
    """Around a write that changes these cases' records, steps or friction: their
    contributions out before it, back in after it (the with block is in the caller's
    transaction; if it raises, the transaction rolls back and nothing needs undoing)."""
    ids = lock(cur, engine, case_ids)
    if ids:
        _apply(cur, engine.dialect, -1, ids)
    yield
    if ids:
        _apply(cur, engine.dialect, 1, ids)


def rebuild_case_rollups(cur: Cursor, dialect: Dialect) -> None:
    """The case-level rollups from the cases, their steps and their friction (migration
    7, and rebuild_rollups after the stuck points are rebuilt). A case written meanwhile
    waits: counted between the DELETE and the INSERT, it would be counted twice."""
    if dialect.lock_for_rebuild:
        tables = ", ".join(("cases", "case_steps", *CASE_ROLLUP_TABLES))
        cur.execute(dialect.lock_for_rebuild.format(tables=tables))
    for table in CASE_ROLLUP_TABLES:
        cur.execute(f"DELETE FROM {table}")
    for statement in _statements(dialect, 1, None):
        cur.execute(statement)


def aligned(since: datetime | None, until: datetime | None) -> bool:
    """Whether [since, until) is made of whole China-local days (or open-ended), so the
    day rollups answer it exactly; other windows read the cases themselves."""
    return all(
        bound is None
        # A naive bound is UTC, as engine.ts stores it.
        or (bound if bound.tzinfo else bound.replace(tzinfo=UTC)).astimezone(CHINA_TZ)
        .time() == time(0)
        for bound in (since, until)
    )
