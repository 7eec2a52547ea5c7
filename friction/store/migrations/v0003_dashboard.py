"""Version 3, the data bureau's dashboard: friction by the event's own kind per
China-local day, bundle and centre ('' where an event names none: key columns cannot be
NULL), filled from the events already stored; cases of one centre by index. Released:
never edited; a change is a new version."""

from __future__ import annotations

from friction.store.migrations.steps import Step
from friction.store.rollups import KIND_DAYS_FROM_EVENTS

STEPS: tuple[Step, ...] = (
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
    KIND_DAYS_FROM_EVENTS,
    "CREATE INDEX cases_centre_opened ON cases (centre, opened_at)",
)
