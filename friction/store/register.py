"""The can't-get-it-done register: one row per case, answered once, under a row lock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.register import CantGetItDoneRecord, check_cause, is_walk_in
from friction.store.engine import ConflictError, Cursor, Engine, Row, dt, opt_dt, opt_ts, ts

__all__ = ["OpenCantGetItDone", "RegisterSql", "RegisterStore"]

_COLUMNS = """case_id, bundle, step, centre, department, cause, registered_at, deadline,
       resolved_at, resolution, explanation"""
_INSERT = f"""
INSERT INTO cant_get_it_done ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id) DO NOTHING"""
_SELECT_ONE = f"SELECT {_COLUMNS} FROM cant_get_it_done WHERE case_id = ?"
_LOCK = f"SELECT {_COLUMNS} FROM cant_get_it_done WHERE case_id = ?{{for_update}}"
_RESOLVE = """
UPDATE cant_get_it_done SET resolved_at = ?, resolution = ?, explanation = ?
WHERE case_id = ?"""
_SELECT_ALL = f"SELECT {_COLUMNS} FROM cant_get_it_done ORDER BY registered_at, case_id"
_SELECT_OPEN = f"""
SELECT {_COLUMNS} FROM cant_get_it_done WHERE resolved_at IS NULL
ORDER BY registered_at, case_id"""
_OPEN_BY_CAUSE = """
SELECT cause, count(*), min(registered_at) FROM cant_get_it_done WHERE resolved_at IS NULL
GROUP BY cause"""
_CASE_BUNDLE = "SELECT bundle FROM cases WHERE case_id = ?"


class OpenCantGetItDone(msgspec.Struct, kw_only=True, frozen=True):
    """Open can't-get-it-done cases of one cause, for the metrics."""

    cause: str
    count: int
    oldest_registered_at: datetime


@runtime_checkable
class RegisterStore(Protocol):
    """What the register's desk, console and activities need."""

    def register_cant_get_it_done(
        self, record: CantGetItDoneRecord
    ) -> tuple[CantGetItDoneRecord, bool]:
        """Register a case (the stored record and True), or the record already registered
        for it and False. A cause outside the register's rules raises RegisterError."""
        ...

    def resolve_cant_get_it_done(
        self, case_id: str, resolution: str, explanation: str, at: datetime
    ) -> CantGetItDoneRecord:
        """Record the answer; KeyError if the case is not registered, ConflictError if it
        was answered already."""
        ...

    def cant_get_it_done_cases(self, open_only: bool = False) -> list[CantGetItDoneRecord]:
        """Registered cases, oldest first."""
        ...

    def cant_get_it_done_case(self, case_id: str) -> CantGetItDoneRecord | None:
        """One registered case, or None."""
        ...

    def case_bundle(self, case_id: str) -> str | None:
        """The bundle of a case the notebook knows (its case record), or None."""
        ...

    def open_cant_get_it_done(self) -> list[OpenCantGetItDone]:
        """Open cases per cause with the oldest registration."""
        ...


def _registered(row: Row) -> CantGetItDoneRecord:
    (case_id, bundle, step, centre, department, cause, registered, deadline, resolved,
     resolution, explanation) = row
    return CantGetItDoneRecord(
        case_id=case_id, bundle=bundle, step=step, centre=centre, department=department,
        cause=cause, registered_at=dt(registered),
        deadline=deadline if isinstance(deadline, date) else date.fromisoformat(deadline),
        resolved_at=opt_dt(resolved), resolution=resolution, explanation=explanation,
        walk_in=is_walk_in(case_id),
    )


class RegisterSql:
    """RegisterStore in SQL."""

    _engine: Engine

    def register_cant_get_it_done(
        self, record: CantGetItDoneRecord
    ) -> tuple[CantGetItDoneRecord, bool]:
        check_cause(record.cause)  # an applicant's own failure is never registered
        sql = self._engine.sql

        def write(cur: Cursor) -> tuple[CantGetItDoneRecord, bool]:
            cur.execute(
                sql(_INSERT),
                (
                    record.case_id, record.bundle, record.step, record.centre,
                    record.department, record.cause, ts(record.registered_at),
                    record.deadline.isoformat(), opt_ts(record.resolved_at),
                    record.resolution, record.explanation,
                ),
            )
            if cur.rowcount == 1:
                return record, True
            cur.execute(sql(_SELECT_ONE), (record.case_id,))
            return _registered(cur.fetchone()), False

        return self._engine.write(write)

    def resolve_cant_get_it_done(
        self, case_id: str, resolution: str, explanation: str, at: datetime
    ) -> CantGetItDoneRecord:
        sql = self._engine.sql

        def write(cur: Cursor) -> CantGetItDoneRecord:
            cur.execute(sql(_LOCK), (case_id,))
            row = cur.fetchone()
            if row is None:
                raise KeyError(case_id)
            record = _registered(row)
            if record.resolved_at is not None:
                raise ConflictError(f"case {case_id} was answered already ({record.resolution})")
            cur.execute(sql(_RESOLVE), (ts(at), resolution, explanation, case_id))
            return msgspec.structs.replace(
                record, resolved_at=dt(ts(at)), resolution=resolution, explanation=explanation,
            )

        return self._engine.write(write)

    def cant_get_it_done_cases(self, open_only: bool = False) -> list[CantGetItDoneRecord]:
        rows = self._engine.fetch(_SELECT_OPEN if open_only else _SELECT_ALL)
        return [_registered(row) for row in rows]

    def cant_get_it_done_case(self, case_id: str) -> CantGetItDoneRecord | None:
        rows = self._engine.fetch(_SELECT_ONE, (case_id,))
        return _registered(rows[0]) if rows else None

    def case_bundle(self, case_id: str) -> str | None:
        rows = self._engine.fetch(_CASE_BUNDLE, (case_id,))
        return str(rows[0][0]) if rows else None

    def open_cant_get_it_done(self) -> list[OpenCantGetItDone]:
        return [
            OpenCantGetItDone(cause=cause, count=int(n), oldest_registered_at=dt(oldest))
            for cause, n, oldest in self._engine.fetch(_OPEN_BY_CAUSE)
        ]
