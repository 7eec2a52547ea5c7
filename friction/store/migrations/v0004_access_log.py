"""Version 4, the access log: one row per read of a resident's data or change to a case
(who, roles, centre, what, which case, when, from where, the answer's status).
Append-only: the database refuses an UPDATE of a row; rows leave only by pruning past
the retention period.
Released: never edited; a change is a new version."""

from __future__ import annotations

from friction.store.engine import Cursor, Dialect
from friction.store.migrations.steps import Step

_REFUSAL = "the access log is append-only"


def refuse_updates(cur: Cursor, dialect: Dialect) -> None:
    """A trigger that makes every UPDATE of access_log fail, whoever runs it."""
    if dialect.name == "sqlite":
        cur.execute(f"""CREATE TRIGGER access_log_append_only BEFORE UPDATE ON access_log
            BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END""")
        return
    cur.execute(f"""CREATE FUNCTION access_log_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_REFUSAL}'; END $$""")
    cur.execute("""CREATE TRIGGER access_log_append_only BEFORE UPDATE ON access_log
        FOR EACH ROW EXECUTE FUNCTION access_log_append_only()""")


STEPS: tuple[Step, ...] = (
    """CREATE TABLE access_log (
        at {ts} NOT NULL,
        username TEXT NOT NULL,
        roles TEXT NOT NULL,
        centre TEXT,
        action TEXT NOT NULL,
        case_id TEXT,
        client TEXT NOT NULL,
        status INTEGER NOT NULL{event_seq}
    )""",
    "CREATE INDEX access_log_at ON access_log (at)",
    "CREATE INDEX access_log_case ON access_log (case_id, at)",
    "CREATE INDEX access_log_user ON access_log (username, at)",
    refuse_updates,
)
