"""One connection, one dialect, one transaction at a time: what every part of the SQL
store shares.

The store works over one DB-API connection (sqlite3 or psycopg) and a Dialect that holds
the few real differences: placeholder style, column types, how a write transaction starts
and what a row lock looks like, how to learn which rows an INSERT ... ON CONFLICT DO
NOTHING actually stored, and which errors mean "run the transaction again". The parts of
the store (ingest, stuck points, backlog, register, reports, export) hold their own SQL,
written with "?" and {words}, and run it through an Engine.

Several processes may write at once (WAL and BEGIN IMMEDIATE on SQLite, row locks on
PostgreSQL): the parts only ever add to counters (`count = t.count + excluded.count`),
never read-modify-write them, and lock rollup rows in sorted order so writers queue
instead of deadlocking.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import msgspec

from kernel.china_time import CHINA_TZ

__all__ = [
    "CHINA_TZ", "MAX_ATTEMPTS", "ConflictError", "Connection", "Cursor", "Dialect", "Engine",
    "day_window", "dt", "filters", "local_day", "opt_dt", "opt_ts", "ts", "window",
]

# A DB-API 2 connection or cursor (sqlite3 or psycopg); their stubs share no usable type.
Connection = Any
Cursor = Any
Row = tuple[Any, ...]
T = TypeVar("T")

# A deadlock or serialization failure is the database asking for the transaction again.
MAX_ATTEMPTS = 5


# Open-ended windows as bounds every timestamp falls within.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


class ConflictError(RuntimeError):
    """Someone else changed the record since it was read; read it again and retry."""


class Dialect(msgspec.Struct, kw_only=True, frozen=True):
    """What differs between the databases; everything else is shared SQL."""

    name: str
    placeholder: str  # "?" (qmark) or "%s" (format)
    words: dict[str, str]  # substituted for {word} in the migrations and statements
    begin_write: str
    begin_read: str  # one snapshot for a multi-statement read
    lateral_joins: bool = False  # LATERAL and arrays: sample cases in one query
    # Array parameters and unnest(): a batch's rows as one array per column in one
    # statement, where every statement is a round trip to a server.
    array_params: bool = False
    migration_prelude: tuple[str, ...] = ()  # run first in the migration transaction
    rebuild_prelude: tuple[str, ...] = ()  # run first in rebuild_rollups' transaction
    # Locks the cases a write is about to change, the ids as one parameter, until the
    # transaction ends (case_rollups.changing): "" where a write locks the whole database.
    lock_cases: str = ""
    # Holds writers of `{tables}` off until a rebuild of what they feed commits; "" where
    # the rebuild's transaction already does.
    lock_for_rebuild: str = ""
    # Around a write whose loss on a power failure (not on a crash of the process) is
    # acceptable: what to run before it and after it; () where commits cost no fsync of
    # their own worth saving.
    lax_write: tuple[str, ...] = ()
    lax_write_after: tuple[str, ...] = ()

    def sql(self, text: str) -> str:
        return text.format_map(self.words).replace("?", self.placeholder)

    def insert_new(self, cur: Cursor, sql: str, rows: Sequence[Sequence[object]]) -> list[bool]:
        """Run an INSERT ... ON CONFLICT DO NOTHING per row: whether each row was stored
        (False: its key was already there, from before or from earlier in `rows`)."""
        flags = []
        for row in rows:
            cur.execute(sql, row)
            flags.append(cur.rowcount == 1)
        return flags

    def in_transaction(self, conn: Connection) -> bool:
        raise NotImplementedError

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether a failed transaction may simply be run again."""
        return False

    def is_broken(self, conn: Connection) -> bool:
        """Whether the connection is lost and a new one is needed."""
        return False


