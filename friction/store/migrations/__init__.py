"""The friction store's schema, one file per version: vNNNN_<what>.py holds STEPS, the
statements (and Python steps) that take a database from version NNNN-1 to NNNN.

Append-only: a released version is never edited, a change is a new file, so a schema
change is reviewed as the diff that adds it. Each version's steps run in one transaction
together with its row in schema_version, the table the store has always kept: a
database made by any earlier release (whose migrations were inline in sql_store) carries
the same version numbers and is upgraded from where it stands.

Why not Alembic: it works through SQLAlchemy, which the store does not use (it speaks
DB-API to sqlite3 and psycopg, with its own dialect table and pipelined ingest), keeps its
own alembic_version table (every existing database would need stamping) and its
revisions as a graph; the friction store needs a line of versions, both dialects from one
text, and a runner small enough to read, which is what follows.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from friction.store.engine import Cursor, Dialect, Engine
from friction.store.migrations.steps import Step

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "Step", "migrate"]

Migration = tuple[int, tuple[Step, ...]]  # (version, its steps)

_FILE = re.compile(r"v(\d{4})_[a-z0-9_]+")


def _load() -> tuple[Migration, ...]:
    """Every vNNNN_*.py here, in version order; the versions must run 1, 2, 3... with no
    gap, so a missing or doubled file fails at import rather than on a customer's DB."""
    found: list[Migration] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        match = _FILE.fullmatch(info.name)
        if match is None:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        steps: tuple[Step, ...] = module.STEPS
        found.append((int(match[1]), steps))
    versions = [version for version, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"friction store migrations must be numbered 1..n: {versions}")
    return tuple(found)


MIGRATIONS = _load()
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(engine: Engine) -> int:
    """Bring the database to SCHEMA_VERSION, in one write transaction (on PostgreSQL
    under an advisory lock, so processes starting together migrate once); the version it
    had before (0: a new database)."""
    # Read at call time, not bound at import: a test makes an older database by
    # narrowing MIGRATIONS and SCHEMA_VERSION for one store.
    migrations, latest = MIGRATIONS, SCHEMA_VERSION
    dialect = engine.dialect
    found: list[int] = []

    def run(cur: Cursor) -> None:
        for statement in dialect.migration_prelude:
            cur.execute(statement)
        cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        (current,) = cur.fetchone()
        found[:] = [int(current)]
        if current > latest:
            raise RuntimeError(
                f"friction store schema version {current} is newer than this code "
                f"understands ({latest}); upgrade onething"
            )
        for version, steps in migrations:
            if version > current:
                _apply(cur, dialect, steps)
                cur.execute(
                    dialect.sql("INSERT INTO schema_version (version) VALUES (?)"), (version,)
                )

    engine.write(run)
    return found[0]


def _apply(cur: Cursor, dialect: Dialect, steps: tuple[Step, ...]) -> None:
    for step in steps:
        if callable(step):
            step(cur, dialect)
        else:
            cur.execute(dialect.sql(step))
