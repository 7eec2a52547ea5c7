"""The backlog's items and transitions, and the verifier's rate windows.

Items are a small table changed under row locks: save_backlog checks the status its
caller read and writes the item with its transition in one transaction (optimistic
concurrency), so two people, or a person and the verifier, cannot both move one item
from the same status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.backlog import BacklogItem, Status, Transition
from friction.store.engine import ConflictError, Cursor, Engine, Row, dt, opt_dt, opt_ts, ts, window
from friction.verification import RateWindow, Verdict

__all__ = ["BacklogSql", "BacklogStore"]

_ITEM_COLUMNS = """fingerprint, status, owner, fix_deployed_at, fix_description, verified_at,
       updated_at, verdict"""
# One row per item that left "new", its transitions numbered per item.
_SELECT_ITEMS = f"SELECT {_ITEM_COLUMNS} FROM backlog_items"
_SELECT_ITEM = f"SELECT {_ITEM_COLUMNS} FROM backlog_items WHERE fingerprint = ?"
_LOCK_ITEM_STATUS = "SELECT status FROM backlog_items WHERE fingerprint = ?{for_update}"
_INSERT_ITEM = f"""
INSERT INTO backlog_items ({_ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fingerprint) DO NOTHING"""
_UPDATE_ITEM = """
UPDATE backlog_items SET status = ?, owner = ?, fix_deployed_at = ?, fix_description = ?,
                         verified_at = ?, updated_at = ?, verdict = ?
WHERE fingerprint = ?"""
_NEXT_TRANSITION = """
SELECT coalesce(max(seq), 0) + 1 FROM backlog_transitions WHERE fingerprint = ?"""
_INSERT_TRANSITION = """
INSERT INTO backlog_transitions (fingerprint, seq, from_status, to_status, actor, at, reason)
VALUES (?, ?, ?, ?, ?, ?, ?)"""
_SELECT_TRANSITIONS = """
SELECT fingerprint, from_status, to_status, actor, at, reason FROM backlog_transitions
WHERE fingerprint = ? ORDER BY seq"""
# The verifier's windows: closed cases of a bundle opened in [from, to), and the stuck
# point's events among them. stuck_point_cases is the index from a stuck point to its
# cases; the events themselves are counted, so a clerk's note merged into the point never
# counts as friction.
_WINDOW_CASES = """
SELECT count(*) FROM cases c
WHERE c.bundle = ? AND c.status <> 'open' AND c.opened_at >= ? AND c.opened_at < ?"""
_WINDOW_EVENTS = """
SELECT count(*)
FROM stuck_point_cases p
JOIN cases c ON c.case_id = p.case_id
JOIN events e ON e.case_id = p.case_id AND e.fingerprint = p.fingerprint
WHERE p.fingerprint = ? AND c.bundle = ? AND c.status <> 'open' AND e.kind <> 'clerk_note'
  AND c.opened_at >= ? AND c.opened_at < ?"""


@runtime_checkable
class BacklogStore(Protocol):
    """What the backlog's lifecycle and its verifier need."""

    def backlog_items(self) -> dict[str, BacklogItem]:
        """Every stored backlog item by fingerprint; a stuck point without one is "new"."""
        ...

    def backlog_item(self, fingerprint: str) -> BacklogItem | None: ...

    def save_backlog(
        self, item: BacklogItem, transition: Transition | None, expected_status: Status
    ) -> None:
        """Store the item (and its transition) if its stored status, "new" when absent, is
        still expected_status; otherwise raise ConflictError and change nothing."""
        ...

    def transitions(self, fingerprint: str) -> list[Transition]:
        """An item's transitions, oldest first."""
        ...

    def rate_window(
        self,
        fingerprint: str,
        bundle: str,
        opened_from: datetime | None,
        opened_to: datetime | None,
    ) -> RateWindow:
        """Events of a stuck point, and the number, of the closed cases of `bundle` opened in
        [opened_from, opened_to) (None: unbounded)."""
        ...


def _item(row: Row) -> BacklogItem:
    fp, status, owner, deployed, description, verified, updated, verdict = row
    return BacklogItem(
        fingerprint=fp, status=status, owner=owner, fix_deployed_at=opt_dt(deployed),
        fix_description=description, verified_at=opt_dt(verified),
        updated_at=opt_dt(updated),
        verdict=None if verdict is None else msgspec.json.decode(verdict, type=Verdict),
    )


class BacklogSql:
    """BacklogStore in SQL."""

    _engine: Engine

    def backlog_items(self) -> dict[str, BacklogItem]:
        return {row[0]: _item(row) for row in self._engine.fetch(_SELECT_ITEMS)}

    def backlog_item(self, fingerprint: str) -> BacklogItem | None:
        rows = self._engine.fetch(_SELECT_ITEM, (fingerprint,))
        return _item(rows[0]) if rows else None

    def save_backlog(
        self, item: BacklogItem, transition: Transition | None, expected_status: Status
    ) -> None:
        sql = self._engine.sql
        fp = item.fingerprint
        values = (
            item.status, item.owner, opt_ts(item.fix_deployed_at), item.fix_description,
            opt_ts(item.verified_at), opt_ts(item.updated_at),
            None if item.verdict is None else msgspec.json.encode(item.verdict).decode(),
        )

        def conflict(stored: str) -> ConflictError:
            return ConflictError(
                f"the item is {stored} now, not {expected_status}; read it again"
            )

        def write(cur: Cursor) -> None:
            # The item's row is locked from the status check to the write (FOR UPDATE, or
            # SQLite's write lock), so two writers cannot both move it from one status.
            cur.execute(sql(_LOCK_ITEM_STATUS), (fp,))
            row = cur.fetchone()
            if row is None:
                if expected_status != "new":
                    raise conflict("new")
                cur.execute(sql(_INSERT_ITEM), (fp, *values))
                if cur.rowcount != 1:  # created meanwhile by another writer
                    raise conflict("changed")
            elif row[0] != expected_status:
                raise conflict(row[0])
            else:
                cur.execute(sql(_UPDATE_ITEM), (*values, fp))
            if transition is not None:
                cur.execute(sql(_NEXT_TRANSITION), (fp,))
                (seq,) = cur.fetchone()
                cur.execute(
                    sql(_INSERT_TRANSITION),
                    (fp, int(seq), transition.from_status, transition.to_status,
                     transition.actor, ts(transition.at), transition.reason),
                )

        self._engine.write(write)

    def transitions(self, fingerprint: str) -> list[Transition]:
        return [
            Transition(fingerprint=fp, from_status=old, to_status=new, actor=actor,
                       at=dt(at), reason=reason)
            for fp, old, new, actor, at, reason in self._engine.fetch(
                _SELECT_TRANSITIONS, (fingerprint,)
            )
        ]

    def rate_window(
        self,
        fingerprint: str,
        bundle: str,
        opened_from: datetime | None,
        opened_to: datetime | None,
    ) -> RateWindow:
        start, end = window(opened_from, opened_to)
        sql = self._engine.sql

        def read(cur: Cursor) -> RateWindow:
            cur.execute(sql(_WINDOW_EVENTS), (fingerprint, bundle, start, end))
            (events,) = cur.fetchone()
            cur.execute(sql(_WINDOW_CASES), (bundle, start, end))
            (cases,) = cur.fetchone()
            return RateWindow(events=int(events), cases=int(cases))

        return self._engine.read(read)