class Engine:
    """One connection per store, used under a lock: a connection runs one transaction at
    a time, and the store is called from several threads via asyncio.to_thread."""

    def __init__(self, connect: Callable[[], Connection], dialect: Dialect) -> None:
        self._connect = connect
        self.dialect = dialect
        self._lock = threading.Lock()
        self._closed = False
        # Statement text -> the dialect's SQL. The texts are module constants, so the
        # lookup hashes a string whose hash Python has already cached.
        self._compiled: dict[str, str] = {}
        self._conn = connect()

    @property
    def connection(self) -> Connection:
        return self._conn

    def sql(self, text: str) -> str:
        """`text` ("?" placeholders, {words}) in the database's own SQL."""
        found = self._compiled.get(text)
        if found is None:
            found = self._compiled[text] = self.dialect.sql(text)
        return found

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def write(self, work: Callable[[Cursor], T], *, durable: bool = True,
              pipeline: bool = False) -> T:
        """`work` in one write transaction. `durable` False: committed (seen by every
        reader, kept if the process dies) without waiting for the disk, where the
        dialect can (SQLite's synchronous=NORMAL for this commit). With `pipeline`, on a
        database where every statement is a round trip (array_params), the statements
        are sent in as few round trips as the work's fetches allow, BEGIN with the first
        and COMMIT with the last; such work must read results only by fetching them
        (cur.rowcount is not known)."""
        pipelined = pipeline and self.dialect.array_params
        with self._lock:
            if durable or not self.dialect.lax_write:
                return self._transaction(self.dialect.begin_write, work, pipelined)
            cur = self._conn.cursor()
            try:
                for statement in self.dialect.lax_write:
                    cur.execute(statement)
                return self._transaction(self.dialect.begin_write, work, pipelined)
            finally:
                with contextlib.suppress(Exception):  # a lost connection is replaced anyway
                    for statement in self.dialect.lax_write_after:
                        self._conn.cursor().execute(statement)
                cur.close()

    def read(self, work: Callable[[Cursor], T]) -> T:
        with self._lock:
            return self._transaction(self.dialect.begin_read, work)

    def fetch(self, text: str, params: Sequence[object] = ()) -> list[Row]:
        """All rows of one statement (given as text, compiled here), in a read transaction."""
        return self.query(self.sql(text), params)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """All rows of one statement already in the database's SQL."""

        def read(cur: Cursor) -> list[Row]:
            cur.execute(sql, params)
            rows: list[Row] = cur.fetchall()
            return rows

        return self.read(read)

    def _transaction(
        self, begin: str, work: Callable[[Cursor], T], pipeline: bool = False
    ) -> T:
        """Run `work` in one transaction, again if the database asks for a retry; anything
        raised inside rolls all of it back. The caller holds the lock."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.dialect.is_broken(self._conn):
                # A database restart or failover: the next call gets a fresh connection.
                self._conn.close()
                self._conn = self._connect()
            conn = self._conn
            cur = conn.cursor()
            try:
                # psycopg's pipeline mode (a failure in it is raised at the next fetch or
                # at the end, and rolled back below like any other).
                with conn.pipeline() if pipeline else contextlib.nullcontext():
                    cur.execute(begin)
                    result = work(cur)
                    cur.execute("COMMIT")
                return result
            except BaseException as exc:
                self._rollback(conn)
                # Safe to run again even if a lost connection hid a successful commit: the
                # events come back as duplicates, a case record is rewritten as it is.
                again = self.dialect.is_retryable(exc) or self.dialect.is_broken(conn)
                if attempt < MAX_ATTEMPTS and isinstance(exc, Exception) and again:
                    continue
                raise
            finally:
                cur.close()
        raise AssertionError("unreachable")

    def _rollback(self, conn: Connection) -> None:
        if self.dialect.is_broken(conn) or not self.dialect.in_transaction(conn):
            return
        # If even the rollback fails, the error that got us here is the one to raise.
        with contextlib.suppress(Exception):
            conn.cursor().execute("ROLLBACK")


# -- values as stored -----------------------------------------------------------------------


def ts(value: datetime) -> str:
    """Fixed-width UTC text: SQLite stores it as is and compares it correctly as text;
    PostgreSQL casts it to timestamptz."""
    if value.tzinfo is None:  # ingest refuses these; records from code are treated as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def dt(value: str | datetime) -> datetime:
    """A stored instant back as an aware UTC datetime, whichever way it was stored."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def opt_ts(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


def opt_dt(value: str | datetime | None) -> datetime | None:
    return None if value is None else dt(value)


def local_day(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA_TZ).date().isoformat()


def window(since: datetime | None, until: datetime | None) -> tuple[str, str]:
    return ts(since or _EARLIEST), ts(until or _LATEST)


def day_window(since: datetime | None, until: datetime | None) -> tuple[str, str]:
    """The China-local days [since, until) touches, as [first, end) ISO dates: exact
    when the bounds are local midnights, whole days otherwise."""
    first = "0001-01-01" if since is None else local_day(since)
    if until is None:
        return first, "9999-12-31"
    last = date.fromisoformat(local_day(until - timedelta(microseconds=1)))
    return first, (last + timedelta(days=1)).isoformat()


def filters(
    given: Sequence[tuple[str, object | None]], params: Sequence[object] = ()
) -> tuple[str, tuple[object, ...]]:
    """An " AND <column> = ?" per filter that is not None, and `params` with their values
    after."""
    used = [(column, value) for column, value in given if value is not None]
    return (
        "".join(f" AND {column} = ?" for column, _ in used),
        (*params, *(value for _, value in used)),
    )
