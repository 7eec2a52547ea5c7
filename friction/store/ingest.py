"""Writes that come in from the cases: friction events (with their rollups, in the same
transaction) and case records (with the counts by bundle and status)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.burden import BurdenTable
from friction.store import case_rollups
from friction.store.engine import Cursor, Engine, opt_ts, ts
from friction.store.rollups import (
    EVENT_COLUMNS,
    EventRow,
    Rollups,
    aggregate,
    event_row,
    rebuild_kind_days,
    rebuild_stuck_points,
    roll_up,
)
from kernel.events import CaseRecord, FrictionEvent

__all__ = ["IngestResult", "IngestSql", "IngestStore"]

_INSERT_EVENT = f"""
INSERT INTO events ({", ".join(EVENT_COLUMNS)})
VALUES ({", ".join("?" * len(EVENT_COLUMNS))})
ON CONFLICT (event_id) DO NOTHING"""
# PostgreSQL: the batch as one array per column, one statement; RETURNING names the events
# stored (not skipped as already there), so nothing is read back.
_EVENT_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "timestamptz",
    "float8", "float8", "text", "bytea", "text", "text", "text", "text",
)
_INSERT_EVENT_ARRAYS = f"""
INSERT INTO events ({", ".join(EVENT_COLUMNS)})
SELECT * FROM unnest({", ".join(f"%b::{t}[]" for t in _EVENT_TYPES)})
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id"""
_CASE_COLUMNS = """case_id, bundle, bundle_version, centre, channel, status, opened_at, closed_at,
       trips, fields_total, fields_prefilled, working_days, clerk_minutes"""
_STEP_COLUMNS = """case_id, step, ordinal, status, started_at, finished_at, working_days, rounds,
       fields_total, fields_prefilled"""
_SELECT_CASE = "SELECT bundle, status FROM cases WHERE case_id = ?{for_update}"
_INSERT_CASE = f"""
INSERT INTO cases ({_CASE_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id) DO NOTHING"""
_UPDATE_CASE = """
UPDATE cases SET bundle = ?, bundle_version = ?, centre = ?, channel = ?, status = ?,
                 opened_at = ?, closed_at = ?, trips = ?, fields_total = ?,
                 fields_prefilled = ?, working_days = ?, clerk_minutes = ?
WHERE case_id = ?"""
_DELETE_STEPS = "DELETE FROM case_steps WHERE case_id = ?"
_INSERT_STEP = f"""
INSERT INTO case_steps ({_STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_CLOSE_ENDED_CASE = "UPDATE cases SET status = 'failed', closed_at = ? WHERE case_id = ?"
_FAIL_OPEN_STEPS = """
UPDATE case_steps SET status = 'failed', finished_at = ?
WHERE case_id = ? AND finished_at IS NULL"""
_ADD_CASE_COUNT = """
INSERT INTO case_counts AS t (bundle, status, count) VALUES (?, ?, ?)
ON CONFLICT (bundle, status) DO UPDATE SET count = t.count + excluded.count"""


class IngestResult(msgspec.Struct, kw_only=True, frozen=True):
    stored: tuple[str, ...]  # event ids newly stored, in batch order
    duplicates: tuple[str, ...]  # event ids already stored (or repeated within the batch)


@runtime_checkable
class IngestStore(Protocol):
    """What producers need: the workflows' activities, the HTTP ingest, friction.ingest."""

    def ingest(self, events: Sequence[FrictionEvent]) -> IngestResult:
        """Store events not stored before; events must have passed friction.ingest's checks.
        A batch is all-or-nothing, and the rollups change in its transaction, only for
        the events stored now."""
        ...

    def upsert_case(self, record: CaseRecord) -> None:
        """Record a case; a later record for the same case id replaces the earlier."""
        ...

    def close_ended_case(self, case_id: str, closed_at: datetime) -> bool:
        """A case whose workflow ended without recording its end (terminated, timed out,
        crashed): an open record becomes failed, with its unfinished steps. True if it
        changed; a closed or unknown case stays as it is."""
        ...


def _first_stored(rows: Sequence[EventRow], stored: set[str]) -> list[bool]:
    """Whether each row was stored, given the ids an insert returned: of an id repeated in
    the batch, the first."""
    flags = []
    for row in rows:
        flags.append(row.event_id in stored)
        stored.discard(row.event_id)
    return flags


class IngestSql:
    """IngestStore in SQL, and the rollups' rebuild for bulk loads."""

    _engine: Engine
    _burden: BurdenTable
    _encoder: msgspec.json.Encoder

    def ingest(self, events: Sequence[FrictionEvent]) -> IngestResult:
        rows = [event_row(e, self._burden, self._encoder) for e in events]
        if not rows:
            return IngestResult(stored=(), duplicates=())
        engine = self._engine

        def write(cur: Cursor) -> IngestResult:
            # The batch's cases leave the case rollups before their events are stored
            # (a repeat_trip changes a case's trips) and come back after.
            with case_rollups.changing(cur, engine, [row.case_id for row in rows]):
                # Batch order, not sorted: events_for_case reads them back in stored order.
                if engine.dialect.array_params:
                    cur.execute(
                        engine.sql(_INSERT_EVENT_ARRAYS),
                        [list(column)
                         for column in zip(*(row.params for row in rows), strict=True)],
                    )
                    # The pipeline has sent the insert: while the server runs it, the
                    # rollups as if every event were new, as they are but in a resent batch.
                    assumed: Rollups | None = aggregate(rows)
                    flags = _first_stored(rows, {event_id for (event_id,) in cur.fetchall()})
                else:
                    flags = engine.dialect.insert_new(
                        cur, engine.sql(_INSERT_EVENT), [row.params for row in rows]
                    )
                    assumed = None
                new = [row for row, is_new in zip(rows, flags, strict=True) if is_new]
                if assumed is None or len(new) < len(rows):
                    assumed = aggregate(new)
                roll_up(cur, engine, assumed)
            return IngestResult(
                stored=tuple(r.event_id for r in new),
                duplicates=tuple(
                    r.event_id for r, is_new in zip(rows, flags, strict=True) if not is_new
                ),
            )

        # PostgreSQL: BEGIN and the events' insert in one round trip, the rollups and
        # COMMIT in another.
        return engine.write(write, pipeline=True)

    def upsert_case(self, record: CaseRecord) -> None:
        sql = self._engine.sql
        values = (
            record.bundle, record.bundle_version, record.centre, record.channel, record.status,
            ts(record.opened_at), opt_ts(record.closed_at), record.trips,
            record.fields_total, record.fields_prefilled, record.working_days,
            record.clerk_minutes,
        )
        steps = [
            (
                record.case_id, s.step, i, s.status, opt_ts(s.started_at),
                opt_ts(s.finished_at), s.working_days, s.rounds, s.fields_total,
                s.fields_prefilled,
            )
            for i, s in enumerate(record.steps)
        ]

        def write_steps(cur: Cursor) -> None:
            # The latest record's steps replace the earlier ones, like the case row.
            cur.execute(sql(_DELETE_STEPS), (record.case_id,))
            if steps:
                cur.executemany(sql(_INSERT_STEP), steps)

        def write(cur: Cursor) -> None:
            with case_rollups.changing(cur, self._engine, [record.case_id]):
                replace(cur)

        def replace(cur: Cursor) -> None:
            # The case row is locked (FOR UPDATE, or SQLite's write lock) from the read of
            # its old status to the update, so two records for one case cannot both move
            # the counts from the same old status.
            cur.execute(sql(_SELECT_CASE), (record.case_id,))
            old = cur.fetchone()
            if old is None:
                cur.execute(sql(_INSERT_CASE), (record.case_id, *values))
                if cur.rowcount == 1:
                    cur.execute(sql(_ADD_CASE_COUNT), (record.bundle, record.status, 1))
                    write_steps(cur)
                    return
                # Another writer inserted it meanwhile; it is committed and ours to lock now.
                cur.execute(sql(_SELECT_CASE), (record.case_id,))
                old = cur.fetchone()
            if old[1] != "open" and record.status == "open":
                # A late retry of the opening record (its first attempt timed out but
                # still ran) must not reopen a closed case.
                return
            cur.execute(sql(_UPDATE_CASE), (*values, record.case_id))
            write_steps(cur)
            deltas: Counter[tuple[str, str]] = Counter()
            deltas[(old[0], old[1])] -= 1
            deltas[(record.bundle, record.status)] += 1
            for (bundle, status), n in sorted(deltas.items()):
                if n:
                    cur.execute(sql(_ADD_CASE_COUNT), (bundle, status, n))

        self._engine.write(write)

    def close_ended_case(self, case_id: str, closed_at: datetime) -> bool:
        sql = self._engine.sql

        def write(cur: Cursor) -> bool:
            case_rollups.lock(cur, self._engine, [case_id])  # before the case is read
            cur.execute(sql(_SELECT_CASE), (case_id,))
            old = cur.fetchone()
            if old is None or old[1] != "open":
                return False
            with case_rollups.changing(cur, self._engine, [case_id]):
                cur.execute(sql(_CLOSE_ENDED_CASE), (ts(closed_at), case_id))
                cur.execute(sql(_FAIL_OPEN_STEPS), (ts(closed_at), case_id))
            cur.execute(sql(_ADD_CASE_COUNT), (old[0], "open", -1))
            cur.execute(sql(_ADD_CASE_COUNT), (old[0], "failed", 1))
            return True

        return self._engine.write(write)

    def rebuild_rollups(self) -> None:
        """Recompute every rollup from the stored events in one transaction: after a bulk
        load straight into `events`, or to repair rollups by hand."""
        dialect = self._engine.dialect

        def rebuild(cur: Cursor) -> None:
            rebuild_stuck_points(cur, dialect)
            rebuild_kind_days(cur, dialect)
            case_rollups.rebuild_case_rollups(cur, dialect)

        self._engine.write(rebuild)
