"""Version 6, staff accounts: one row per account (username, display name, roles, the
centres a clerk works at, whether they may serve elsewhere, language, scrypt password
hash, active), so every gateway of a cluster reads the same accounts. Roles and centres
are comma-joined (neither may hold a comma). A display name is a staff member's, never a
resident's. Released: never edited; a change is a new version."""

from __future__ import annotations

from friction.store.migrations.steps import Step

STEPS: tuple[Step, ...] = (
    """CREATE TABLE accounts (
        username TEXT NOT NULL PRIMARY KEY,
        display_name TEXT NOT NULL,
        roles TEXT NOT NULL,
        centres TEXT NOT NULL,
        serves_elsewhere INTEGER NOT NULL,
        lang TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL
    ){without_rowid}""",
)
