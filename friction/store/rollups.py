"""The rollups: what ingest adds for each newly stored event, and the same numbers
recomputed from the stored events (a bulk load, a repair, a migration).

Stuck points are kept as rollups written in the same transaction as the events they
count, and only for events stored for the first time: reading the backlog costs the
number of stuck points, not the number of events, and a retried batch changes nothing.
The same holds for their evidence (sources, details, traces), their daily counts, each
case's friction per stuck point and the friction per kind, day, bundle and centre, which
the reports, the dashboard and the verifier's rate windows sum instead of scanning events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec

from friction.burden import BurdenTable, default_burden_table
from friction.store.engine import Cursor, Dialect, Engine, local_day, ts
from friction.stuck_points import details_of, known_from_of
from kernel.events import FrictionEvent, kind_of, point_fingerprint, point_kind, subject_of

__all__ = [
    "EVENT_COLUMNS", "KIND_DAYS_FROM_EVENTS", "ROLLUP_TABLES", "EventRow", "Rollups",
    "aggregate", "event_params", "event_row", "rebuild_kind_days", "rebuild_stuck_points",
    "rekey_events", "roll_up",
]

REKEY_PAGE = 1000  # events re-keyed per statement batch

EVENT_COLUMNS = (
    "event_id", "kind", "fingerprint", "bundle", "step", "subject", "case_id", "centre",
    "channel", "occurred_at", "citizen_minutes", "clerk_minutes", "known_from", "body",
    "point_kind", "trace_id", "local_day", "details",
)

# Each rollup as a table, its columns with their PostgreSQL array types, and what a key
# already there gets. The statements are built from these in two shapes: one row of
# parameters per key (executemany: SQLite, where a statement costs no round trip), and one
# array per column (PostgreSQL: the whole batch in one statement, unnest()ed server side).
# The alias makes "t.count" the stored row on both databases (PostgreSQL would find a
# bare "count" ambiguous between the row and excluded).
_ADD_COUNTS = """
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes"""


class _Rollup(NamedTuple):
    table: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type)
    conflict: str

    def rows_sql(self) -> str:
        names = ", ".join(name for name, _ in self.columns)
        marks = ", ".join("?" * len(self.columns))
        return f"INSERT INTO {self.table} AS t ({names})\nVALUES ({marks})\n{self.conflict}"

    def arrays_sql(self) -> str:
        names = ", ".join(name for name, _ in self.columns)
        arrays = ", ".join(f"%b::{kind}[]" for _, kind in self.columns)
        return (f"INSERT INTO {self.table} AS t ({names})\n"
                f"SELECT * FROM unnest({arrays})\n{self.conflict}")


_POINTS = _Rollup("stuck_points", (
    ("fingerprint", "text"), ("kind", "text"), ("bundle", "text"), ("step", "text"),
    ("subject", "text"), ("count", "bigint"), ("cases", "bigint"),
    ("first_seen", "timestamptz"), ("last_seen", "timestamptz"),
    ("citizen_minutes", "float8"), ("clerk_minutes", "float8"),
    ("burden_minutes", "float8"), ("notes", "bigint"),
), """ON CONFLICT (fingerprint) DO UPDATE SET
    count = t.count + excluded.count,
    cases = t.cases + excluded.cases,
    first_seen = {least}(t.first_seen, excluded.first_seen),
    last_seen = {greatest}(t.last_seen, excluded.last_seen),
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes,
    burden_minutes = t.burden_minutes + excluded.burden_minutes,
    notes = t.notes + excluded.notes""")
_POINT_CASES = _Rollup("stuck_point_cases", (
    ("fingerprint", "text"), ("case_id", "text"), ("first_seen", "timestamptz"),
), "ON CONFLICT (fingerprint, case_id) DO NOTHING")
_SOURCES = _Rollup("stuck_point_sources", (
    ("fingerprint", "text"), ("source", "text"), ("count", "bigint"),
), "ON CONFLICT (fingerprint, source) DO UPDATE SET count = t.count + excluded.count")
_DETAILS = _Rollup("stuck_point_details", (
    ("fingerprint", "text"), ("detail", "text"), ("count", "bigint"),
), "ON CONFLICT (fingerprint, detail) DO UPDATE SET count = t.count + excluded.count")
_TRACES = _Rollup("stuck_point_traces", (
    ("fingerprint", "text"), ("trace_id", "text"), ("first_seen", "timestamptz"),
), "ON CONFLICT (fingerprint, trace_id) DO NOTHING")
_DAYS = _Rollup("stuck_point_days", (
    ("fingerprint", "text"), ("day", "text"), ("count", "bigint"),
    ("citizen_minutes", "float8"), ("clerk_minutes", "float8"),
), f"ON CONFLICT (fingerprint, day) DO UPDATE SET{_ADD_COUNTS}")
_KIND_DAYS = _Rollup("kind_days", (
    ("day", "text"), ("kind", "text"), ("bundle", "text"), ("centre", "text"),
    ("count", "bigint"), ("citizen_minutes", "float8"), ("clerk_minutes", "float8"),
), f"ON CONFLICT (day, kind, bundle, centre) DO UPDATE SET{_ADD_COUNTS}")
_CASE_FRICTION = _Rollup("case_friction", (
    ("case_id", "text"), ("fingerprint", "text"), ("step", "text"), ("count", "bigint"),
    ("citizen_minutes", "float8"), ("clerk_minutes", "float8"),
), f"ON CONFLICT (case_id, fingerprint) DO UPDATE SET{_ADD_COUNTS}")

# Every rollup an event batch adds to, in the order ingest writes them (stuck points'
# cases first: a point's `cases` counts the pairs that were new).
ROLLUP_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (r.table, tuple(name for name, _ in r.columns))
    for r in (_POINT_CASES, _POINTS, _SOURCES, _DETAILS, _TRACES, _DAYS, _KIND_DAYS,
              _CASE_FRICTION)
)

INSERT_POINT_CASE = _POINT_CASES.rows_sql()
UPSERT_POINT = _POINTS.rows_sql()
_ROWS_SQL = {r.table: r.rows_sql() for r in (_SOURCES, _DETAILS, _TRACES, _DAYS, _KIND_DAYS,
                                             _CASE_FRICTION)}
_ARRAYS_SQL = {r.table: r.arrays_sql() for r in (_SOURCES, _DETAILS, _TRACES, _DAYS,
                                                 _KIND_DAYS, _CASE_FRICTION)}
# PostgreSQL: the stuck points' new cases and the points themselves in one statement, so
# the count of new pairs never travels back to Python; the points in key order (the
# lock order) whatever order the join produced.
_POINTS_WITH_CASES = f"""
WITH new_case AS (
    INSERT INTO stuck_point_cases (fingerprint, case_id, first_seen)
    SELECT * FROM unnest(%b::text[], %b::text[], %b::timestamptz[])
    ON CONFLICT (fingerprint, case_id) DO NOTHING
    RETURNING fingerprint
), new_cases AS (
    SELECT fingerprint, count(*) AS n FROM new_case GROUP BY fingerprint
)
INSERT INTO stuck_points AS t (fingerprint, kind, bundle, step, subject, count, cases,
                               first_seen, last_seen, citizen_minutes, clerk_minutes,
                               burden_minutes, notes)
