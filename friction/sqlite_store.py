"""The embedded friction store: one SQLite file shared by the worker and the gateway.

Both processes write (events from workflows, events over HTTP, case records) and read
(backlog, metrics), so the file runs in WAL mode - readers never block the writer - with
a busy timeout, and every write takes the write lock up front (BEGIN IMMEDIATE) so two
writers queue instead of failing on a lock upgrade.

Stuck points are kept as rollups written in the same transaction as the events they
count, and only for events stored for the first time: reading the backlog costs the
number of stuck points, not the number of events, and a retried batch changes nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from friction.burden import BurdenTable, default_burden_table
from friction.events import (
    FRICTION_KINDS,
    CaseRecord,
    FrictionEvent,
    fingerprint,
    subject_of,
)
from friction.store import IngestResult
from friction.stuck_points import (
    MAX_SAMPLE_CASES,
    StuckPoint,
    known_from_of,
    remedy_for,
)

BUSY_TIMEOUT_MS = 10_000

# Append-only: a released version is never edited, a change is a new version. Each
# version's statements run in one transaction together with its schema_version row.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
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
                occurred_at TEXT NOT NULL,
                citizen_minutes REAL NOT NULL,
                clerk_minutes REAL NOT NULL,
                known_from TEXT,
                body BLOB NOT NULL
            )""",
            "CREATE INDEX events_case ON events (case_id)",
            """CREATE TABLE stuck_points (
                fingerprint TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                bundle TEXT,
                step TEXT,
                subject TEXT NOT NULL,
                count INTEGER NOT NULL,
                cases INTEGER NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                citizen_minutes REAL NOT NULL,
                clerk_minutes REAL NOT NULL,
                burden_minutes REAL NOT NULL
            )""",
            "CREATE INDEX stuck_points_rank ON stuck_points (burden_minutes DESC)",
            "CREATE INDEX stuck_points_bundle_rank ON stuck_points (bundle, burden_minutes DESC)",
            """CREATE TABLE stuck_point_cases (
                fingerprint TEXT NOT NULL,
                case_id TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                PRIMARY KEY (fingerprint, case_id)
            ) WITHOUT ROWID""",
            """CREATE INDEX stuck_point_cases_recent
                ON stuck_point_cases (fingerprint, first_seen DESC)""",
            """CREATE TABLE stuck_point_sources (
                fingerprint TEXT NOT NULL,
                source TEXT NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (fingerprint, source)
            ) WITHOUT ROWID""",
            """CREATE TABLE cases (
                case_id TEXT PRIMARY KEY,
                bundle TEXT NOT NULL,
                bundle_version INTEGER NOT NULL,
                centre TEXT NOT NULL,
                channel TEXT NOT NULL,
                status TEXT NOT NULL,
                opened_at TEXT NOT NULL,
                closed_at TEXT,
                trips INTEGER NOT NULL,
                fields_total INTEGER NOT NULL,
                fields_prefilled INTEGER NOT NULL
            )""",
            """CREATE TABLE case_counts (
                bundle TEXT NOT NULL,
                status TEXT NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (bundle, status)
            ) WITHOUT ROWID""",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_INSERT_EVENT = """
INSERT INTO events (event_id, kind, fingerprint, bundle, step, subject, case_id, centre,
                    channel, occurred_at, citizen_minutes, clerk_minutes, known_from, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING
"""
_UPSERT_POINT = """
INSERT INTO stuck_points (fingerprint, kind, bundle, step, subject, count, cases, first_seen,
                          last_seen, citizen_minutes, clerk_minutes, burden_minutes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fingerprint) DO UPDATE SET
    count = count + excluded.count,
    cases = cases + excluded.cases,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen),
    citizen_minutes = citizen_minutes + excluded.citizen_minutes,
    clerk_minutes = clerk_minutes + excluded.clerk_minutes,
    burden_minutes = burden_minutes + excluded.burden_minutes
"""
_INSERT_POINT_CASE = """
INSERT INTO stuck_point_cases (fingerprint, case_id, first_seen) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, case_id) DO NOTHING
"""
_UPSERT_SOURCE = """
INSERT INTO stuck_point_sources (fingerprint, source, count) VALUES (?, ?, ?)
ON CONFLICT (fingerprint, source) DO UPDATE SET count = count + excluded.count
"""
_SELECT_POINTS = """
SELECT fingerprint, kind, bundle, step, subject, count, cases, first_seen, last_seen,
       citizen_minutes, clerk_minutes, burden_minutes
FROM stuck_points {where}
ORDER BY burden_minutes DESC, count DESC, fingerprint
LIMIT ?
"""
_UPSERT_CASE = """
INSERT INTO cases (case_id, bundle, bundle_version, centre, channel, status, opened_at,
                   closed_at, trips, fields_total, fields_prefilled)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id) DO UPDATE SET
    bundle = excluded.bundle,
    bundle_version = excluded.bundle_version,
    centre = excluded.centre,
    channel = excluded.channel,
    status = excluded.status,
    opened_at = excluded.opened_at,
    closed_at = excluded.closed_at,
    trips = excluded.trips,
    fields_total = excluded.fields_total,
    fields_prefilled = excluded.fields_prefilled
"""
_ADD_CASE_COUNT = """
INSERT INTO case_counts (bundle, status, count) VALUES (?, ?, ?)
ON CONFLICT (bundle, status) DO UPDATE SET count = count + excluded.count
"""


