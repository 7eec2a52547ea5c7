"""The friction store's SQL and logic, written once for every database it runs on.

SqlFrictionStore works over one DB-API connection (sqlite3 or psycopg) and a Dialect that
holds the few real differences: placeholder style, column types, how a write transaction
starts and what a row lock looks like, how to learn which rows an INSERT ... ON CONFLICT
DO NOTHING actually stored, and which errors mean "run the transaction again".
SqliteFrictionStore and PostgresFrictionStore only open connections and pick a dialect.

Stuck points are kept as rollups written in the same transaction as the events they
count, and only for events stored for the first time: reading the backlog costs the
number of stuck points, not the number of events, and a retried batch changes nothing.
The same holds for their evidence (sources, details, traces), their daily counts, each
case's friction per stuck point and the friction per kind, day, bundle and centre, which
the reports, the dashboard and the verifier's rate windows sum instead of scanning
events. The backlog, its transitions and the can't-get-it-done
register are small tables of their own, changed under row locks.
Several processes may write at once (WAL and BEGIN IMMEDIATE on SQLite, row locks on
PostgreSQL): counters are only ever changed by `count = t.count + excluded.count`, never
read-modify-written, and rollup rows are locked in sorted order so writers queue instead
of deadlocking.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Self, TypeVar

import msgspec

from friction.backlog import BacklogItem, Status, Transition
from friction.burden import BurdenTable, default_burden_table
from friction.dashboard import (
    BreachSums,
    CantGetItDoneByCause,
    DashboardFilter,
    KindDay,
    PointSums,
)
from friction.register import CantGetItDoneRecord, check_cause, is_walk_in
from friction.reports import GroupBy, ReportSums
from friction.store import (
    ConflictError,
    Granularity,
    IngestResult,
    KindTotal,
    OpenCantGetItDone,
)
from friction.stuck_points import (
    MAX_SAMPLE_CASES,
    MAX_SAMPLE_TRACES,
    StuckPoint,
    TrendPoint,
    details_of,
    known_from_of,
    period_start,
    periods,
    remedy_for,
)
from friction.verification import RateWindow, Verdict
from kernel.china_time import CHINA_TZ
from kernel.events import (
    FRICTION_KINDS,
    CaseRecord,
    FrictionEvent,
    StepRecord,
    fingerprint,
    kind_of,
    point_kind,
    subject_of,
)

# A DB-API 2 connection or cursor (sqlite3 or psycopg); their stubs share no usable type.
Connection = Any
Cursor = Any
T = TypeVar("T")

# A deadlock or serialization failure is the database asking for the transaction again.
MAX_ATTEMPTS = 5

PAGE = 1000  # rows per read transaction when iterating cases or events

# A migration step that SQL alone cannot do (it decodes event bodies in Python).
MigrationStep = Callable[[Any, "SqlFrictionStore"], None]

# kind_days from the stored events, as ingest would have counted them: migration 3 fills
# the table with it and rebuild_rollups refills it, so it stays as released.
_KIND_DAYS_FROM_EVENTS = """
INSERT INTO kind_days (day, kind, bundle, centre, count, citizen_minutes, clerk_minutes)
SELECT local_day, kind, coalesce(bundle, ''), coalesce(centre, ''), count(*),
       sum(citizen_minutes), sum(clerk_minutes)
