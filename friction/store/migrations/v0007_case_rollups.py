"""Version 7, case-level rollups (friction.store.case_rollups): the reports' and the
dashboard's sums per China-local opening day, centre and bundle (case_days), per step
(step_days), per stuck point (point_days), the cases that met an SLA breach at a step
(breach_days; breach_cases over every case, recorded or not), filled from the cases and
friction already stored. Key columns cannot be NULL: '' where a stuck point names no
bundle or step. Released: never edited; a change is a new version."""

from __future__ import annotations

from friction.store.case_rollups import rebuild_case_rollups
from friction.store.migrations.steps import Step

_CASE_SUMS = """cases {count} NOT NULL,
        completed {count} NOT NULL,
        one_trip {count} NOT NULL,
        wd_sum {count} NOT NULL,
        wd_n {count} NOT NULL,
        fields_total {count} NOT NULL,
        fields_prefilled {count} NOT NULL,
        trips {count} NOT NULL,
        closed {count} NOT NULL,
        not_eligible {count} NOT NULL,
        withdrawn {count} NOT NULL,
        friction_citizen {real} NOT NULL,
        friction_clerk {real} NOT NULL"""

STEPS: tuple[Step, ...] = (
    f"""CREATE TABLE case_days (
        day TEXT NOT NULL,
        centre TEXT NOT NULL,
        bundle TEXT NOT NULL,
        clerk_minutes {{real}} NOT NULL,
        {_CASE_SUMS},
        PRIMARY KEY (day, centre, bundle)
    ){{without_rowid}}""",
    f"""CREATE TABLE step_days (
        day TEXT NOT NULL,
        centre TEXT NOT NULL,
        bundle TEXT NOT NULL,
        step TEXT NOT NULL,
        {_CASE_SUMS},
        PRIMARY KEY (day, centre, bundle, step)
    ){{without_rowid}}""",
    """CREATE TABLE point_days (
        day TEXT NOT NULL,
        centre TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        count {count} NOT NULL,
        cases {count} NOT NULL,
        citizen_minutes {real} NOT NULL,
        clerk_minutes {real} NOT NULL,
        PRIMARY KEY (day, centre, fingerprint)
    ){without_rowid}""",
    "CREATE INDEX point_days_centre ON point_days (centre, day)",
    """CREATE TABLE breach_days (
        day TEXT NOT NULL,
        centre TEXT NOT NULL,
        bundle TEXT NOT NULL,
        step TEXT NOT NULL,
        cases {count} NOT NULL,
        PRIMARY KEY (day, centre, bundle, step)
    ){without_rowid}""",
    """CREATE TABLE breach_cases (
        bundle TEXT NOT NULL,
        step TEXT NOT NULL,
        cases {count} NOT NULL,
        PRIMARY KEY (bundle, step)
    ){without_rowid}""",
    rebuild_case_rollups,
)
