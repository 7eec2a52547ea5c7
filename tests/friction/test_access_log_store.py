"""The access log in the store, on SQLite and PostgreSQL: appended, read newest first by
case, account and period, pruned past the retention period, never updated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from friction.sqlite_store import SqliteFrictionStore
from friction.store import AccessEntry, AccessLogStore
from friction.store.sql import SqlFrictionStore

if TYPE_CHECKING:
    from tests.friction.conftest import Backend

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def entry(minutes: int, **changes: object) -> AccessEntry:
    values: dict[str, object] = {
        "at": T0 + timedelta(minutes=minutes), "username": "clerk", "roles": ("clerk",),
        "centre": "liangxi-chongan", "action": "read_case", "case_id": "20261207-AAAA0001",
        "client": "10.1.2.3", **changes}
    return AccessEntry(**values)  # type: ignore[arg-type]


def test_entries_are_appended_and_read_newest_first(store: SqlFrictionStore) -> None:
    assert isinstance(store, AccessLogStore)
    store.record_access(entry(0))
    store.record_access(entry(1, action="submit_fields"))
    store.record_access(entry(2, username="admin", roles=("admin", "auditor"), centre=None,
                              action="decode_payloads", case_id=None))
    store.record_access(entry(3, case_id="20261207-BBBB0002", action="read_notice", status=403))
    every = store.access_entries()
    assert [e.at for e in every] == [T0 + timedelta(minutes=m) for m in (3, 2, 1, 0)]
    assert every[1].roles == ("admin", "auditor") and every[1].case_id is None
    assert every[1].centre is None and every[0].status == 403 and every[1].status == 200
    one_case = store.access_entries(case_id="20261207-AAAA0001")
    assert [e.action for e in one_case] == ["submit_fields", "read_case"]
    assert [e.action for e in store.access_entries(username="admin")] == ["decode_payloads"]
    window = store.access_entries(since=T0 + timedelta(minutes=1),
                                  until=T0 + timedelta(minutes=3))
    assert [e.action for e in window] == ["decode_payloads", "submit_fields"]
    assert len(store.access_entries(limit=2)) == 2
    with pytest.raises(ValueError, match="action"):
        store.record_access(entry(4, action="peek"))


def test_pruning_removes_only_what_is_past_retention(store: SqlFrictionStore) -> None:
    for minutes in (0, 10, 20):
        store.record_access(entry(minutes))
    assert store.prune_access_log(T0 + timedelta(minutes=10)) == 1
    assert [e.at for e in store.access_entries()] == [T0 + timedelta(minutes=m)
                                                       for m in (20, 10)]


def test_the_database_refuses_to_edit_an_entry(
    backend: Backend, store: SqlFrictionStore
) -> None:
    store.record_access(entry(0))
    with pytest.raises(backend.error, match="append-only"):
        backend.execute("UPDATE access_log SET username = 'someone-else'")
    assert [e.username for e in store.access_entries()] == ["clerk"]
    # The store offers appending, reading and pruning; nothing edits or deletes one entry.
    assert not [name for name in dir(store) if "access" in name and
                any(word in name for word in ("update", "delete", "edit", "remove"))]


def test_an_entry_is_committed_without_its_own_fsync_and_events_keep_theirs(
    tmp_path: Path,
) -> None:
    # SQLite: the access log's commit waits for no fsync (synchronous=NORMAL, in WAL:
    # kept if the process dies), and the connection is back to FULL for what follows.
    store = SqliteFrictionStore(tmp_path / "friction.db")
    try:
        seen: list[int] = []
        store._engine.write(lambda cur: seen.append(
            cur.execute("PRAGMA synchronous").fetchone()[0]), durable=False)
        store.record_access(entry(0))
        # Another connection sees it at once: committed, not buffered.
        other = SqliteFrictionStore(store.path)
        assert [e.action for e in other.access_entries()] == ["read_case"]
        other.close()
        after = store._engine.connection.execute("PRAGMA synchronous").fetchone()[0]
        assert (seen, after) == ([1], 2)  # NORMAL for that write, FULL again after
    finally:
        store.close()