FROM events GROUP BY local_day, kind, coalesce(bundle, ''), coalesce(centre, '')"""

# Append-only: a released version is never edited, a change is a new version. Each
# version's statements run in one transaction together with its schema_version row.
# {words} are the dialect's column types and clauses (Dialect.words).
MIGRATIONS: tuple[tuple[int, tuple[str | MigrationStep, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE events (
                event_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                bundle TEXT,
                step TEXT,
                subject TEXT NOT NULL,
                case_id TEXT,
                centre TEXT,
                channel TEXT,
                occurred_at {ts} NOT NULL,
                citizen_minutes {real} NOT NULL,
                clerk_minutes {real} NOT NULL,
                known_from TEXT,
                body {blob} NOT NULL{event_seq}
            )""",
            "CREATE INDEX events_case ON events (case_id{case_order})",
            """CREATE TABLE stuck_points (
                fingerprint TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                bundle TEXT,
                step TEXT,
                subject TEXT NOT NULL,
                count {count} NOT NULL,
                cases {count} NOT NULL,
                first_seen {ts} NOT NULL,
                last_seen {ts} NOT NULL,
                citizen_minutes {real} NOT NULL,
                clerk_minutes {real} NOT NULL,
                burden_minutes {real} NOT NULL
            )""",
            "CREATE INDEX stuck_points_rank ON stuck_points (burden_minutes DESC)",
            "CREATE INDEX stuck_points_bundle_rank ON stuck_points (bundle, burden_minutes DESC)",
            """CREATE TABLE stuck_point_cases (
                fingerprint TEXT NOT NULL,
                case_id TEXT NOT NULL,
                first_seen {ts} NOT NULL,
                PRIMARY KEY (fingerprint, case_id)
            ){without_rowid}""",
            """CREATE INDEX stuck_point_cases_recent
                ON stuck_point_cases (fingerprint, first_seen DESC{case_tiebreak})""",
            """CREATE TABLE stuck_point_sources (
                fingerprint TEXT NOT NULL,
                source TEXT NOT NULL,
                count {count} NOT NULL,
                PRIMARY KEY (fingerprint, source)
            ){without_rowid}""",
            """CREATE TABLE cases (
                case_id TEXT PRIMARY KEY,
                bundle TEXT NOT NULL,
                bundle_version INTEGER NOT NULL,
                centre TEXT NOT NULL,
                channel TEXT NOT NULL,
                status TEXT NOT NULL,
                opened_at {ts} NOT NULL,
                closed_at {ts},
                trips INTEGER NOT NULL,
                fields_total INTEGER NOT NULL,
                fields_prefilled INTEGER NOT NULL
            )""",
            """CREATE TABLE case_counts (
                bundle TEXT NOT NULL,
                status TEXT NOT NULL,
                count {count} NOT NULL,
                PRIMARY KEY (bundle, status)
            ){without_rowid}""",
        ),
    ),
    (
        # The notebook's loop: evidence (details, traces), daily trends, per-case
        # friction, case steps, the backlog with its transitions, the can't-get-it-done
        # register. Re-entries now group by form, so every stored event is re-keyed.
        2,
        (
            "ALTER TABLE events ADD COLUMN point_kind TEXT",
            "ALTER TABLE events ADD COLUMN trace_id TEXT",
            "ALTER TABLE events ADD COLUMN local_day TEXT",
            "ALTER TABLE events ADD COLUMN details TEXT",
            "ALTER TABLE stuck_points ADD COLUMN notes {count} NOT NULL DEFAULT 0",
            """CREATE TABLE stuck_point_details (
                fingerprint TEXT NOT NULL,
                detail TEXT NOT NULL,
                count {count} NOT NULL,
                PRIMARY KEY (fingerprint, detail)
            ){without_rowid}""",
            """CREATE TABLE stuck_point_traces (
                fingerprint TEXT NOT NULL,
                trace_id TEXT NOT NULL,
                first_seen {ts} NOT NULL,
                PRIMARY KEY (fingerprint, trace_id)
            ){without_rowid}""",
            """CREATE INDEX stuck_point_traces_recent
                ON stuck_point_traces (fingerprint, first_seen DESC, trace_id)""",
            """CREATE TABLE stuck_point_days (
                fingerprint TEXT NOT NULL,
                day TEXT NOT NULL,
                count {count} NOT NULL,
                citizen_minutes {real} NOT NULL,
                clerk_minutes {real} NOT NULL,
                PRIMARY KEY (fingerprint, day)
            ){without_rowid}""",
            """CREATE TABLE case_friction (
                case_id TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                step TEXT,
                count {count} NOT NULL,
                citizen_minutes {real} NOT NULL,
                clerk_minutes {real} NOT NULL,
                PRIMARY KEY (case_id, fingerprint)
            ){without_rowid}""",
            "ALTER TABLE cases ADD COLUMN working_days INTEGER",
            "ALTER TABLE cases ADD COLUMN clerk_minutes {real} NOT NULL DEFAULT 0",
            "CREATE INDEX cases_opened ON cases (opened_at)",
            "CREATE INDEX cases_bundle_opened ON cases (bundle, opened_at)",
            """CREATE TABLE case_steps (
                case_id TEXT NOT NULL,
                step TEXT NOT NULL,
                ordinal INTEGER NOT NULL,
                status TEXT NOT NULL,
                started_at {ts},
                finished_at {ts},
                working_days INTEGER,
                rounds INTEGER NOT NULL,
                fields_total INTEGER NOT NULL,
                fields_prefilled INTEGER NOT NULL,
                PRIMARY KEY (case_id, step)
            ){without_rowid}""",
            """CREATE TABLE backlog_items (
                fingerprint TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                owner TEXT,
                fix_deployed_at {ts},
                fix_description TEXT,
                verified_at {ts},
                updated_at {ts},
                verdict TEXT
            )""",
            """CREATE TABLE backlog_transitions (
                fingerprint TEXT NOT NULL,
                seq INTEGER NOT NULL,
                from_status TEXT NOT NULL,
                to_status TEXT NOT NULL,
                actor TEXT NOT NULL,
                at {ts} NOT NULL,
                reason TEXT NOT NULL,
                PRIMARY KEY (fingerprint, seq)
            ){without_rowid}""",
            """CREATE TABLE cant_get_it_done (
                case_id TEXT PRIMARY KEY,
                bundle TEXT NOT NULL,
                step TEXT,
                centre TEXT NOT NULL,
                department TEXT NOT NULL,
                cause TEXT NOT NULL,
                registered_at {ts} NOT NULL,
                deadline TEXT NOT NULL,
                resolved_at {ts},
                resolution TEXT,
                explanation TEXT
            )""",
            "CREATE INDEX cant_get_it_done_open ON cant_get_it_done (resolved_at, registered_at)",
            lambda cur, store: store._rekey_events(cur),
            lambda cur, store: store._rebuild(cur),
        ),
    ),
    (
        # The data bureau's dashboard: friction by the event's own kind per China-local
        # day, bundle and centre ('' where an event names none: key columns cannot be
        # NULL), filled from the events already stored; cases of one centre by index.
        3,
        (
            """CREATE TABLE kind_days (
                day TEXT NOT NULL,
                kind TEXT NOT NULL,
                bundle TEXT NOT NULL,
                centre TEXT NOT NULL,
                count {count} NOT NULL,
                citizen_minutes {real} NOT NULL,
                clerk_minutes {real} NOT NULL,
                PRIMARY KEY (day, kind, bundle, centre)
            ){without_rowid}""",
            _KIND_DAYS_FROM_EVENTS,
            "CREATE INDEX cases_centre_opened ON cases (centre, opened_at)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

EVENT_COLUMNS = (
    "event_id", "kind", "fingerprint", "bundle", "step", "subject", "case_id", "centre",
    "channel", "occurred_at", "citizen_minutes", "clerk_minutes", "known_from", "body",
    "point_kind", "trace_id", "local_day", "details",
)
_POINT_COLUMNS = """fingerprint, kind, bundle, step, subject, count, cases, first_seen, last_seen,
       citizen_minutes, clerk_minutes, burden_minutes, notes"""
_CASE_COLUMNS = """case_id, bundle, bundle_version, centre, channel, status, opened_at, closed_at,
       trips, fields_total, fields_prefilled, working_days, clerk_minutes"""
_STEP_COLUMNS = """case_id, step, ordinal, status, started_at, finished_at, working_days, rounds,
       fields_total, fields_prefilled"""
_ITEM_COLUMNS = """fingerprint, status, owner, fix_deployed_at, fix_description, verified_at,
       updated_at, verdict"""
_REGISTER_COLUMNS = """case_id, bundle, step, centre, department, cause, registered_at, deadline,
       resolved_at, resolution, explanation"""

# Written with "?" and {words}; Dialect.sql turns them into the database's own.
_STATEMENTS: dict[str, str] = {
    "insert_event": f"""
INSERT INTO events ({", ".join(EVENT_COLUMNS)})
VALUES ({", ".join("?" * len(EVENT_COLUMNS))})
ON CONFLICT (event_id) DO NOTHING""",
    # The alias makes "t.count" the stored row on both databases (PostgreSQL would find a
    # bare "count" ambiguous between the row and excluded).
    "upsert_point": """
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
    notes = t.notes + excluded.notes""",
    "insert_point_case": """
INSERT INTO stuck_point_cases (fingerprint, case_id, first_seen) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, case_id) DO NOTHING""",
    "upsert_source": """
INSERT INTO stuck_point_sources AS t (fingerprint, source, count) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, source) DO UPDATE SET count = t.count + excluded.count""",
    "upsert_detail": """
INSERT INTO stuck_point_details AS t (fingerprint, detail, count) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, detail) DO UPDATE SET count = t.count + excluded.count""",
    "insert_point_trace": """
INSERT INTO stuck_point_traces (fingerprint, trace_id, first_seen) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, trace_id) DO NOTHING""",
    "upsert_day": """
INSERT INTO stuck_point_days AS t (fingerprint, day, count, citizen_minutes, clerk_minutes)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (fingerprint, day) DO UPDATE SET
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes""",
    "upsert_kind_day": """
INSERT INTO kind_days AS t (day, kind, bundle, centre, count, citizen_minutes, clerk_minutes)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, kind, bundle, centre) DO UPDATE SET
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes""",
    "upsert_case_friction": """
INSERT INTO case_friction AS t (case_id, fingerprint, step, count, citizen_minutes,
                                clerk_minutes)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id, fingerprint) DO UPDATE SET
    count = t.count + excluded.count,
    citizen_minutes = t.citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = t.clerk_minutes + excluded.clerk_minutes""",
    "select_points": f"""
SELECT {_POINT_COLUMNS}
FROM stuck_points
ORDER BY burden_minutes DESC, count DESC, fingerprint
LIMIT ?""",
    "select_bundle_points": f"""
SELECT {_POINT_COLUMNS}
FROM stuck_points WHERE bundle = ?
ORDER BY burden_minutes DESC, count DESC, fingerprint
LIMIT ?""",
    "select_point": f"SELECT {_POINT_COLUMNS} FROM stuck_points WHERE fingerprint = ?",
    "select_traces": """
SELECT trace_id FROM stuck_point_traces WHERE fingerprint = ?
ORDER BY first_seen DESC, trace_id LIMIT ?""",
    "select_traces_lateral": """
SELECT f.fingerprint, c.trace_id
FROM unnest(CAST(? AS TEXT[])) AS f (fingerprint)
CROSS JOIN LATERAL (
    SELECT trace_id, first_seen FROM stuck_point_traces
    WHERE fingerprint = f.fingerprint
    ORDER BY first_seen DESC, trace_id LIMIT ?
) AS c
ORDER BY f.fingerprint, c.first_seen DESC, c.trace_id""",
    "select_days": """
SELECT day, count, citizen_minutes, clerk_minutes FROM stuck_point_days
WHERE fingerprint = ? ORDER BY day""",
    "select_cases": """
SELECT case_id FROM stuck_point_cases WHERE fingerprint = ?
ORDER BY first_seen DESC, case_id LIMIT ?""",
    # The same for many stuck points in one statement (PostgreSQL).
    "select_cases_lateral": """
SELECT f.fingerprint, c.case_id
FROM unnest(CAST(? AS TEXT[])) AS f (fingerprint)
CROSS JOIN LATERAL (
    SELECT case_id, first_seen FROM stuck_point_cases
    WHERE fingerprint = f.fingerprint
    ORDER BY first_seen DESC, case_id LIMIT ?
) AS c
ORDER BY f.fingerprint, c.first_seen DESC, c.case_id""",
    "select_case": "SELECT bundle, status FROM cases WHERE case_id = ?{for_update}",
    "insert_case": f"""
INSERT INTO cases ({_CASE_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id) DO NOTHING""",
    "update_case": """
UPDATE cases SET bundle = ?, bundle_version = ?, centre = ?, channel = ?, status = ?,
                 opened_at = ?, closed_at = ?, trips = ?, fields_total = ?,
                 fields_prefilled = ?, working_days = ?, clerk_minutes = ?
WHERE case_id = ?""",
    "delete_steps": "DELETE FROM case_steps WHERE case_id = ?",
    "insert_step": f"""
INSERT INTO case_steps ({_STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
    "add_case_count": """
INSERT INTO case_counts AS t (bundle, status, count) VALUES (?, ?, ?)
ON CONFLICT (bundle, status) DO UPDATE SET count = t.count + excluded.count""",
    # A clerk's note merged into another kind's stuck point still counts as a note.
    "counts_by_kind": "SELECT kind, sum(count - notes), sum(notes) FROM stuck_points GROUP BY kind",
    "case_counts": "SELECT bundle, status, count FROM case_counts WHERE count > 0",
    "kind_totals": """
SELECT kind, bundle, sum(count - notes), sum(citizen_minutes), sum(clerk_minutes)
FROM stuck_points GROUP BY kind, bundle""",
    "events_for_case": "SELECT body FROM events WHERE case_id = ? ORDER BY {order_column}",
    "page_event_bodies": """
SELECT event_id, body FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?""",
    "rekey_event": """
UPDATE events SET fingerprint = ?, subject = ?, point_kind = ?, trace_id = ?, local_day = ?,
                  details = ?
WHERE event_id = ?""",
    # Backlog: one row per item that left "new", its transitions numbered per item.
    "select_items": f"SELECT {_ITEM_COLUMNS} FROM backlog_items",
    "select_item": f"SELECT {_ITEM_COLUMNS} FROM backlog_items WHERE fingerprint = ?",
    "lock_item_status": "SELECT status FROM backlog_items WHERE fingerprint = ?{for_update}",
    "insert_item": f"""
INSERT INTO backlog_items ({_ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fingerprint) DO NOTHING""",
    "update_item": """
UPDATE backlog_items SET status = ?, owner = ?, fix_deployed_at = ?, fix_description = ?,
                         verified_at = ?, updated_at = ?, verdict = ?
WHERE fingerprint = ?""",
    "next_transition": """
SELECT coalesce(max(seq), 0) + 1 FROM backlog_transitions WHERE fingerprint = ?""",
    "insert_transition": """
INSERT INTO backlog_transitions (fingerprint, seq, from_status, to_status, actor, at, reason)
VALUES (?, ?, ?, ?, ?, ?, ?)""",
    "select_transitions": """
SELECT fingerprint, from_status, to_status, actor, at, reason FROM backlog_transitions
WHERE fingerprint = ? ORDER BY seq""",
    # The verifier's windows: closed cases of a bundle opened in [from, to), and the
    # stuck point's events among them, from the per-case rollup.
    "window_cases": """
SELECT count(*) FROM cases c
WHERE c.bundle = ? AND c.status <> 'open' AND c.opened_at >= ? AND c.opened_at < ?""",
    # stuck_point_cases is the index from a stuck point to its cases; the events themselves
    # are counted, so a clerk's note merged into the point never counts as friction.
    "window_events": """
SELECT count(*)
FROM stuck_point_cases p
JOIN cases c ON c.case_id = p.case_id
JOIN events e ON e.case_id = p.case_id AND e.fingerprint = p.fingerprint
WHERE p.fingerprint = ? AND c.bundle = ? AND c.status <> 'open' AND e.kind <> 'clerk_note'
  AND c.opened_at >= ? AND c.opened_at < ?""",
    # The can't-get-it-done register.
    "insert_register": f"""
INSERT INTO cant_get_it_done ({_REGISTER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id) DO NOTHING""",
    "select_register": f"SELECT {_REGISTER_COLUMNS} FROM cant_get_it_done WHERE case_id = ?",
    "lock_register": f"""
SELECT {_REGISTER_COLUMNS} FROM cant_get_it_done WHERE case_id = ?{{for_update}}""",
    "resolve_register": """
UPDATE cant_get_it_done SET resolved_at = ?, resolution = ?, explanation = ?
WHERE case_id = ?""",
    "all_register": f"""
SELECT {_REGISTER_COLUMNS} FROM cant_get_it_done ORDER BY registered_at, case_id""",
    "one_register": f"SELECT {_REGISTER_COLUMNS} FROM cant_get_it_done WHERE case_id = ?",
    "case_bundle": "SELECT bundle FROM cases WHERE case_id = ?",
    "open_register": f"""
SELECT {_REGISTER_COLUMNS} FROM cant_get_it_done WHERE resolved_at IS NULL
ORDER BY registered_at, case_id""",
    "open_by_cause": """
SELECT cause, count(*), min(registered_at) FROM cant_get_it_done WHERE resolved_at IS NULL
GROUP BY cause""",
    # The dashboard's drop-downs, from small tables and indexes. Centres by a loose index
    # scan: one seek per centre, however many cases each has.
    "bundles": """
SELECT bundle FROM case_counts WHERE count > 0
UNION SELECT bundle FROM stuck_points WHERE bundle IS NOT NULL
UNION SELECT bundle FROM cant_get_it_done""",
    "centres": """
WITH RECURSIVE found (centre) AS (
    SELECT min(centre) FROM cases
    UNION ALL
    SELECT (SELECT min(c.centre) FROM cases c WHERE c.centre > found.centre)
    FROM found WHERE found.centre IS NOT NULL
)
SELECT centre FROM found WHERE centre IS NOT NULL
UNION SELECT centre FROM cant_get_it_done""",
    # Pages for the OCEL export, in key order so each page is an index range.
    "page_cases": f"""
SELECT {_CASE_COLUMNS} FROM cases
WHERE case_id > ? AND opened_at >= ? AND opened_at < ? ORDER BY case_id LIMIT ?""",
    "page_events": """
SELECT event_id, body FROM events
WHERE event_id > ? AND occurred_at >= ? AND occurred_at < ? ORDER BY event_id LIMIT ?""",
}

# Reports: one statement for the cases of each group, one for their friction; both over
# the cases opened in the window, of one bundle and centre if asked ({filters}), summed
# from rollups.
_REPORT_STATEMENTS: dict[str, str] = {
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
FROM cases c
WHERE c.opened_at >= ? AND c.opened_at < ?{filters}
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
# The dashboard's reads: {filters} is " AND <column> = ?" for each filter given.
_DASHBOARD_STATEMENTS: dict[str, str] = {
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
    "case_breaches": """
SELECT p.bundle, p.step, sum(f.count), count(DISTINCT f.case_id), sum(f.citizen_minutes),
       sum(f.clerk_minutes)
FROM cases c
JOIN case_friction f ON f.case_id = c.case_id
JOIN stuck_points p ON p.fingerprint = f.fingerprint
WHERE p.kind = 'extra_wait' AND c.opened_at >= ? AND c.opened_at < ?{filters}
GROUP BY p.bundle, p.step""",
    "register_counts": """
SELECT cause, sum(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END), count(resolved_at),
       sum(CASE WHEN substr(case_id, 1, 7) = 'WALKIN-' THEN 1 ELSE 0 END)
FROM cant_get_it_done
WHERE registered_at >= ? AND registered_at < ?{filters}
GROUP BY cause""",
}

# Open-ended windows as bounds every timestamp falls within.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)

# Rollups from scratch, for a bulk load or a repair: the same numbers ingest keeps.
# Migration 2 runs these, so a rollup added by a later migration is rebuilt apart.
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
_REBUILD_KIND_DAYS: tuple[str, ...] = ("DELETE FROM kind_days", _KIND_DAYS_FROM_EVENTS)


class Dialect(msgspec.Struct, kw_only=True, frozen=True):
    """What differs between the databases; everything else is shared SQL."""

    name: str
    placeholder: str  # "?" (qmark) or "%s" (format)
    words: dict[str, str]  # substituted for {word} in MIGRATIONS and _STATEMENTS
    begin_write: str
    begin_read: str  # one snapshot for a multi-statement read
    lateral_joins: bool = False  # LATERAL and arrays: sample cases in one query
    migration_prelude: tuple[str, ...] = ()  # run first in the migration transaction
    rebuild_prelude: tuple[str, ...] = ()  # run first in rebuild_rollups' transaction

    def sql(self, text: str) -> str:
        return text.format_map(self.words).replace("?", self.placeholder)

    def insert_new(self, cur: Cursor, sql: str, rows: Sequence[Sequence[object]]) -> list[bool]:
        """Run an INSERT ... ON CONFLICT DO NOTHING per row: whether each row was stored
        (False: its key was already there, from before or from earlier in `rows`)."""
        flags = []
        for row in rows:
            cur.execute(sql, row)
            flags.append(cur.rowcount == 1)
        return flags

    def in_transaction(self, conn: Connection) -> bool:
        raise NotImplementedError

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether a failed transaction may simply be run again."""
        return False

    def is_broken(self, conn: Connection) -> bool:
        """Whether the connection is lost and a new one is needed."""
        return False


def _ts(value: datetime) -> str:
    """Fixed-width UTC text: SQLite stores it as is and compares it correctly as text;
    PostgreSQL casts it to timestamptz."""
    if value.tzinfo is None:  # ingest refuses these; records from code are treated as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | datetime) -> datetime:
    """A stored instant back as an aware UTC datetime, whichever way it was stored."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


_json_text = msgspec.json.Encoder().encode


def _opt_ts(value: datetime | None) -> str | None:
    return None if value is None else _ts(value)


def _opt_dt(value: str | datetime | None) -> datetime | None:
    return None if value is None else _dt(value)


def _local_day(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA_TZ).date().isoformat()


def _window(since: datetime | None, until: datetime | None) -> tuple[str, str]:
    return _ts(since or _EARLIEST), _ts(until or _LATEST)


def _filters(
    given: Sequence[tuple[str, object | None]], params: Sequence[object] = ()
) -> tuple[str, tuple[object, ...]]:
    """An " AND <column> = ?" per filter that is not None, and `params` with their values
    after."""
    used = [(column, value) for column, value in given if value is not None]
    return (
        "".join(f" AND {column} = ?" for column, _ in used),
        (*params, *(value for _, value in used)),
    )


def _every_case(flt: DashboardFilter) -> bool:
    """Whether a filter keeps every case: friction is then read from the stuck points
    themselves, events without a case included."""
    return flt.centre is None and flt.since is None and flt.until is None


def _day_window(since: datetime | None, until: datetime | None) -> tuple[str, str]:
    """The China-local days [since, until) touches, as [first, end) ISO dates: exact
    when the bounds are local midnights, whole days otherwise."""
    first = "0001-01-01" if since is None else _local_day(since)
    if until is None:
        return first, "9999-12-31"
    last = date.fromisoformat(_local_day(until - timedelta(microseconds=1)))
    return first, (last + timedelta(days=1)).isoformat()


class _Row(msgspec.Struct, kw_only=True, frozen=True):
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
    row: _Row
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

    def add(self, row: _Row) -> None:
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
        _local_day(event.occurred_at), _json_text(details).decode() if details else None,
    )


def _event_row(event: FrictionEvent, burden: BurdenTable, encoder: msgspec.json.Encoder) -> _Row:
    kind = kind_of(event)
    details = details_of(event)
    fp, subject, pkind, trace_id, day, details_json = _rekeyed(event, details)
    citizen, clerk = burden.burden_of(event)
    source = known_from_of(event)
    at = _ts(event.occurred_at)
    params = (
        event.event_id, kind, fp, event.bundle, event.step, subject, event.case_id,
        event.centre, event.channel, at, citizen, clerk, source, encoder.encode(event),
        pkind, trace_id, day, details_json,
    )
    return _Row(
        event_id=event.event_id, kind=kind, point_kind=pkind, fingerprint=fp,
        bundle=event.bundle, step=event.step, subject=subject, case_id=event.case_id,
        centre=event.centre, occurred_at=at, citizen=citizen, clerk=clerk, known_from=source,
        trace_id=trace_id, local_day=day, details=details, params=params,
    )


def event_params(event: FrictionEvent, burden: BurdenTable | None = None) -> tuple[object, ...]:
    """The `events` row for an event, in EVENT_COLUMNS order: for bulk loads that write
    the table directly and then call rebuild_rollups."""
    return _event_row(event, burden or default_burden_table(), msgspec.json.Encoder()).params


class SqlFrictionStore:
    """FrictionStore over a DB-API connection; see the module docstring."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        dialect: Dialect,
        burden: BurdenTable | None = None,
    ) -> None:
        self._connect = connect
        self._dialect = dialect
        self._burden = burden or default_burden_table()
        self._sql = {name: dialect.sql(text) for name, text in _STATEMENTS.items()}
        # One connection per store, used under a lock: a connection runs one transaction
        # at a time, and the store is called from several threads via asyncio.to_thread.
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(FrictionEvent)
        self._closed = False
        self._conn = connect()
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self, begin: str, work: Callable[[Cursor], T]) -> T:
        """Run `work` in one transaction, again if the database asks for a retry; anything
        raised inside rolls all of it back. The caller holds the lock."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self._dialect.is_broken(self._conn):
                # A database restart or failover: the next call gets a fresh connection.
                self._conn.close()
                self._conn = self._connect()
            conn = self._conn
            cur = conn.cursor()
            try:
                cur.execute(begin)
                result = work(cur)
                cur.execute("COMMIT")
                return result
            except BaseException as exc:
                self._rollback(conn)
                # Safe to run again even if a lost connection hid a successful commit: the
                # events come back as duplicates, a case record is rewritten as it is.
                again = self._dialect.is_retryable(exc) or self._dialect.is_broken(conn)
                if attempt < MAX_ATTEMPTS and isinstance(exc, Exception) and again:
                    continue
                raise
            finally:
                cur.close()
        raise AssertionError("unreachable")

    def _rollback(self, conn: Connection) -> None:
        if self._dialect.is_broken(conn) or not self._dialect.in_transaction(conn):
            return
        # If even the rollback fails, the error that got us here is the one to raise.
        with contextlib.suppress(Exception):
            conn.cursor().execute("ROLLBACK")

    def _write(self, work: Callable[[Cursor], T]) -> T:
        with self._lock:
            return self._transaction(self._dialect.begin_write, work)

    def _read(self, work: Callable[[Cursor], T]) -> T:
        with self._lock:
            return self._transaction(self._dialect.begin_read, work)

    def _migrate(self) -> None:
        def migrate(cur: Cursor) -> None:
            for statement in self._dialect.migration_prelude:
                cur.execute(statement)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            (current,) = cur.fetchone()
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"friction store schema version {current} is newer than this code "
                    f"understands ({SCHEMA_VERSION}); upgrade onething"
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for step in statements:
                        if callable(step):
                            step(cur, self)
                        else:
                            cur.execute(self._dialect.sql(step))
                    cur.execute(
                        self._dialect.sql("INSERT INTO schema_version (version) VALUES (?)"),
                        (version,),
                    )

        self._write(migrate)

    # -- writes ------------------------------------------------------------------------

    def ingest(self, events: Sequence[FrictionEvent]) -> IngestResult:
        rows = [_event_row(e, self._burden, self._encoder) for e in events]
        if not rows:
            return IngestResult(stored=(), duplicates=())

        def write(cur: Cursor) -> IngestResult:
            # Batch order, not sorted: events_for_case reads them back in stored order.
            flags = self._dialect.insert_new(
                cur, self._sql["insert_event"], [row.params for row in rows]
            )
            new = [row for row, is_new in zip(rows, flags, strict=True) if is_new]
            self._roll_up(cur, new)
            return IngestResult(
                stored=tuple(r.event_id for r, is_new in zip(rows, flags, strict=True) if is_new),
                duplicates=tuple(
                    r.event_id for r, is_new in zip(rows, flags, strict=True) if not is_new
                ),
            )

        return self._write(write)

    def _roll_up(self, cur: Cursor, rows: list[_Row]) -> None:
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
        pairs = sorted(case_seen.items())
        flags = self._dialect.insert_new(
            cur, self._sql["insert_point_case"], [(fp, case, at) for (fp, case), at in pairs]
        )
        new_cases: Counter[str] = Counter()
        for ((fp, _), _), is_new in zip(pairs, flags, strict=True):
            new_cases[fp] += is_new
        if points:
            cur.executemany(
                self._sql["upsert_point"],
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
                self._sql["upsert_source"],
                [(fp, source, n) for (fp, source), n in sorted(sources.items())],
            )
        if details:
            cur.executemany(
                self._sql["upsert_detail"],
                [(fp, detail, n) for (fp, detail), n in sorted(details.items())],
            )
        if traces:
            cur.executemany(
                self._sql["insert_point_trace"],
                [(fp, trace, at) for (fp, trace), at in sorted(traces.items())],
            )
        if days:
            cur.executemany(
                self._sql["upsert_day"],
                [(fp, day, d.count, d.citizen, d.clerk) for (fp, day), d in sorted(days.items())],
            )
        if kind_days:
            cur.executemany(
                self._sql["upsert_kind_day"],
                [(*key, d.count, d.citizen, d.clerk) for key, d in sorted(kind_days.items())],
            )
        if per_case:
            cur.executemany(
                self._sql["upsert_case_friction"],
                [
                    (case, fp, c.step, c.count, c.citizen, c.clerk)
                    for (case, fp), c in sorted(per_case.items())
                ],
            )

    def upsert_case(self, record: CaseRecord) -> None:
        values = (
            record.bundle, record.bundle_version, record.centre, record.channel, record.status,
            _ts(record.opened_at), _opt_ts(record.closed_at), record.trips,
            record.fields_total, record.fields_prefilled, record.working_days,
            record.clerk_minutes,
        )
        steps = [
            (
                record.case_id, s.step, i, s.status, _opt_ts(s.started_at),
                _opt_ts(s.finished_at), s.working_days, s.rounds, s.fields_total,
                s.fields_prefilled,
            )
            for i, s in enumerate(record.steps)
        ]

        def write_steps(cur: Cursor) -> None:
            # The latest record's steps replace the earlier ones, like the case row.
            cur.execute(self._sql["delete_steps"], (record.case_id,))
            if steps:
                cur.executemany(self._sql["insert_step"], steps)

        def write(cur: Cursor) -> None:
            # The case row is locked (FOR UPDATE, or SQLite's write lock) from the read of
            # its old status to the update, so two records for one case cannot both move
            # the counts from the same old status.
            cur.execute(self._sql["select_case"], (record.case_id,))
            old = cur.fetchone()
            if old is None:
                cur.execute(self._sql["insert_case"], (record.case_id, *values))
                if cur.rowcount == 1:
                    cur.execute(self._sql["add_case_count"], (record.bundle, record.status, 1))
                    write_steps(cur)
                    return
                # Another writer inserted it meanwhile; it is committed and ours to lock now.
                cur.execute(self._sql["select_case"], (record.case_id,))
                old = cur.fetchone()
            if old[1] != "open" and record.status == "open":
                # A late retry of the opening record (its first attempt timed out but
                # still ran) must not reopen a closed case.
                return
            cur.execute(self._sql["update_case"], (*values, record.case_id))
            write_steps(cur)
            deltas: Counter[tuple[str, str]] = Counter()
            deltas[(old[0], old[1])] -= 1
            deltas[(record.bundle, record.status)] += 1
            for (bundle, status), n in sorted(deltas.items()):
                if n:
                    cur.execute(self._sql["add_case_count"], (bundle, status, n))

        self._write(write)

    def rebuild_rollups(self) -> None:
        """Recompute every rollup from the stored events in one transaction: after a bulk
        load straight into `events`, or to repair rollups by hand."""

        def rebuild(cur: Cursor) -> None:
            self._rebuild(cur)
            for statement in _REBUILD_KIND_DAYS:
                cur.execute(self._dialect.sql(statement))

        self._write(rebuild)

    def _rebuild(self, cur: Cursor) -> None:
        """The stuck-point rollups of migration 2 (which runs this)."""
        for statement in (*self._dialect.rebuild_prelude, *_REBUILD):
            cur.execute(self._dialect.sql(statement))

    def _rekey_events(self, cur: Cursor) -> None:
        """Recompute every event's fingerprint and the columns the rollups read from its
        body (migration 2: re-entries moved from one stuck point per field to one per
        form), a page at a time."""
        last = ""
        while True:
            cur.execute(self._sql["page_event_bodies"], (last, PAGE))
            page = cur.fetchall()
            if not page:
                return
            cur.executemany(
                self._sql["rekey_event"],
                [
                    (*_rekeyed(event, details_of(event)), event_id)
                    for event_id, event in ((i, self._decoder.decode(b)) for i, b in page)
                ],
            )
            last = page[-1][0]

    # -- reads -------------------------------------------------------------------------

    def stuck_points(self, *, bundle: str | None = None, limit: int = 50) -> list[StuckPoint]:
        if limit <= 0:  # LIMIT -1 would mean "all" to SQLite
            return []

        # One read transaction: rollups, sources, details and samples from one snapshot.
        def read(cur: Cursor) -> list[StuckPoint]:
            if bundle:
                cur.execute(self._sql["select_bundle_points"], (bundle, limit))
            else:
                cur.execute(self._sql["select_points"], (limit,))
            return self._points(cur, cur.fetchall())

        return self._read(read)

    def stuck_point(self, fingerprint: str) -> StuckPoint | None:
        def read(cur: Cursor) -> list[StuckPoint]:
            cur.execute(self._sql["select_point"], (fingerprint,))
            return self._points(cur, cur.fetchall())

        found = self._read(read)
        return found[0] if found else None

    def _points(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> list[StuckPoint]:
        fps = [r[0] for r in rows]
        known = self._counts(cur, "stuck_point_sources", "source", fps)
        details = self._counts(cur, "stuck_point_details", "detail", fps)
        samples = self._recent(cur, "cases", fps, MAX_SAMPLE_CASES)
        traces = self._recent(cur, "traces", fps, MAX_SAMPLE_TRACES)
        return [
            StuckPoint(
                fingerprint=fp, kind=kind, bundle=b, step=step, subject=subject,
                count=int(count), cases=int(cases), first_seen=_dt(first),
                last_seen=_dt(last), citizen_minutes=citizen, clerk_minutes=clerk,
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
                self._dialect.sql(
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
        """The most recent cases (or traces) of each stuck point, each read as a few index
        entries however many it has: in one LATERAL join where the database has them (one
        round trip to a server), else one query per stuck point (in-process for SQLite)."""
        found: dict[str, list[str]] = {fp: [] for fp in fps}
        if not fps:
            return {}
        if self._dialect.lateral_joins:
            cur.execute(self._sql[f"select_{what}_lateral"], (fps, limit))
            for fp, value in cur.fetchall():
                found[fp].append(value)
        else:
            for fp in fps:
                cur.execute(self._sql[f"select_{what}"], (fp, limit))
                found[fp] = [value for (value,) in cur.fetchall()]
        return {fp: tuple(values) for fp, values in found.items()}

    def trend(self, fingerprint: str, granularity: Granularity = "day") -> list[TrendPoint]:
        if granularity not in ("day", "week"):
            raise ValueError(f"granularity: day or week, not {granularity!r}")
        rows = self._fetch("select_days", (fingerprint,))
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

    def _fetch(self, name: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._query(self._sql[name], params)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        def read(cur: Cursor) -> list[tuple[Any, ...]]:
            cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows

        return self._read(read)

    def counts_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(FRICTION_KINDS, 0)
        for kind, n, notes in self._fetch("counts_by_kind"):
            counts[kind] = counts.get(kind, 0) + int(n)  # PostgreSQL sums bigints as numeric
            counts["clerk_note"] += int(notes)
        return counts

    def case_counts(self) -> dict[tuple[str, str], int]:
        return {(bundle, status): int(n) for bundle, status, n in self._fetch("case_counts")}

    def kind_totals(self) -> list[KindTotal]:
        return [
            KindTotal(kind=kind, bundle=bundle, events=int(n),
                      citizen_minutes=float(citizen), clerk_minutes=float(clerk))
            for kind, bundle, n, citizen, clerk in self._fetch("kind_totals")
        ]

    def events_for_case(self, case_id: str) -> list[FrictionEvent]:
        return [
            self._decoder.decode(body) for (body,) in self._fetch("events_for_case", (case_id,))
        ]

    # -- reports -----------------------------------------------------------------------

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
        filters, params = _filters(
            (("c.bundle", bundle), ("c.centre", centre)), _window(since, until)
        )

        def sql(name: str, group: str = "") -> str:
            text = _REPORT_STATEMENTS[name].replace("{group}", group)
            return self._dialect.sql(text.replace("{filters}", filters))

        def read(cur: Cursor) -> tuple[list[tuple[Any, ...]], dict[str, tuple[float, float]]]:
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

        rows, friction = self._read(read)
        sums = []
        for row in rows:
            if group_by == "step":
                (group, cases, done, one_trip, wd_sum, wd_n, total, prefilled, trips,
                 closed, not_eligible, withdrawn) = row
                clerk: float | None = None  # handling time is recorded per case only
            else:
                (group, cases, done, one_trip, wd_sum, wd_n, clerk_sum, total, prefilled,
                 trips, closed, not_eligible, withdrawn) = row
                clerk = float(clerk_sum)
            citizen_f, clerk_f = friction.get(group, (0.0, 0.0))
            sums.append(
                ReportSums(
                    group=group, cases=int(cases), completed=int(done),
                    one_trip=int(one_trip), working_days_sum=int(wd_sum),
                    working_days_count=int(wd_n), clerk_minutes=clerk,
                    friction_citizen_minutes=float(citizen_f),
                    friction_clerk_minutes=float(clerk_f),
                    fields_total=int(total), fields_prefilled=int(prefilled),
                    trips=int(trips), closed=int(closed), not_eligible=int(not_eligible),
                    withdrawn=int(withdrawn),
                )
            )
        return sorted(sums, key=lambda s: s.group)

    # -- the backlog ---------------------------------------------------------------------

    def _item(self, row: tuple[Any, ...]) -> BacklogItem:
        fp, status, owner, deployed, description, verified, updated, verdict = row
        return BacklogItem(
            fingerprint=fp, status=status, owner=owner, fix_deployed_at=_opt_dt(deployed),
            fix_description=description, verified_at=_opt_dt(verified),
            updated_at=_opt_dt(updated),
            verdict=None if verdict is None else msgspec.json.decode(verdict, type=Verdict),
        )

    def backlog_items(self) -> dict[str, BacklogItem]:
        return {row[0]: self._item(row) for row in self._fetch("select_items")}

    def backlog_item(self, fingerprint: str) -> BacklogItem | None:
        rows = self._fetch("select_item", (fingerprint,))
        return self._item(rows[0]) if rows else None

    def save_backlog(
        self, item: BacklogItem, transition: Transition | None, expected_status: Status
    ) -> None:
        fp = item.fingerprint
        values = (
            item.status, item.owner, _opt_ts(item.fix_deployed_at), item.fix_description,
            _opt_ts(item.verified_at), _opt_ts(item.updated_at),
            None if item.verdict is None else msgspec.json.encode(item.verdict).decode(),
        )

        def conflict(stored: str) -> ConflictError:
            return ConflictError(
                f"the item is {stored} now, not {expected_status}; read it again"
            )

        def write(cur: Cursor) -> None:
            # The item's row is locked from the status check to the write (FOR UPDATE, or
            # SQLite's write lock), so two writers cannot both move it from one status.
            cur.execute(self._sql["lock_item_status"], (fp,))
            row = cur.fetchone()
            if row is None:
                if expected_status != "new":
                    raise conflict("new")
                cur.execute(self._sql["insert_item"], (fp, *values))
                if cur.rowcount != 1:  # created meanwhile by another writer
                    raise conflict("changed")
            elif row[0] != expected_status:
                raise conflict(row[0])
            else:
                cur.execute(self._sql["update_item"], (*values, fp))
            if transition is not None:
                cur.execute(self._sql["next_transition"], (fp,))
                (seq,) = cur.fetchone()
                cur.execute(
                    self._sql["insert_transition"],
                    (fp, int(seq), transition.from_status, transition.to_status,
                     transition.actor, _ts(transition.at), transition.reason),
                )

        self._write(write)

    def transitions(self, fingerprint: str) -> list[Transition]:
        return [
            Transition(fingerprint=fp, from_status=old, to_status=new, actor=actor,
                       at=_dt(at), reason=reason)
            for fp, old, new, actor, at, reason in self._fetch(
                "select_transitions", (fingerprint,)
            )
        ]

    def rate_window(
        self,
        fingerprint: str,
        bundle: str,
        opened_from: datetime | None,
        opened_to: datetime | None,
    ) -> RateWindow:
        start, end = _window(opened_from, opened_to)

        def read(cur: Cursor) -> RateWindow:
            cur.execute(self._sql["window_events"], (fingerprint, bundle, start, end))
            (events,) = cur.fetchone()
            cur.execute(self._sql["window_cases"], (bundle, start, end))
            (cases,) = cur.fetchone()
            return RateWindow(events=int(events), cases=int(cases))

        return self._read(read)

    # -- the can't-get-it-done register --------------------------------------------------

    @staticmethod
    def _registered(row: tuple[Any, ...]) -> CantGetItDoneRecord:
        (case_id, bundle, step, centre, department, cause, registered, deadline, resolved,
         resolution, explanation) = row
        return CantGetItDoneRecord(
            case_id=case_id, bundle=bundle, step=step, centre=centre, department=department,
            cause=cause, registered_at=_dt(registered),
            deadline=deadline if isinstance(deadline, date) else date.fromisoformat(deadline),
            resolved_at=_opt_dt(resolved), resolution=resolution, explanation=explanation,
            walk_in=is_walk_in(case_id),
        )

    def register_cant_get_it_done(
        self, record: CantGetItDoneRecord
    ) -> tuple[CantGetItDoneRecord, bool]:
        check_cause(record.cause)  # an applicant's own failure is never registered

        def write(cur: Cursor) -> tuple[CantGetItDoneRecord, bool]:
            cur.execute(
                self._sql["insert_register"],
                (
                    record.case_id, record.bundle, record.step, record.centre,
                    record.department, record.cause, _ts(record.registered_at),
                    record.deadline.isoformat(), _opt_ts(record.resolved_at),
                    record.resolution, record.explanation,
                ),
            )
            if cur.rowcount == 1:
                return record, True
            cur.execute(self._sql["select_register"], (record.case_id,))
            return self._registered(cur.fetchone()), False

        return self._write(write)

    def resolve_cant_get_it_done(
        self, case_id: str, resolution: str, explanation: str, at: datetime
    ) -> CantGetItDoneRecord:
        def write(cur: Cursor) -> CantGetItDoneRecord:
            cur.execute(self._sql["lock_register"], (case_id,))
            row = cur.fetchone()
            if row is None:
                raise KeyError(case_id)
            record = self._registered(row)
            if record.resolved_at is not None:
                raise ConflictError(f"case {case_id} was answered already ({record.resolution})")
            cur.execute(self._sql["resolve_register"], (_ts(at), resolution, explanation, case_id))
            return msgspec.structs.replace(
                record, resolved_at=_dt(_ts(at)), resolution=resolution, explanation=explanation,
            )

        return self._write(write)

    def cant_get_it_done_cases(self, open_only: bool = False) -> list[CantGetItDoneRecord]:
        rows = self._fetch("open_register" if open_only else "all_register")
        return [self._registered(row) for row in rows]

    def cant_get_it_done_case(self, case_id: str) -> CantGetItDoneRecord | None:
        rows = self._fetch("one_register", (case_id,))
        return self._registered(rows[0]) if rows else None

    def case_bundle(self, case_id: str) -> str | None:
        rows = self._fetch("case_bundle", (case_id,))
        return str(rows[0][0]) if rows else None

    def open_cant_get_it_done(self) -> list[OpenCantGetItDone]:
        return [
            OpenCantGetItDone(cause=cause, count=int(n), oldest_registered_at=_dt(oldest))
            for cause, n, oldest in self._fetch("open_by_cause")
        ]

    # -- the dashboard ---------------------------------------------------------------------

    def _dashboard_sql(
        self,
        name: str,
        given: Sequence[tuple[str, object | None]],
        head: Sequence[object] = (),
        tail: Sequence[object] = (),
    ) -> tuple[str, tuple[object, ...]]:
        filters, params = _filters(given, head)
        text = _DASHBOARD_STATEMENTS[name].replace("{filters}", filters)
        return self._dialect.sql(text), (*params, *tail)

    def kind_days(self, flt: DashboardFilter) -> list[KindDay]:
        sql, params = self._dashboard_sql(
            "kind_days", (("bundle", flt.bundle), ("centre", flt.centre)),
            _day_window(flt.since, flt.until),
        )
        return [
            KindDay(day=date.fromisoformat(day), kind=kind, events=int(n),
                    citizen_minutes=float(citizen), clerk_minutes=float(clerk))
            for day, kind, n, citizen, clerk in self._query(sql, params)
        ]

    def point_sums(self, flt: DashboardFilter, limit: int = 10) -> list[PointSums]:
        if limit <= 0:  # LIMIT -1 would mean "all" to SQLite
            return []
        if _every_case(flt):
            # Every event of each stuck point, caseless ones too: the rollup as it is.
            rows = (
                self._fetch("select_points", (limit,)) if flt.bundle is None
                else self._fetch("select_bundle_points", (flt.bundle, limit))
            )
            rows = [(*row[:7], *row[9:11]) for row in rows]
        else:
            sql, params = self._dashboard_sql(
                "case_points", (("p.bundle", flt.bundle), ("c.centre", flt.centre)),
                _window(flt.since, flt.until), (limit,),
            )
            rows = self._query(sql, params)
        return [
            PointSums(fingerprint=fp, kind=kind, bundle=b, step=step, subject=subject,
                      events=int(n), cases=int(cases), citizen_minutes=float(citizen),
                      clerk_minutes=float(clerk))
            for fp, kind, b, step, subject, n, cases, citizen, clerk in rows
        ]

    def sla_breaches(self, flt: DashboardFilter) -> list[BreachSums]:
        if _every_case(flt):
            by_bundle = (("p.bundle", flt.bundle),)

            def read(cur: Cursor) -> list[tuple[Any, ...]]:
                cur.execute(*self._dashboard_sql("breaches", by_bundle))
                sums = cur.fetchall()
                cur.execute(*self._dashboard_sql("breach_cases", by_bundle))
                cases = {(b, step): n for b, step, n in cur.fetchall()}
                return [(b, step, n, cases.get((b, step), 0), citizen, clerk)
                        for b, step, n, citizen, clerk in sums]

            rows = self._read(read)
        else:
            rows = self._query(*self._dashboard_sql(
                "case_breaches", (("p.bundle", flt.bundle), ("c.centre", flt.centre)),
                _window(flt.since, flt.until),
            ))
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
            _window(flt.since, flt.until),
        )
        return [
            CantGetItDoneByCause(cause=cause, open=int(n_open), answered=int(answered),
                                 walk_ins=int(walk_ins))
            for cause, n_open, answered, walk_ins in self._query(sql, params)
        ]

    def bundles_and_centres(self) -> tuple[list[str], list[str]]:
        def read(cur: Cursor) -> tuple[list[str], list[str]]:
            cur.execute(self._sql["bundles"])
            bundles = sorted(b for (b,) in cur.fetchall())
            cur.execute(self._sql["centres"])
            return bundles, sorted(c for (c,) in cur.fetchall())

        return self._read(read)

    # -- the event log, a page per read transaction (no lock held between pages) --------

    def iter_cases(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[CaseRecord]:
        start, end = _window(since, until)
        last = ""
        while True:
            page = self._read(functools.partial(self._case_page, after=last, start=start, end=end))
            yield from page
            if len(page) < PAGE:
                return
            last = page[-1].case_id

    def _case_page(self, cur: Cursor, after: str, start: str, end: str) -> list[CaseRecord]:
        cur.execute(self._sql["page_cases"], (after, start, end, PAGE))
        rows = cur.fetchall()
        steps: dict[str, list[StepRecord]] = {row[0]: [] for row in rows}
        if rows:
            cur.execute(
                self._dialect.sql(
                    f"SELECT {_STEP_COLUMNS} FROM case_steps"
                    f" WHERE case_id IN ({','.join('?' * len(rows))}) ORDER BY case_id, ordinal"
                ),
                [row[0] for row in rows],
            )
            for (case_id, step, _, status, started, finished, wdays, rounds, total,
                 prefilled) in cur.fetchall():
                steps[case_id].append(
                    StepRecord(
                        step=step, status=status, started_at=_opt_dt(started),
                        finished_at=_opt_dt(finished), working_days=wdays, rounds=rounds,
                        fields_total=total, fields_prefilled=prefilled,
                    )
                )
        return [
            CaseRecord(
                case_id=case_id, bundle=bundle, bundle_version=version, centre=centre,
                channel=channel, status=status, opened_at=_dt(opened),
                closed_at=_opt_dt(closed), trips=trips, fields_total=total,
                fields_prefilled=prefilled, working_days=wdays, clerk_minutes=float(clerk),
                steps=tuple(steps[case_id]),
            )
            for (case_id, bundle, version, centre, channel, status, opened, closed, trips,
                 total, prefilled, wdays, clerk) in rows
        ]

    def iter_events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[FrictionEvent]:
        start, end = _window(since, until)
        last = ""
        while True:
            rows = self._fetch("page_events", (last, start, end, PAGE))
            for _, body in rows:
                yield self._decoder.decode(body)
            if len(rows) < PAGE:
                return
            last = rows[-1][0]
