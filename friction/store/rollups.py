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

import msgspec

from friction.burden import BurdenTable, default_burden_table
from friction.store.engine import Cursor, Dialect, Engine, local_day, ts
from friction.stuck_points import details_of, known_from_of
from kernel.events import FrictionEvent, fingerprint, kind_of, point_kind, subject_of

__all__ = [
    "EVENT_COLUMNS", "KIND_DAYS_FROM_EVENTS", "EventRow", "event_params", "event_row",
    "rebuild_kind_days", "rebuild_stuck_points", "rekey_events", "roll_up",
]

REKEY_PAGE = 1000  # events re-keyed per statement batch

EVENT_COLUMNS = (
    "event_id", "kind", "fingerprint", "bundle", "step", "subject", "case_id", "centre",
    "channel", "occurred_at", "citizen_minutes", "clerk_minutes", "known_from", "body",
    "point_kind", "trace_id", "local_day", "details",
)

# The alias makes "t.count" the stored row on both databases (PostgreSQL would find a
# bare "count" ambiguous between the row and excluded).
UPSERT_POINT = """
INSERT INTO stuck_points AS t (fingerprint, kind, bundle, step, subject, count, cases,
                               first_seen, last_seen, citizen_minutes, clerk_minutes,
                               burden_minutes, notes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fingerprint) DO UPDATE SET
    count = t.count + excluded.count,
    cases = t.cases + excluded.cases,
    first_seen = {least}(t.first_seen, excluded.first_seen),
    last_seen = {greatest}(t.last_seen, excluded.last_seen),
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes,
    burden_minutes = t.burden_minutes + excluded.burden_minutes,
    notes = t.notes + excluded.notes"""
INSERT_POINT_CASE = """
INSERT INTO stuck_point_cases (fingerprint, case_id, first_seen) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, case_id) DO NOTHING"""
UPSERT_SOURCE = """
INSERT INTO stuck_point_sources AS t (fingerprint, source, count) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, source) DO UPDATE SET count = t.count + excluded.count"""
UPSERT_DETAIL = """
INSERT INTO stuck_point_details AS t (fingerprint, detail, count) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, detail) DO UPDATE SET count = t.count + excluded.count"""
INSERT_POINT_TRACE = """
INSERT INTO stuck_point_traces (fingerprint, trace_id, first_seen) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, trace_id) DO NOTHING"""
UPSERT_DAY = """
INSERT INTO stuck_point_days AS t (fingerprint, day, count, citizen_minutes, clerk_minutes)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (fingerprint, day) DO UPDATE SET
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes"""
UPSERT_KIND_DAY = """
INSERT INTO kind_days AS t (day, kind, bundle, centre, count, citizen_minutes, clerk_minutes)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, kind, bundle, centre) DO UPDATE SET
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes"""
UPSERT_CASE_FRICTION = """
INSERT INTO case_friction AS t (case_id, fingerprint, step, count, citizen_minutes,
                                clerk_minutes)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id, fingerprint) DO UPDATE SET
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes"""
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


class _Point(msgspec.Struct, kw_only=True):
    row: EventRow
    count: int = 0
    notes: int = 0
    first: str
    last: str
    citizen: float = 0.0
    clerk: float = 0.0


class _Sum(msgspec.Struct, kw_only=True):
    step: str | None = None
    count: int = 0
    citizen: float = 0.0
    clerk: float = 0.0

    def add(self, row: EventRow) -> None:
        self.count += 1
        self.citizen += row.citizen
        self.clerk += row.clerk


def _rekeyed(
    event: FrictionEvent, details: tuple[str, ...]
) -> tuple[str, str, str, str | None, str, str | None]:
    """The columns computed from an event's body: fingerprint, subject, point kind, trace
    id, local day and its details (as a JSON array, or None)."""
    return (
        fingerprint(event), subject_of(event), point_kind(event), event.trace_id,
        local_day(event.occurred_at), _json_text(details).decode() if details else None,
    )


