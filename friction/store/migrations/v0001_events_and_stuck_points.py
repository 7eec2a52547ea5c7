"""Version 1: the events, their stuck points with cases and sources, case records and
their counts by bundle and status. Released: never edited; a change is a new version."""

from __future__ import annotations

from friction.store.migrations.steps import Step

STEPS: tuple[Step, ...] = (
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
)