SELECT p.fingerprint, p.kind, p.bundle, p.step, p.subject, p.count, coalesce(c.n, 0),
       p.first_seen, p.last_seen, p.citizen, p.clerk, p.burden, p.notes
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[],
            %b::timestamptz[], %b::timestamptz[], %b::float8[], %b::float8[], %b::float8[],
            %b::bigint[])
     AS p (fingerprint, kind, bundle, step, subject, count, first_seen, last_seen, citizen,
           clerk, burden, notes)
LEFT JOIN new_cases c ON c.fingerprint = p.fingerprint
ORDER BY p.fingerprint
{_POINTS.conflict}"""
_PAGE_EVENT_BODIES = """
SELECT event_id, body FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?"""
_REKEY_EVENT = """
UPDATE events SET fingerprint = ?, subject = ?, point_kind = ?, trace_id = ?, local_day = ?,
                  details = ?
WHERE event_id = ?"""

# kind_days from the stored events, as ingest would have counted them: migration 3 fills
# the table with it and rebuild_kind_days refills it, so it stays as released.
KIND_DAYS_FROM_EVENTS = """
INSERT INTO kind_days (day, kind, bundle, centre, count, citizen_minutes, clerk_minutes)
SELECT local_day, kind, coalesce(bundle, ''), coalesce(centre, ''), count(*),
       sum(citizen_minutes), sum(clerk_minutes)
