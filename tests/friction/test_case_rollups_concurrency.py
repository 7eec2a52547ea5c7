"""Two writers to one case at once keep the case rollups exact on PostgreSQL (read
committed): each takes the case's contribution out and puts it back, so the second must
not read the case before the first commits. Forced here by holding the rollup rows while
both writers start; the sum of trips must then equal what a rebuild computes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from test_notebook_store import T0, case

from friction.postgres_store import connect
from kernel.events import RepeatTrip

if TYPE_CHECKING:
    from tests.friction.conftest import PostgresBackend


def trip(case_id: str, n: int) -> RepeatTrip:
    return RepeatTrip(event_id=f"{case_id}/trip{n}", occurred_at=T0 + timedelta(hours=n),
                      case_id=case_id, bundle="employment-hardship", step="registration",
                      centre="liangxi", trip_number=n + 1, reasons=("other",),
                      could_have_been_told=())


def trips(postgres: PostgresBackend) -> int:
    ((total,),) = postgres.execute("SELECT coalesce(sum(trips), 0) FROM case_days")
    return int(total)


def raced(postgres: PostgresBackend, *writes: Callable[[], object]) -> None:
    """Each write in its own thread and store, started while another connection holds
    every case_days row, so all of them are in flight before any commits."""
    with connect(postgres.dsn, postgres.schema) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT * FROM case_days FOR UPDATE")
        threads = [threading.Thread(target=w) for w in writes]
        for t in threads:
            t.start()
        # The writers are waiting: on the held rows, or on the case's lock.
        for _ in range(100):
            (waiting,) = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()").fetchone() or (0,)
            if int(waiting) >= len(writes):
                break
            threading.Event().wait(0.05)
        holder.execute("COMMIT")
        for t in threads:
            t.join(timeout=30)


@pytest.mark.parametrize(("events", "added"), [
    ((2, 3), 2),  # two batches, each a new trip
    ((2, 2), 1),  # a batch resent while its first attempt runs
], ids=["two-batches", "resent-batch"])
def test_writes_to_one_case_at_once_count_each_trip_once(
    postgres: PostgresBackend, events: tuple[int, int], added: int,
) -> None:
    first, second = postgres.open(), postgres.open()
    try:
        first.upsert_case(case("X1", "open"))
        first.ingest([trip("X1", 1)])
        before = trips(postgres)
        raced(postgres, lambda: first.ingest([trip("X1", events[0])]),
              lambda: second.ingest([trip("X1", events[1])]))
        after = trips(postgres)
        first.rebuild_rollups()
        assert after == trips(postgres) == before + added
        ((stored,),) = postgres.execute("SELECT count(*) FROM events")
        assert stored == 1 + len(set(events))
    finally:
        first.close()
        second.close()
