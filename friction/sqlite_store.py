"""The embedded friction store: one SQLite file shared by the worker and the gateway.

Both processes write (events from workflows, events over HTTP, case records) and read
(backlog, metrics), so the file runs in WAL mode - readers never block the writer - with
a busy timeout, and every write takes the write lock up front (BEGIN IMMEDIATE) so two
writers queue instead of failing on a lock upgrade. The SQL and the rollup logic are in
friction.store, shared with the PostgreSQL store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from friction.burden import BurdenTable
from friction.store.engine import Connection, Cursor, Dialect
from friction.store.migrations import MIGRATIONS, SCHEMA_VERSION
from friction.store.sql import SqlFrictionStore

__all__ = [
    "BUSY_TIMEOUT_MS", "MIGRATIONS", "SCHEMA_VERSION", "SQLITE", "SqliteFrictionStore", "connect",
]

BUSY_TIMEOUT_MS = 10_000


class SqliteDialect(Dialect, kw_only=True, frozen=True):
    def insert_new(self, cur: Cursor, sql: str, rows: Sequence[Sequence[object]]) -> list[bool]:
        # Usually every row is new: one executemany, whose rowcount says so. Otherwise
        # (a resent batch) the savepoint undoes it and the rows go one by one, each
        # telling whether it was stored.
        if not rows:
            return []
        cur.execute("SAVEPOINT insert_new")
        cur.executemany(sql, rows)
        if cur.rowcount == len(rows):
            cur.execute("RELEASE insert_new")
            return [True] * len(rows)
        cur.execute("ROLLBACK TO insert_new")
        cur.execute("RELEASE insert_new")
        return super().insert_new(cur, sql, rows)

    def in_transaction(self, conn: Connection) -> bool:
        return bool(conn.in_transaction)


SQLITE = SqliteDialect(
    name="sqlite",
    placeholder="?",
    words={
        "ts": "TEXT",  # fixed-width UTC ISO text: compares as instants
        "real": "REAL",
        "count": "INTEGER",  # 64-bit in SQLite
        "blob": "BLOB",
        "event_seq": "",  # the rowid is the stored order
        "case_order": "",
        "case_tiebreak": "",  # a WITHOUT ROWID index ends with the key (case_id) anyway
        "without_rowid": " WITHOUT ROWID",
        "least": "min",
        "greatest": "max",
        "for_update": "",  # BEGIN IMMEDIATE already holds the only write lock
        "order_column": "rowid",
        "each_detail": "json_each(e.details) AS d",  # a JSON array's elements as rows
    },
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN DEFERRED",
    # WAL with synchronous=NORMAL: the commit is in the log, seen by every reader and kept
    # if the process dies; only a power loss before the next fsync (the next FULL commit
    # or checkpoint) can take it. The connection goes back to FULL at once.
    lax_write=("PRAGMA synchronous = NORMAL",),
    lax_write_after=("PRAGMA synchronous = FULL",),
)


def connect(target: str) -> sqlite3.Connection:
    """A connection as the store uses it: WAL, busy timeout, explicit transactions."""
    conn = sqlite3.connect(
        target,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # transactions are explicit
        check_same_thread=False,  # used from several threads, under the store's lock
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: an event acknowledged to a workflow is never resent, so a commit must
        # survive power loss, not just a process crash.
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteFrictionStore(SqlFrictionStore):
    """FrictionStore on one SQLite file (or ":memory:")."""

    def __init__(self, path: Path | str, burden: BurdenTable | None = None) -> None:
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self.path = target
        super().__init__(lambda: connect(target), SQLITE, burden)
