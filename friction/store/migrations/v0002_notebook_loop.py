"""Version 2, the notebook's loop: evidence (details, traces), daily trends, per-case
friction, case steps, the backlog with its transitions, the can't-get-it-done register.
Re-entries now group by form, so every stored event is re-keyed and the stuck-point
rollups are rebuilt from the events (Python steps: the keys come from the event bodies).
Released: never edited; a change is a new version."""

from __future__ import annotations

from friction.store.migrations.steps import Step
from friction.store.rollups import rebuild_stuck_points, rekey_events

STEPS: tuple[Step, ...] = (
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
    rekey_events,
    rebuild_stuck_points,
)