def _ts(value: datetime) -> str:
    """Fixed-width UTC text, so SQL min/max and ORDER BY compare instants correctly."""
    if value.tzinfo is None:  # ingest refuses these; records from code are treated as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class _Row(msgspec.Struct, kw_only=True, frozen=True):
    """An event with everything the insert and the rollups need, computed before the
    write lock is taken."""

    event_id: str
    kind: str
    fingerprint: str
    bundle: str | None
    step: str | None
    subject: str
    case_id: str | None
    occurred_at: str
    citizen: float
    clerk: float
    known_from: str | None
    params: tuple[object, ...]


class _Point(msgspec.Struct, kw_only=True):
    row: _Row
    count: int = 0
    first: str
    last: str
    citizen: float = 0.0
    clerk: float = 0.0


class SqliteFrictionStore:
    """FrictionStore on one SQLite file (or ":memory:")."""

    def __init__(self, path: Path | str, burden: BurdenTable | None = None) -> None:
        self._burden = burden or default_burden_table()
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        # One connection per store, used under a lock: sqlite3 connections are not safe to
        # share across threads without one, and the store is called via asyncio.to_thread.
        self._conn = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,
        )
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(FrictionEvent)
        self._closed = False
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # FULL: an event acknowledged to a workflow is never resent, so a commit must
            # survive power loss, not just a process crash.
            self._conn.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> SqliteFrictionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, mode: Literal["IMMEDIATE", "DEFERRED"]) -> Iterator[sqlite3.Connection]:
        """One transaction; anything raised inside rolls all of it back."""
        conn = self._conn
        conn.execute(f"BEGIN {mode}")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        with self._transaction("IMMEDIATE") as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            (current,) = conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_version"
            ).fetchone()
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"friction store schema version {current} is newer than this code "
                    f"understands ({SCHEMA_VERSION}); upgrade onething"
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    # -- writes ------------------------------------------------------------------------

    def _row(self, event: FrictionEvent) -> _Row:
        kind = str(type(event).__struct_config__.tag)
        fp = fingerprint(event)
        subject = subject_of(event)
        citizen, clerk = self._burden.burden_of(event)
        source = known_from_of(event)
        at = _ts(event.occurred_at)
        params = (
            event.event_id, kind, fp, event.bundle, event.step, subject, event.case_id,
            event.centre, event.channel, at, citizen, clerk, source, self._encoder.encode(event),
        )
        return _Row(
            event_id=event.event_id, kind=kind, fingerprint=fp, bundle=event.bundle,
            step=event.step, subject=subject, case_id=event.case_id, occurred_at=at,
            citizen=citizen, clerk=clerk, known_from=source, params=params,
        )

    def ingest(self, events: Sequence[FrictionEvent]) -> IngestResult:
        rows = [self._row(e) for e in events]
        if not rows:
            return IngestResult(stored=(), duplicates=())
        stored: list[str] = []
        duplicates: list[str] = []
        with self._lock, self._transaction("IMMEDIATE") as conn:
            new: list[_Row] = []
            for row in rows:
                if conn.execute(_INSERT_EVENT, row.params).rowcount == 1:
                    stored.append(row.event_id)
                    new.append(row)
                else:
                    duplicates.append(row.event_id)
            self._roll_up(conn, new)
        return IngestResult(stored=tuple(stored), duplicates=tuple(duplicates))

    def _roll_up(self, conn: sqlite3.Connection, rows: list[_Row]) -> None:
        """Add newly stored events to the rollups, one statement per stuck point, case and
        source rather than per event."""
        points: dict[str, _Point] = {}
        case_seen: dict[tuple[str, str], str] = {}
        sources: Counter[tuple[str, str]] = Counter()
        for row in rows:
            p = points.get(row.fingerprint)
            if p is None:
                p = points[row.fingerprint] = _Point(
                    row=row, first=row.occurred_at, last=row.occurred_at
                )
            p.count += 1
            p.citizen += row.citizen
            p.clerk += row.clerk
            p.first = min(p.first, row.occurred_at)
            p.last = max(p.last, row.occurred_at)
            if row.case_id is not None:
                key = (row.fingerprint, row.case_id)
                case_seen[key] = min(case_seen.get(key, row.occurred_at), row.occurred_at)
            if row.known_from is not None:
                sources[(row.fingerprint, row.known_from)] += 1
        new_cases: Counter[str] = Counter()
        for (fp, case_id), at in case_seen.items():
            if conn.execute(_INSERT_POINT_CASE, (fp, case_id, at)).rowcount == 1:
                new_cases[fp] += 1
        conn.executemany(
            _UPSERT_POINT,
            [
                (
                    fp, p.row.kind, p.row.bundle, p.row.step, p.row.subject, p.count,
                    new_cases[fp], p.first, p.last, p.citizen, p.clerk, p.citizen + p.clerk,
                )
                for fp, p in points.items()
            ],
        )
        conn.executemany(
            _UPSERT_SOURCE, [(fp, source, n) for (fp, source), n in sources.items()]
        )

    def upsert_case(self, record: CaseRecord) -> None:
        params = (
            record.case_id, record.bundle, record.bundle_version, record.centre,
            record.channel, record.status, _ts(record.opened_at),
            None if record.closed_at is None else _ts(record.closed_at),
            record.trips, record.fields_total, record.fields_prefilled,
        )
        with self._lock, self._transaction("IMMEDIATE") as conn:
            old = conn.execute(
                "SELECT bundle, status FROM cases WHERE case_id = ?", (record.case_id,)
            ).fetchone()
            if old is not None and old[1] != "open" and record.status == "open":
                # A late retry of the opening record (its first attempt timed out but
                # still ran) must not reopen a closed case.
                return
            conn.execute(_UPSERT_CASE, params)
            if old is not None:
                conn.execute(_ADD_CASE_COUNT, (old[0], old[1], -1))
            conn.execute(_ADD_CASE_COUNT, (record.bundle, record.status, 1))

    # -- reads -------------------------------------------------------------------------

    def stuck_points(self, *, bundle: str | None = None, limit: int = 50) -> list[StuckPoint]:
        if limit <= 0:  # LIMIT -1 would mean "all" to SQLite
            return []
        where, args = ("WHERE bundle = ?", (bundle, limit)) if bundle else ("", (limit,))
        # One read transaction: rollups, sources and samples from the same snapshot.
        with self._lock, self._transaction("DEFERRED") as conn:
            rows = conn.execute(_SELECT_POINTS.format(where=where), args).fetchall()
            fps = [r[0] for r in rows]
            known: dict[str, dict[str, int]] = {fp: {} for fp in fps}
            if fps:
                marks = ",".join("?" * len(fps))
                for fp, source, n in conn.execute(
                    "SELECT fingerprint, source, count FROM stuck_point_sources"
                    f" WHERE fingerprint IN ({marks}) ORDER BY count DESC, source",
                    fps,
                ):
                    known[fp][source] = n
            samples = {
                fp: tuple(
                    c
                    for (c,) in conn.execute(
                        "SELECT case_id FROM stuck_point_cases WHERE fingerprint = ?"
                        " ORDER BY first_seen DESC, case_id LIMIT ?",
                        (fp, MAX_SAMPLE_CASES),
                    )
                )
                for fp in fps
            }
        return [
            StuckPoint(
                fingerprint=fp, kind=kind, bundle=b, step=step, subject=subject, count=count,
                cases=cases, first_seen=datetime.fromisoformat(first),
                last_seen=datetime.fromisoformat(last), citizen_minutes=citizen,
                clerk_minutes=clerk, burden_minutes=burden, known_from=known[fp],
                sample_cases=samples[fp], remedy=remedy_for(kind, subject, step, known[fp]),
            )
            for (
                fp, kind, b, step, subject, count, cases, first, last, citizen, clerk, burden
            ) in rows
        ]

    def counts_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(FRICTION_KINDS, 0)
        with self._lock:
            for kind, n in self._conn.execute(
                "SELECT kind, sum(count) FROM stuck_points GROUP BY kind"
            ):
                counts[kind] = n
        return counts

    def case_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT bundle, status, count FROM case_counts WHERE count > 0"
            ).fetchall()
        return {(bundle, status): n for bundle, status, n in rows}

    def events_for_case(self, case_id: str) -> list[FrictionEvent]:
        with self._lock:
            bodies = self._conn.execute(
                "SELECT body FROM events WHERE case_id = ? ORDER BY rowid", (case_id,)
            ).fetchall()
        return [self._decoder.decode(body) for (body,) in bodies]
