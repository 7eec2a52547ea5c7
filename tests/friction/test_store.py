"""The friction store on SQLite files and PostgreSQL schemas alike: idempotency, several
writers, atomic batches, rollups, cases and burden. `store` and `backend` (conftest.py)
run each test once per database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest

from friction.burden import BurdenTable, burden_of, load_burden_table
from friction.sqlite_store import SqliteFrictionStore
from friction.store.migrations import MIGRATIONS, SCHEMA_VERSION
from friction.store.sql import SqlFrictionStore
from friction.stuck_points import StuckPoint
from kernel.events import (
    FRICTION_KINDS,
    CaseRecord,
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    Provenance,
    RepeatTrip,
    StepRecord,
    fingerprint,
)

if TYPE_CHECKING:
    from tests.friction.conftest import Backend, PostgresBackend

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
BUNDLE = "employment-hardship"
REPO = Path(__file__).resolve().parents[2]


def reentry(
    case: str, seq: int, field: str = "phone", source: str = "public-security",
    *, minutes: int = 0, step: str = "insurance", typed_seconds: float | None = None,
    bundle: str = BUNDLE,
) -> ManualReentry:
    return ManualReentry(
        event_id=f"{case}/{seq}", occurred_at=T0 + timedelta(minutes=minutes), case_id=case,
        bundle=bundle, step=step, field=field,
        known_from=Provenance(kind="agency", source=source), typed_seconds=typed_seconds,
    )


def paper(case: str, seq: int, *, minutes: int = 0) -> PhysicalMaterialRequested:
    return PhysicalMaterialRequested(
        event_id=f"{case}/{seq}", occurred_at=T0 + timedelta(minutes=minutes), case_id=case,
        bundle=BUNDLE, step="registration", material="household_register",
        held_by=Provenance(kind="ecert", source="household_register_ecert"),
    )


def trip(case: str, seq: int) -> RepeatTrip:
    return RepeatTrip(
        event_id=f"{case}/{seq}", occurred_at=T0, case_id=case, bundle=BUNDLE,
        step="registration", trip_number=2, reasons=("material:x",),
        could_have_been_told=("material:x",),
    )


def test_a_schema_version_and_migrations_applied_once(
    store: SqlFrictionStore, backend: Backend
) -> None:
    assert backend.execute("SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    # Reopening an up-to-date database applies nothing twice.
    backend.open().close()
    assert backend.execute("SELECT count(*) FROM schema_version") == [(len(MIGRATIONS),)]


def test_the_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    SqliteFrictionStore(tmp_path / "friction.db").close()
    raw = sqlite3.connect(tmp_path / "friction.db")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_a_database_from_a_newer_version_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.execute(f"INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION + 1})")
    with pytest.raises(RuntimeError, match="newer than this code"):
        backend.open()


def test_the_same_batch_twice_is_stored_once(store: SqlFrictionStore) -> None:
    batch: list[FrictionEvent] = [reentry("A", 1), reentry("A", 2, "name"), paper("B", 1)]
    first = store.ingest(batch)
    points_before = store.stuck_points()
    kinds_before = store.counts_by_kind()

    again = store.ingest(batch)

    assert first.stored == ("A/1", "A/2", "B/1") and first.duplicates == ()
    assert again.stored == () and again.duplicates == ("A/1", "A/2", "B/1")
    assert store.stuck_points() == points_before
    assert store.counts_by_kind() == kinds_before
    assert kinds_before["manual_reentry"] == 2 and kinds_before["physical_material"] == 1
    assert [e.event_id for e in store.events_for_case("A")] == ["A/1", "A/2"]


def test_a_repeated_id_within_one_batch_is_a_duplicate(store: SqlFrictionStore) -> None:
    result = store.ingest([reentry("A", 1), reentry("A", 1), reentry("A", 2)])
    assert result.stored == ("A/1", "A/2")
    assert result.duplicates == ("A/1",)
    (point,) = store.stuck_points()
    assert point.count == 2


def test_a_partly_resent_batch_rolls_up_only_its_new_events(store: SqlFrictionStore) -> None:
    # The usual batch is all new (PostgreSQL sums its rollups while the events go in);
    # a producer's retry mixed with new events must be summed again, for the new only.
    store.ingest([reentry("A", 1), reentry("A", 2, "name"), paper("B", 1)])
    result = store.ingest([paper("B", 1), reentry("A", 3, "phone"), reentry("A", 2, "name"),
                           paper("C", 1), paper("C", 1)])
    assert result.stored == ("A/3", "C/1")
    assert result.duplicates == ("B/1", "A/2", "C/1")
    incremental = store.stuck_points()
    assert sorted((p.kind, p.count, p.cases) for p in incremental) == [
        ("manual_reentry", 3, 1), ("physical_material", 2, 2)]
    kinds = store.counts_by_kind()
    assert kinds["manual_reentry"] == 3 and kinds["physical_material"] == 2
    store.rebuild_rollups()
    rebuilt = store.stuck_points()
    # Sums added in another order may differ in the last bit.
    assert [p.burden_minutes for p in rebuilt] == pytest.approx(
        [p.burden_minutes for p in incremental])
    assert [(p.fingerprint, p.count, p.cases, p.known_from, p.first_seen) for p in rebuilt] == [
        (p.fingerprint, p.count, p.cases, p.known_from, p.first_seen) for p in incremental]


def test_two_stores_on_one_database_see_each_others_writes(backend: Backend) -> None:
    worker = backend.open()
    gateway = backend.open()
    try:
        worker.ingest([reentry("A", 1), reentry("B", 1)])
        gateway.upsert_case(case_record("A", "open"))
        (point,) = gateway.stuck_points()
        assert point.count == 2 and point.cases == 2
        assert [e.event_id for e in gateway.events_for_case("B")] == ["B/1"]
        assert worker.case_counts() == {(BUNDLE, "open"): 1}
        gateway.ingest([reentry("C", 1)])
        assert worker.stuck_points()[0].count == 3
    finally:
        worker.close()
        gateway.close()


ROUNDS = 40


def test_concurrent_writers_lose_nothing(backend: Backend) -> None:
    """A separate process and two threads, each with its own connection, write the same
    stuck point at once; all three also send the same shared batches, as retried
    activities would. Every count is exact and every shared event is stored once."""
    backend.open().close()
    script = backend.opener() + textwrap.dedent(
        f"""
        from datetime import datetime, timezone
        from kernel.events import ManualReentry, Provenance
        at = datetime(2025, 3, 3, 9, tzinfo=timezone.utc)
        def event(case, n, source):
            return ManualReentry(event_id=f"{{case}}/{{n}}", occurred_at=at, case_id=case,
                                 bundle="b", step="s", field="phone",
                                 known_from=Provenance(kind="agency", source=source))
        stored = 0
        for i in range({ROUNDS}):
            store.ingest([event(f"P{{i}}", n, "hrss") for n in range(5)])
            if i % 2 == 0:
                shared = [event(f"S{{i}}", n, "shared") for n in range(5)]
                stored += len(store.ingest(shared).stored)
        store.close()
        print(stored)
        """
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env={"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    stores = [backend.open(), backend.open()]
    shared_stored: list[int] = []
    try:
        def write(store: SqlFrictionStore, prefix: str) -> None:
            stored = 0
            for i in range(ROUNDS):
                store.ingest(
                    [reentry(f"{prefix}{i}", n, bundle="b", step="s") for n in range(5)]
                )
                if i % 2 == 0:
                    shared = [
                        reentry(f"S{i}", n, bundle="b", step="s", source="shared")
                        for n in range(5)
                    ]
                    stored += len(store.ingest(shared).stored)
            shared_stored.append(stored)

        threads = [
            threading.Thread(target=write, args=(s, p))
            for s, p in zip(stores, ("X", "Y"), strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err.decode()
        shared_stored.append(int(out))

        shared = ROUNDS // 2 * 5
        assert sum(shared_stored) == shared  # each shared event stored by exactly one writer
        (point,) = stores[0].stuck_points()
        assert point.count == 3 * ROUNDS * 5 + shared
        assert point.cases == 3 * ROUNDS + ROUNDS // 2
        assert point.known_from == {
            "agency:public-security": 2 * ROUNDS * 5, "agency:hrss": ROUNDS * 5,
            "agency:shared": shared,
        }
        assert stores[1].counts_by_kind()["manual_reentry"] == point.count
        assert len(stores[1].events_for_case("S0")) == 5
    finally:
        for s in stores:
            s.close()


@pytest.mark.parametrize(
    "table, when",
    [
        ("events", "NEW.event_id = 'A/3'"),  # after two events of the batch went in
        ("stuck_point_sources", "true"),  # the rollups' last step
    ],
)
def test_a_batch_that_fails_midway_leaves_nothing(
    store: SqlFrictionStore, backend: Backend, table: str, when: str
) -> None:
    backend.fail_inserts(table, when)
    batch: list[FrictionEvent] = [trip("A", 1), reentry("A", 2), reentry("A", 3, "name")]
    with pytest.raises(backend.error, match="disk on fire"):
        store.ingest(batch)
    assert store.events_for_case("A") == []
    assert store.stuck_points() == []
    assert store.counts_by_kind() == dict.fromkeys(FRICTION_KINDS, 0)

    backend.allow_inserts(table)
    # The retry stores everything: nothing of the failed attempt counts as a duplicate.
    result = store.ingest(batch)
    assert result.stored == ("A/1", "A/2", "A/3") and result.duplicates == ()
    assert sum(p.count for p in store.stuck_points()) == 3


def test_rebuilt_rollups_equal_the_incremental_ones(store: SqlFrictionStore) -> None:
    store.ingest([reentry(f"R{i}", n, minutes=i + n) for i in range(6) for n in (1, 2)])
    store.ingest([paper("A", 3, minutes=5), paper("D", 1, minutes=6), trip("E", 1)])
    store.ingest([reentry("C", 1, source="hrss", minutes=9), reentry("C", 1)])  # a duplicate
    before = store.stuck_points()
    store.rebuild_rollups()
    after = store.stuck_points()
    # Sums added in another order may differ in the last bit.
    assert [p.burden_minutes for p in after] == pytest.approx([p.burden_minutes for p in before])

    def exact(p: StuckPoint) -> StuckPoint:
        return msgspec.structs.replace(p, citizen_minutes=0, clerk_minutes=0, burden_minutes=0)

    assert [exact(p) for p in after] == [exact(p) for p in before]
    assert store.counts_by_kind()["manual_reentry"] == 13


def test_stuck_points_ranked_by_burden_with_counts_cases_sources_and_remedy(
    store: SqlFrictionStore,
) -> None:
    events: list[FrictionEvent] = [
        # phone retyped 4 times in 3 cases, mostly known from public security.
        reentry("A", 1, minutes=1),
        reentry("A", 2, minutes=2),
        reentry("B", 1, minutes=3),
        reentry("C", 1, source="hrss", minutes=4),
        # one paper document asked twice in 2 cases: household register: 2 x (15 + 5) = 40.
        paper("A", 3, minutes=5),
        paper("D", 1, minutes=6),
        # one repeat trip: 120 + 15 = 135 minutes.
        trip("E", 1),
    ]
    store.ingest(events[:4])  # rollups must add up across batches too
    store.ingest(events[4:])
    points = store.stuck_points()

    assert [p.kind for p in points] == ["repeat_trip", "physical_material", "manual_reentry"]
    assert [p.burden_minutes for p in points] == pytest.approx([135.0, 40.0, 4 * 2.45])
    assert points == sorted(points, key=lambda p: -p.burden_minutes)

    retyped = points[2]
    assert retyped.fingerprint == fingerprint(events[0])
    assert (retyped.bundle, retyped.step, retyped.subject) == (BUNDLE, "insurance", "form")
    assert retyped.details == {"field:phone": 4}
    assert retyped.count == 4 and retyped.cases == 3
    assert retyped.citizen_minutes == pytest.approx(5.0)
    assert retyped.clerk_minutes == pytest.approx(4.8)
    assert retyped.known_from == {"agency:public-security": 3, "agency:hrss": 1}
    assert retyped.remedy == (
        "link form insurance to the dossier: prefill phone from agency:public-security"
    )
    assert set(retyped.sample_cases) == {"A", "B", "C"}
    assert retyped.sample_cases[0] == "C"  # most recent first
    assert retyped.first_seen == T0 + timedelta(minutes=1)
    assert retyped.last_seen == T0 + timedelta(minutes=4)

    papers = points[1]
    assert papers.count == 2 and papers.cases == 2
    assert papers.known_from == {"ecert:household_register_ecert": 2}
    assert papers.remedy == (
        "query the e-certificate household_register_ecert before asking for household_register"
    )
    assert points[0].remedy == "tell every deficiency at the first trip (one-time notice)"
    assert points[0].known_from == {}

    assert [p.kind for p in store.stuck_points(limit=2)] == ["repeat_trip", "physical_material"]
    assert store.stuck_points(bundle="other") == []
    assert len(store.stuck_points(bundle=BUNDLE)) == 3


def test_sample_cases_are_capped_and_cases_are_distinct(store: SqlFrictionStore) -> None:
    store.ingest([reentry(f"K{i}", n, minutes=i) for i in range(8) for n in (1, 2)])
    (point,) = store.stuck_points()
    assert point.count == 16 and point.cases == 8
    assert point.sample_cases == ("K7", "K6", "K5", "K4", "K3")


def test_stuck_points_filtered_by_bundle(store: SqlFrictionStore) -> None:
    store.ingest([reentry("A", 1), reentry("B", 1, bundle="residence-permit")])
    (point,) = store.stuck_points(bundle="residence-permit")
    assert point.bundle == "residence-permit" and point.sample_cases == ("B",)


def case_record(case: str, status: str, **changes: object) -> CaseRecord:
    record = CaseRecord(
        case_id=case, bundle=BUNDLE, bundle_version=1, centre="liangxi", channel="window",
        status="open", opened_at=T0,
    )
    return msgspec.structs.replace(record, status=status, **changes)


def test_upsert_case_replaces_the_earlier_record(
    store: SqlFrictionStore, backend: Backend
) -> None:
    store.upsert_case(case_record("A", "open"))
    store.upsert_case(case_record("B", "open"))
    assert store.case_counts() == {(BUNDLE, "open"): 2}

    closed = T0 + timedelta(days=3)
    store.upsert_case(
        case_record("A", "completed", closed_at=closed, trips=2, fields_total=30,
                    fields_prefilled=22)
    )
    assert store.case_counts() == {(BUNDLE, "open"): 1, (BUNDLE, "completed"): 1}
    (row,) = backend.execute(
        "SELECT status, closed_at, trips, fields_total, fields_prefilled FROM cases"
        " WHERE case_id = 'A'"
    )
    assert backend.execute("SELECT count(*) FROM cases") == [(2,)]
    stored_at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(row[1])
    assert row[0] == "completed" and stored_at == closed
    assert row[2:] == (2, 30, 22)

    # A late retry of the opening record does not reopen a closed case.
    store.upsert_case(case_record("A", "open"))
    assert store.case_counts() == {(BUNDLE, "open"): 1, (BUNDLE, "completed"): 1}
    store.upsert_case(case_record("B", "failed"))
    assert store.case_counts() == {(BUNDLE, "completed"): 1, (BUNDLE, "failed"): 1}


def test_a_case_ended_unfinished_is_closed_as_failed_once(
    store: SqlFrictionStore, backend: Backend
) -> None:
    step = StepRecord(step="review", status="awaiting_agency", started_at=T0)
    store.upsert_case(case_record("A", "open", steps=(step,)))
    store.upsert_case(case_record("B", "completed", closed_at=T0 + timedelta(hours=1)))
    ended = T0 + timedelta(days=1)
    assert store.close_ended_case("A", ended) is True
    assert store.case_counts() == {(BUNDLE, "failed"): 1, (BUNDLE, "completed"): 1}
    (row,) = backend.execute("SELECT status, closed_at FROM cases WHERE case_id = 'A'")
    stored_at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(row[1])
    assert row[0] == "failed" and stored_at == ended
    assert backend.execute("SELECT status FROM case_steps WHERE case_id = 'A'") == [
        ("failed",)]
    # Again, a closed case, an unknown one: nothing moves.
    assert store.close_ended_case("A", ended) is False
    assert store.close_ended_case("B", ended) is False
    assert store.close_ended_case("nobody", ended) is False
    assert store.case_counts() == {(BUNDLE, "failed"): 1, (BUNDLE, "completed"): 1}


def test_events_for_case_round_trips_in_order(store: SqlFrictionStore) -> None:
    wait = ExtraWait(
        event_id="A/2", occurred_at=T0, case_id="A", bundle=BUNDLE, step="registration",
        scope="step", agency="hrss", sla_working_days=5, actual_seconds=9e5,
        due_at=T0, calendar="cn-2025",
    )
    store.ingest([reentry("A", 3), wait, reentry("B", 1), reentry("A", 1)])
    events = store.events_for_case("A")
    assert [e.event_id for e in events] == ["A/3", "A/2", "A/1"]
    assert events[1] == wait
    assert store.events_for_case("nobody") == []


def test_burden_uses_typed_seconds_when_measured(store: SqlFrictionStore) -> None:
    assert burden_of(reentry("A", 1)) == pytest.approx((1.25, 1.2))
    assert burden_of(reentry("A", 1, typed_seconds=90)) == pytest.approx((1.25, 1.5))
    store.ingest([reentry("A", 1, typed_seconds=90), reentry("A", 2)])
    (point,) = store.stuck_points()
    assert point.citizen_minutes == pytest.approx(2.5)
    assert point.clerk_minutes == pytest.approx(2.7)


def test_burden_of_waits_by_scope() -> None:
    def wait(scope: str, **kw: object) -> ExtraWait:
        return ExtraWait(event_id="w", occurred_at=T0, scope=scope, **kw)  # type: ignore[arg-type]

    # At the window, citizen and clerk both lose the overrun.
    assert burden_of(wait("agency_call", sla_seconds=60, actual_seconds=660)) == (10.0, 10.0)
    assert burden_of(wait("agency_call", sla_seconds=60, actual_seconds=30)) == (0.0, 0.0)
    # 30 for being sent away, 20 for the overrun.
    assert burden_of(wait("queue", sla_seconds=600, actual_seconds=1800)) == (50.0, 0.0)
    # A late step: a chase-up per event, plus waiting per working day late after the due time.
    assert burden_of(wait("step", sla_working_days=5, due_at=T0)) == (30.0, 5.0)
    late = burden_of(wait("step", due_at=T0 - timedelta(days=7)))
    assert late == pytest.approx((30.0 + 5 * 20.0, 5.0))


def test_burden_table_is_data(backend: Backend, tmp_path: Path) -> None:
    table = load_burden_table()
    cheap = msgspec.structs.replace(
        table, repeat_trip=msgspec.structs.replace(table.repeat_trip, citizen=1.0, clerk=0.0)
    )
    assert burden_of(trip("A", 1), cheap) == (1.0, 0.0)
    store = backend.open(burden=cheap)
    try:
        store.ingest([trip("A", 1)])
        assert store.stuck_points()[0].burden_minutes == 1.0
    finally:
        store.close()

    broken = tmp_path / "burden.toml"
    broken.write_text("[manual_reentry]\ncitizen = 1.0\nclerk = 1.0\n")
    with pytest.raises(ValueError, match="missing required field"):
        load_burden_table(broken)
    assert isinstance(table, BurdenTable)


def test_memory_store_works(tmp_path: Path) -> None:
    store = SqliteFrictionStore(":memory:")
    try:
        assert store.ingest([reentry("A", 1)]).stored == ("A/1",)
        assert store.counts_by_kind()["manual_reentry"] == 1
    finally:
        store.close()
    assert not (tmp_path / ":memory:").exists() and not Path(":memory:").exists()


def test_postgres_schemas_keep_stores_apart(postgres: PostgresBackend) -> None:
    from friction.postgres_store import PostgresFrictionStore

    mine = postgres.open()
    other = PostgresFrictionStore(postgres.dsn, schema=postgres.schema + "_other")
    try:
        mine.ingest([reentry("A", 1)])
        assert other.stuck_points() == [] and other.events_for_case("A") == []
        assert postgres.execute("SELECT count(*) FROM events") == [(1,)]
    finally:
        mine.close()
        other.close()
        postgres.execute(f"DROP SCHEMA {postgres.schema}_other CASCADE")


def test_a_bad_postgres_schema_name_is_refused(postgres: PostgresBackend) -> None:
    from friction.postgres_store import PostgresFrictionStore

    with pytest.raises(ValueError, match="schema must be"):
        PostgresFrictionStore(postgres.dsn, schema='x"; DROP TABLE events; --')


def test_a_lost_postgres_connection_is_replaced(postgres: PostgresBackend) -> None:
    """A database restart or failover kills the connection; the next call reconnects
    and runs its transaction again instead of failing."""
    store = postgres.open()
    try:
        store.ingest([reentry("A", 1)])
        pid = store._conn.info.backend_pid
        assert postgres.execute(f"SELECT pg_terminate_backend({pid})") == [(True,)]
        assert store.ingest([reentry("A", 1), reentry("A", 2)]).stored == ("A/2",)
        assert store._conn.info.backend_pid != pid
        assert store.stuck_points()[0].count == 2
    finally:
        store.close()


def test_kind_totals_sum_the_rollups_by_kind_and_bundle(store: SqlFrictionStore) -> None:
    store.ingest([reentry("A", 1), reentry("B", 1, source="hrss"), paper("A", 2), trip("E", 1)])
    totals = {(t.kind, t.bundle): t for t in store.kind_totals()}
    points = {p.kind: p for p in store.stuck_points()}
    assert set(totals) == {(kind, BUNDLE) for kind in points}
    for kind, point in points.items():
        total = totals[(kind, BUNDLE)]
        assert total.events == point.count
        assert total.citizen_minutes == pytest.approx(point.citizen_minutes)
        assert total.clerk_minutes == pytest.approx(point.clerk_minutes)
