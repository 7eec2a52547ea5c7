"""The friction store for a city or a province: PostgreSQL, shared by many workers and
gateways. The SQL and the rollup logic are in friction.store, shared with SQLite.

Writes run at READ COMMITTED with no table locks: an INSERT ... ON CONFLICT waits for a
concurrent transaction holding the same key, so an event is stored once and a counter is
always added to, never overwritten. Each batch goes to the server in one pipeline. A
deadlock or serialization failure (possible only when two batches share event ids in a
different order) runs the batch again; a lost connection is replaced on the next call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import psycopg
from psycopg import errors, pq

from friction.burden import BurdenTable
from friction.store.engine import Connection, Cursor, Dialect
from friction.store.sql import SqlFrictionStore

__all__ = ["PostgresDialect", "PostgresFrictionStore", "postgres_dialect"]

# Plain lower-case identifiers only: the name is spliced into DDL and SET search_path.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# pg_advisory_xact_lock key that serializes migrations across processes ("onething").
_MIGRATION_LOCK = 0x6F6E657468696E67
_CASE_LOCK_CLASS = 0x6F6E6563  # the case locks' first key ("onec")


class PostgresDialect(Dialect, kw_only=True, frozen=True):
    def insert_new(self, cur: Cursor, sql: str, rows: Sequence[Sequence[object]]) -> list[bool]:
        # One pipelined round trip for the whole batch instead of one per row; RETURNING
        # tells which rows were stored rather than skipped as conflicts.
        if not rows:
            return []
        cur.executemany(sql + " RETURNING 1", rows, returning=True)
        flags = []
        while True:
            flags.append(cur.fetchone() is not None)
            if not cur.nextset():
                break
        return flags

    def in_transaction(self, conn: Connection) -> bool:
        return bool(conn.info.transaction_status != pq.TransactionStatus.IDLE)

    def is_retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure)

    def is_broken(self, conn: Connection) -> bool:
        return bool(conn.closed or conn.broken)


def postgres_dialect(schema: str | None = None) -> PostgresDialect:
    prelude = [f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"]
    if schema is not None:
        prelude.append(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return PostgresDialect(
        name="postgresql",
        placeholder="%s",
        words={
            "ts": "TIMESTAMPTZ",
            "real": "DOUBLE PRECISION",  # REAL would be float4 here
            "count": "BIGINT",
            "blob": "BYTEA",
            "event_seq": ",\n                seq BIGINT GENERATED ALWAYS AS IDENTITY",
            "case_order": ", seq",
            "case_tiebreak": ", case_id",  # samples read in index order, no sort
            "without_rowid": "",
            "least": "least",
            "greatest": "greatest",
            "for_update": " FOR UPDATE",
            "order_column": "seq",
            "each_detail": "LATERAL json_array_elements_text(CAST(e.details AS json)) AS d (value)",
        },
        begin_write="BEGIN",
        begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        lateral_joins=True,
        array_params=True,
        migration_prelude=tuple(prelude),
        # Writers wait while the rollups are rebuilt; readers keep reading the old ones.
        # Read committed: a write that takes a case's contribution out of the case
        # rollups must not read the case while another write to it is uncommitted, or
        # both move the counts from the same old state. Each takes the cases' locks
        # first, in one order (two-key advisory locks: apart from the migration's key).
        lock_for_rebuild="LOCK TABLE {tables} IN EXCLUSIVE MODE",
        lock_cases=(
            f"SELECT count(pg_advisory_xact_lock({_CASE_LOCK_CLASS}, k)) FROM ("
            "SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST(%s AS text[])) AS id"
            " ORDER BY k OFFSET 0) AS ordered"
        ),
        rebuild_prelude=(
            "LOCK TABLE events, stuck_points, stuck_point_cases, stuck_point_sources,"
            " stuck_point_details, stuck_point_traces, stuck_point_days, case_friction"
            " IN EXCLUSIVE MODE",
            # Grouping every event by stuck point and case: hash in memory, not on disk.
            "SET LOCAL work_mem = '256MB'",
        ),
    )


def connect(dsn: str, schema: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    """A connection as the store uses it: autocommit (transactions are explicit), UTC,
    and the schema first on the search path."""
    conn = psycopg.connect(dsn, autocommit=True)
    try:
        conn.execute("SET TIME ZONE 'UTC'")
        if schema is not None:
            conn.execute(f'SET search_path TO "{schema}"')
    except BaseException:
        conn.close()
        raise
    return conn


class PostgresFrictionStore(SqlFrictionStore):
    """FrictionStore on a PostgreSQL database, in `schema` (created if missing) or in the
    connection's default search path."""

    def __init__(
        self, dsn: str, burden: BurdenTable | None = None, *, schema: str | None = None
    ) -> None:
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must be a lower-case SQL identifier, not {schema!r}")
        self.dsn = dsn
        self.schema = schema
        super().__init__(lambda: connect(dsn, schema), postgres_dialect(schema), burden)
