"""Version 5, the citizens' ratings (好差评): one row per case and visit (the key refuses
a second), and a follow-up per bad review with its deadline, owner and answer. Bundle and
centre are kept on the rating so the dashboard groups without a join; a rating holds no
personal value (its text is masked before it is stored). Released: never edited; a
change is a new version."""

from __future__ import annotations

from friction.store.migrations.steps import Step

STEPS: tuple[Step, ...] = (
    """CREATE TABLE ratings (
        case_id TEXT NOT NULL,
        visit INTEGER NOT NULL,
        level TEXT NOT NULL,
        bad INTEGER NOT NULL,
        reasons TEXT NOT NULL,
        text TEXT,
        channel TEXT NOT NULL,
        bundle TEXT NOT NULL,
        centre TEXT NOT NULL,
        rated_at {ts} NOT NULL,
        PRIMARY KEY (case_id, visit)
    ){without_rowid}""",
    "CREATE INDEX ratings_rated ON ratings (rated_at)",
    """CREATE TABLE rating_follow_ups (
        case_id TEXT NOT NULL,
        visit INTEGER NOT NULL,
        level TEXT NOT NULL,
        bundle TEXT NOT NULL,
        centre TEXT NOT NULL,
        opened_at {ts} NOT NULL,
        deadline TEXT NOT NULL,
        owner TEXT NOT NULL,
        answer TEXT,
        answered_at {ts},
        answered_by TEXT,
        PRIMARY KEY (case_id, visit)
    ){without_rowid}""",
    "CREATE INDEX rating_follow_ups_centre ON rating_follow_ups (centre, opened_at)",
)