FROM events GROUP BY local_day, kind, coalesce(bundle, ''), coalesce(centre, '')"""

# Stuck-point rollups from scratch: the same numbers ingest keeps. Migration 2 runs these,
# so a rollup added by a later migration is rebuilt apart.
_REBUILD: tuple[str, ...] = (
    "DELETE FROM stuck_point_sources",
    "DELETE FROM stuck_point_cases",
    "DELETE FROM stuck_point_details",
    "DELETE FROM stuck_point_traces",
    "DELETE FROM stuck_point_days",
    "DELETE FROM case_friction",
    "DELETE FROM stuck_points",
    """INSERT INTO stuck_point_cases (fingerprint, case_id, first_seen)
    SELECT fingerprint, case_id, min(occurred_at) FROM events
    WHERE case_id IS NOT NULL GROUP BY fingerprint, case_id""",
    """INSERT INTO stuck_points (fingerprint, kind, bundle, step, subject, count, cases,
                                 first_seen, last_seen, citizen_minutes, clerk_minutes,
                                 burden_minutes, notes)
    SELECT p.fingerprint, p.kind, p.bundle, p.step, p.subject, p.n, coalesce(c.n, 0),
           p.first_seen, p.last_seen, p.citizen, p.clerk, p.citizen + p.clerk, p.notes
    FROM (SELECT fingerprint, min(point_kind) AS kind, min(bundle) AS bundle,
                 min(step) AS step, min(subject) AS subject, count(*) AS n,
                 min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
                 sum(citizen_minutes) AS citizen, sum(clerk_minutes) AS clerk,
                 sum(CASE WHEN kind <> point_kind THEN 1 ELSE 0 END) AS notes
          FROM events GROUP BY fingerprint) p
    LEFT JOIN (SELECT fingerprint, count(*) AS n FROM stuck_point_cases
               GROUP BY fingerprint) c ON c.fingerprint = p.fingerprint""",
    """INSERT INTO stuck_point_sources (fingerprint, source, count)
    SELECT fingerprint, known_from, count(*) FROM events
    WHERE known_from IS NOT NULL GROUP BY fingerprint, known_from""",
    """INSERT INTO stuck_point_details (fingerprint, detail, count)
    SELECT e.fingerprint, d.value, count(*) FROM events e CROSS JOIN {each_detail}
    WHERE e.details IS NOT NULL GROUP BY e.fingerprint, d.value""",
    """INSERT INTO stuck_point_traces (fingerprint, trace_id, first_seen)
    SELECT fingerprint, trace_id, min(occurred_at) FROM events
    WHERE trace_id IS NOT NULL GROUP BY fingerprint, trace_id""",
    """INSERT INTO stuck_point_days (fingerprint, day, count, citizen_minutes, clerk_minutes)
    SELECT fingerprint, local_day, count(*), sum(citizen_minutes), sum(clerk_minutes)
    FROM events GROUP BY fingerprint, local_day""",
    """INSERT INTO case_friction (case_id, fingerprint, step, count, citizen_minutes,
                                  clerk_minutes)
    SELECT case_id, fingerprint, min(step), count(*), sum(citizen_minutes),
           sum(clerk_minutes)
    FROM events WHERE case_id IS NOT NULL GROUP BY case_id, fingerprint""",
)

_json_text = msgspec.json.Encoder().encode


class EventRow(msgspec.Struct, kw_only=True, frozen=True):
    """An event with everything the insert and the rollups need, computed before any
    lock is taken."""

    event_id: str
    kind: str
    point_kind: str  # the stuck point's kind: differs for a clerk's note about another
    fingerprint: str
    bundle: str | None
    step: str | None
    subject: str
    case_id: str | None
    centre: str | None
    occurred_at: str
    citizen: float
    clerk: float
    known_from: str | None
    trace_id: str | None
    local_day: str
    details: tuple[str, ...]
    params: tuple[object, ...]


def _rekeyed(
    event: FrictionEvent, details: tuple[str, ...]
) -> tuple[str, str, str, str | None, str, str | None]:
    """The columns computed from an event's body: fingerprint, subject, point kind, trace
    id, local day and its details (as a JSON array, or None)."""
    pkind, subject = point_kind(event), subject_of(event)
    return (
        point_fingerprint(pkind, event.bundle, event.step, subject), subject, pkind,
        event.trace_id, local_day(event.occurred_at),
        _json_text(details).decode() if details else None,
    )


def event_row(
    event: FrictionEvent, burden: BurdenTable, encoder: msgspec.json.Encoder
) -> EventRow:
    kind = kind_of(event)
    details = details_of(event)
    fp, subject, pkind, trace_id, day, details_json = _rekeyed(event, details)
    # Floats always: a burden table written with whole minutes must not make a column of
    # mixed ints and floats (PostgreSQL's arrays take one type).
    citizen, clerk = burden.burden_of(event)
    citizen, clerk = float(citizen), float(clerk)
    source = known_from_of(event)
    at = ts(event.occurred_at)
    params = (
        event.event_id, kind, fp, event.bundle, event.step, subject, event.case_id,
        event.centre, event.channel, at, citizen, clerk, source, encoder.encode(event),
        pkind, trace_id, day, details_json,
    )
    return EventRow(
        event_id=event.event_id, kind=kind, point_kind=pkind, fingerprint=fp,
        bundle=event.bundle, step=event.step, subject=subject, case_id=event.case_id,
        centre=event.centre, occurred_at=at, citizen=citizen, clerk=clerk, known_from=source,
        trace_id=trace_id, local_day=day, details=details, params=params,
    )


def event_params(event: FrictionEvent, burden: BurdenTable | None = None) -> tuple[object, ...]:
    """The `events` row for an event, in EVENT_COLUMNS order: for bulk loads that write
    the table directly and then call rebuild_rollups."""
    return event_row(event, burden or default_burden_table(), msgspec.json.Encoder()).params


class Rollups(msgspec.Struct, kw_only=True, frozen=True):
    """What one batch of new events adds to each rollup: one row per key, every list in
    key order (the order rows are locked in, so concurrent writers queue instead of
    deadlocking)."""

    point_cases: list[tuple[str, str, str]]  # (fingerprint, case_id, first_seen)
    # stuck_points' columns but `cases`, which counts the pairs above that were new.
    points: list[tuple[str, str, str | None, str | None, str, int, str, str, float, float,
                       float, int]]
    sources: list[tuple[str, str, int]]
    details: list[tuple[str, str, int]]
    traces: list[tuple[str, str, str]]
    days: list[tuple[str, str, int, float, float]]
    kind_days: list[tuple[str, str, str, str, int, float, float]]
    case_friction: list[tuple[str, str, str | None, int, float, float]]


def aggregate(rows: Sequence[EventRow]) -> Rollups:
    """The rollups' additions for `rows`, summed per key in Python: the database gets one
    upsert row per stuck point, case, day... instead of one per event."""
    # Plain lists as accumulators: [count, citizen, clerk] and friends; this loop runs once
    # per stored event.
    points: dict[str, list[Any]] = {}
    case_seen: dict[tuple[str, str], str] = {}
    sources: Counter[tuple[str, str]] = Counter()
    details: Counter[tuple[str, str]] = Counter()
    traces: dict[tuple[str, str], str] = {}
    days: dict[tuple[str, str], list[float]] = {}
    kind_days: dict[tuple[str, str, str, str], list[float]] = {}
    per_case: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        fp, at, citizen, clerk = row.fingerprint, row.occurred_at, row.citizen, row.clerk
        p = points.get(fp)
        if p is None:
            points[fp] = [row, 1, int(row.kind != row.point_kind), at, at, citizen, clerk]
        else:
            p[1] += 1
            p[2] += row.kind != row.point_kind
            if at < p[3]:
                p[3] = at
            if at > p[4]:
                p[4] = at
            p[5] += citizen
            p[6] += clerk
        case_id = row.case_id
        if case_id is not None:
            key = (fp, case_id)
            seen = case_seen.get(key)
            if seen is None or at < seen:
                case_seen[key] = at
            c = per_case.get((case_id, fp))
            if c is None:
                per_case[(case_id, fp)] = [row.step, 1, citizen, clerk]
            else:
                c[1] += 1
                c[2] += citizen
                c[3] += clerk
        if row.known_from is not None:
            sources[(fp, row.known_from)] += 1
        for detail in row.details:
            details[(fp, detail)] += 1
        if row.trace_id is not None:
            key = (fp, row.trace_id)
            seen = traces.get(key)
            if seen is None or at < seen:
                traces[key] = at
        d = days.get((fp, row.local_day))
        if d is None:
            days[(fp, row.local_day)] = [1, citizen, clerk]
        else:
            d[0] += 1
            d[1] += citizen
            d[2] += clerk
        key4 = (row.local_day, row.kind, row.bundle or "", row.centre or "")
        k = kind_days.get(key4)
        if k is None:
            kind_days[key4] = [1, citizen, clerk]
        else:
            k[0] += 1
            k[1] += citizen
            k[2] += clerk
    return Rollups(
        point_cases=[(fp, case, at) for (fp, case), at in sorted(case_seen.items())],
        points=[
            (fp, r.point_kind, r.bundle, r.step, r.subject, n, first, last, citizen, clerk,
             citizen + clerk, notes)
            for fp, (r, n, notes, first, last, citizen, clerk) in sorted(points.items())
        ],
        sources=[(fp, source, n) for (fp, source), n in sorted(sources.items())],
        details=[(fp, detail, n) for (fp, detail), n in sorted(details.items())],
        traces=[(fp, trace, at) for (fp, trace), at in sorted(traces.items())],
        days=[(fp, day, int(n), citizen, clerk)
              for (fp, day), (n, citizen, clerk) in sorted(days.items())],
        kind_days=[(*key, int(n), citizen, clerk)
                   for key, (n, citizen, clerk) in sorted(kind_days.items())],
        case_friction=[(case, fp, step, n, citizen, clerk)
                       for (case, fp), (step, n, citizen, clerk) in sorted(per_case.items())],
    )


def _rest(rollups: Rollups) -> tuple[tuple[str, list[Any]], ...]:
    """The rollups after the stuck points, by table, in the order they are written."""
    return (
        ("stuck_point_sources", rollups.sources), ("stuck_point_details", rollups.details),
        ("stuck_point_traces", rollups.traces), ("stuck_point_days", rollups.days),
        ("kind_days", rollups.kind_days), ("case_friction", rollups.case_friction),
    )


POINT_CASE_COLUMNS = 3  # fingerprint, case_id, first_seen


def _columns(rows: Sequence[tuple[Any, ...]], width: int | None = None) -> list[list[Any]]:
    """The rows as one list per column; `width` empty lists when there are no rows (events
    of no case add stuck points but no point's case)."""
    if not rows and width is not None:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def roll_up(cur: Cursor, engine: Engine, rollups: Rollups) -> None:
    """Add newly stored events (aggregated) to the rollups: one upsert row per key, each
    table in key order."""
    if not rollups.points:
        return
    sql = engine.sql
    if engine.dialect.array_params:
        # One statement per table, each a whole batch of arrays, none read back: in the
        # ingest's pipeline they go to the server with its COMMIT, one round trip.
        cur.execute(
            sql(_POINTS_WITH_CASES),
            (*_columns(rollups.point_cases, POINT_CASE_COLUMNS), *_columns(rollups.points)),
        )
        for table, table_rows in _rest(rollups):
            if table_rows:
                cur.execute(sql(_ARRAYS_SQL[table]), _columns(table_rows))
        return
    # Row by row (SQLite: no round trips), a stuck point's cases in one executemany each:
    # its rowcount is how many of them are new to that point.
    new_cases: Counter[str] = Counter()
    point_cases = sql(INSERT_POINT_CASE)
    for fp, pairs in groupby(rollups.point_cases, key=itemgetter(0)):
        cur.executemany(point_cases, pairs)
        new_cases[fp] = cur.rowcount
    cur.executemany(
        sql(UPSERT_POINT),
        [(*p[:6], new_cases[p[0]], *p[6:]) for p in rollups.points],
    )
    for table, table_rows in _rest(rollups):
        if table_rows:
            cur.executemany(sql(_ROWS_SQL[table]), table_rows)


def rebuild_stuck_points(cur: Cursor, dialect: Dialect) -> None:
    """The stuck-point rollups from the stored events (migration 2 runs this)."""
    for statement in (*dialect.rebuild_prelude, *_REBUILD):
        cur.execute(dialect.sql(statement))


def rebuild_kind_days(cur: Cursor, dialect: Dialect) -> None:
    """kind_days from the stored events (migration 3 fills it so on creation)."""
    for statement in ("DELETE FROM kind_days", KIND_DAYS_FROM_EVENTS):
        cur.execute(dialect.sql(statement))


def rekey_events(cur: Cursor, dialect: Dialect) -> None:
    """Recompute every event's fingerprint and the columns the rollups read from its
    body (migration 2: re-entries moved from one stuck point per field to one per form),
    a page at a time."""
    decoder = msgspec.json.Decoder(FrictionEvent)
    page_sql, rekey_sql = dialect.sql(_PAGE_EVENT_BODIES), dialect.sql(_REKEY_EVENT)
    last = ""
    while True:
        cur.execute(page_sql, (last, REKEY_PAGE))
        page = cur.fetchall()
        if not page:
            return
        cur.executemany(
            rekey_sql,
            [
                (*_rekeyed(event, details_of(event)), event_id)
                for event_id, event in ((i, decoder.decode(b)) for i, b in page)
            ],
        )
        last = page[-1][0]