def event_row(
    event: FrictionEvent, burden: BurdenTable, encoder: msgspec.json.Encoder
) -> EventRow:
    kind = kind_of(event)
    details = details_of(event)
    fp, subject, pkind, trace_id, day, details_json = _rekeyed(event, details)
    citizen, clerk = burden.burden_of(event)
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


def roll_up(cur: Cursor, engine: Engine, rows: list[EventRow]) -> None:
    """Add newly stored events to the rollups, one statement per stuck point, case and
    source rather than per event, each kind in key order (the lock order)."""
    points: dict[str, _Point] = {}
    case_seen: dict[tuple[str, str], str] = {}
    sources: Counter[tuple[str, str]] = Counter()
    details: Counter[tuple[str, str]] = Counter()
    traces: dict[tuple[str, str], str] = {}
    days: dict[tuple[str, str], _Sum] = {}
    kind_days: dict[tuple[str, str, str, str], _Sum] = {}
    per_case: dict[tuple[str, str], _Sum] = {}
    for row in rows:
        p = points.get(row.fingerprint)
        if p is None:
            p = points[row.fingerprint] = _Point(
                row=row, first=row.occurred_at, last=row.occurred_at
            )
        p.count += 1
        p.notes += row.kind != row.point_kind
        p.citizen += row.citizen
        p.clerk += row.clerk
        p.first = min(p.first, row.occurred_at)
        p.last = max(p.last, row.occurred_at)
        if row.case_id is not None:
            key = (row.fingerprint, row.case_id)
            case_seen[key] = min(case_seen.get(key, row.occurred_at), row.occurred_at)
            per_case.setdefault((row.case_id, row.fingerprint), _Sum(step=row.step)).add(row)
        if row.known_from is not None:
            sources[(row.fingerprint, row.known_from)] += 1
        for detail in row.details:
            details[(row.fingerprint, detail)] += 1
        if row.trace_id is not None:
            key = (row.fingerprint, row.trace_id)
            traces[key] = min(traces.get(key, row.occurred_at), row.occurred_at)
        days.setdefault((row.fingerprint, row.local_day), _Sum()).add(row)
        key4 = (row.local_day, row.kind, row.bundle or "", row.centre or "")
        kind_days.setdefault(key4, _Sum()).add(row)
    sql = engine.sql
    pairs = sorted(case_seen.items())
    flags = engine.dialect.insert_new(
        cur, sql(INSERT_POINT_CASE), [(fp, case, at) for (fp, case), at in pairs]
    )
    new_cases: Counter[str] = Counter()
    for ((fp, _), _), is_new in zip(pairs, flags, strict=True):
        new_cases[fp] += is_new
    if points:
        cur.executemany(
            sql(UPSERT_POINT),
            [
                (
                    fp, p.row.point_kind, p.row.bundle, p.row.step, p.row.subject,
                    p.count, new_cases[fp], p.first, p.last, p.citizen, p.clerk,
                    p.citizen + p.clerk, p.notes,
                )
                for fp, p in sorted(points.items())
            ],
        )
    if sources:
        cur.executemany(
            sql(UPSERT_SOURCE),
            [(fp, source, n) for (fp, source), n in sorted(sources.items())],
        )
    if details:
        cur.executemany(
            sql(UPSERT_DETAIL),
            [(fp, detail, n) for (fp, detail), n in sorted(details.items())],
        )
    if traces:
        cur.executemany(
            sql(INSERT_POINT_TRACE),
            [(fp, trace, at) for (fp, trace), at in sorted(traces.items())],
        )
    if days:
        cur.executemany(
            sql(UPSERT_DAY),
            [(fp, day, d.count, d.citizen, d.clerk) for (fp, day), d in sorted(days.items())],
        )
    if kind_days:
        cur.executemany(
            sql(UPSERT_KIND_DAY),
            [(*key, d.count, d.citizen, d.clerk) for key, d in sorted(kind_days.items())],
        )
    if per_case:
        cur.executemany(
            sql(UPSERT_CASE_FRICTION),
            [
                (case, fp, c.step, c.count, c.citizen, c.clerk)
                for (case, fp), c in sorted(per_case.items())
            ],
        )


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
