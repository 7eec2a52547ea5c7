"""The access log: who read or changed which case, when and from where. Append-only:
rows are only ever inserted, and removed only by pruning those past the retention period
(an UPDATE is refused by the database itself, see migration v0004). A row names the case
by its number and the person by their account: no personal value of a resident."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, get_args, runtime_checkable

import msgspec

from friction.store.engine import Cursor, Engine, Row, dt, ts

__all__ = ["ACCESS_ACTIONS", "AccessAction", "AccessEntry", "AccessLogSql", "AccessLogStore"]

# The closed set of what is recorded: reads of a resident's data and changes to a case.
AccessAction = Literal[
    "read_case",        # a case's dossier and progress (API, console page)
    "read_notice",      # the printable one-time notice with the tracking code
    "read_history",     # a case's decoded workflow history (onething case show)
    "decode_payloads",  # the Temporal UI's remote codec: payloads decoded for an admin
    "encode_payloads",  # the remote codec sealing payloads for the Temporal UI
    "open_case",
    "submit_fields",
    "record_material",
    "record_trip",
    "record_milestone",
    "write_note",
    "close_case",       # closed as not eligible, or the citizen's withdrawal
    "serve_elsewhere",  # a clerk of another centre takes the case up (通办)
    "search",           # cases looked up by a citizen's ID number
    "read_worklist",    # the desk's list of cases with their citizens' names
]
ACCESS_ACTIONS: tuple[AccessAction, ...] = get_args(AccessAction)
MAX_ENTRIES = 1000  # a page of the log at most


class AccessEntry(msgspec.Struct, kw_only=True, frozen=True):
    at: datetime  # UTC
    username: str
    roles: tuple[str, ...]
    centre: str | None
    action: AccessAction
    case_id: str | None  # None where the request names no case (the codec's payloads)
    client: str  # the client address as the gateway trusts it, or "cli@<host>"
    status: int = 200  # the answer's HTTP status: refused attempts are recorded too


@runtime_checkable
class AccessLogStore(Protocol):
    """What the gateway's access log and the CLI need."""

    def record_access(self, entry: AccessEntry) -> None:
        """Append one entry."""
        ...

    def access_entries(
        self,
        *,
        case_id: str | None = None,
        username: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AccessEntry]:
        """Entries newest first, [since, until), at most `limit` (MAX_ENTRIES)."""
        ...

    def prune_access_log(self, before: datetime) -> int:
        """Remove the entries older than `before` (past the retention period); how many."""
        ...


_INSERT = """
INSERT INTO access_log (at, username, roles, centre, action, case_id, client, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
_SELECT = """SELECT at, username, roles, centre, action, case_id, client, status
FROM access_log"""
_PRUNE = "DELETE FROM access_log WHERE at < ?"


def _entry(row: Row) -> AccessEntry:
    at, username, roles, centre, action, case_id, client, status = row
    return AccessEntry(at=dt(at), username=username,
                       roles=tuple(r for r in str(roles).split(",") if r), centre=centre,
                       action=action, case_id=case_id, client=client, status=int(status))


class AccessLogSql:
    """AccessLogStore in SQL."""

    _engine: Engine

    def record_access(self, entry: AccessEntry) -> None:
        if entry.action not in ACCESS_ACTIONS:
            raise ValueError(f"action: one of {', '.join(ACCESS_ACTIONS)}")
        sql = self._engine.sql(_INSERT)
        row = (ts(entry.at), entry.username, ",".join(entry.roles), entry.centre,
               entry.action, entry.case_id, entry.client, entry.status)

        def write(cur: Cursor) -> None:
            cur.execute(sql, row)

        # Recorded before the answer leaves, and kept if the gateway dies; a power loss
        # may take the last moments' entries (SQLite), never an event's: one fsync per
        # clerk's click was most of a click's slowest answers.
        self._engine.write(write, durable=False)

    def access_entries(
        self,
        *,
        case_id: str | None = None,
        username: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AccessEntry]:
        where: list[str] = []
        params: list[object] = []
        for clause, value in (("case_id = ?", case_id), ("username = ?", username),
                              ("at >= ?", since and ts(since)),
                              ("at < ?", until and ts(until))):
            if value is not None:
                where.append(clause)
                params.append(value)
        text = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        text += " ORDER BY at DESC, {order_column} DESC LIMIT ?"
        params.append(max(1, min(limit, MAX_ENTRIES)))
        return [_entry(row) for row in self._engine.query(self._engine.dialect.sql(text),
                                                          params)]

    def prune_access_log(self, before: datetime) -> int:
        sql = self._engine.sql(_PRUNE)

        def write(cur: Cursor) -> int:
            cur.execute(sql, (ts(before),))
            return int(cur.rowcount)

        return self._engine.write(write)
