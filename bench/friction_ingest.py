"""The friction store under load, on SQLite or PostgreSQL.

1. Ingest rate through the real path (friction.ingest.ingest: checks, masking, encoding,
   idempotent insert, rollups, one transaction per batch) against the raw insert rate of
   the same database in the same run: the same rows, executemany into a bare table with
   the same columns (no keys, no rollups), one transaction per batch too.
2. Backlog (stuck_points) query time at each --sizes number of events, loaded in bulk
   straight into `events` (COPY on PostgreSQL, big executemany transactions on SQLite)
   with the rollups rebuilt by one rebuild_rollups() call. Rollups keep it flat: the
   ratio of the largest size's time to the smallest's should be close to 1.

Machines here are shared, so compare ratios between runs rather than absolute figures.

    python bench/friction_ingest.py --store sqlite
    python bench/friction_ingest.py --store postgres --sizes 1e6,1e7
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from friction.burden import default_burden_table
from friction.ingest import ingest
from friction.store.engine import Dialect
from friction.store.rollups import EVENT_COLUMNS, event_params
from friction.store.sql import SqlFrictionStore
from kernel.events import (
    CantGetItDone,
    ClerkNote,
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    PiecemealRejection,
    Provenance,
    RepeatTrip,
    SearchOnlyEntry,
)

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2025, 1, 6, 8, 30, tzinfo=UTC)
EVENTS_PER_CASE = 8
LOAD_CHUNK = 200_000

Batch = list[tuple[object, ...]]  # rows of `events` columns

RAW_DDL = """CREATE TABLE bench_raw (
    event_id TEXT, kind TEXT, fingerprint TEXT, bundle TEXT, step TEXT, subject TEXT,
    case_id TEXT, centre TEXT, channel TEXT, occurred_at {ts}, citizen_minutes {real},
    clerk_minutes {real}, known_from TEXT, body {blob}, point_kind TEXT, trace_id TEXT,
    local_day TEXT, details TEXT)"""


# -- realistic events ----------------------------------------------------------------------


def prototypes() -> list[FrictionEvent]:
    """About 50 stuck points over two bundles and every kind of friction."""
    at = T0
    protos: list[FrictionEvent] = []
    for bundle in ("employment-hardship", "residence-permit"):
        common: dict[str, Any] = {"event_id": "-", "occurred_at": at, "bundle": bundle,
                                  "bundle_version": 3, "centre": "liangxi"}
        for field, source in (("phone", "public-security"), ("name", "public-security"),
                              ("address", "public-security"), ("bank_account", "hrss"),
                              ("employer", "social-insurance")):
            protos.append(ManualReentry(**common, step="insurance", field=field,
                                        known_from=Provenance(kind="agency", source=source)))
        for material, ecert in (("household_register", "household_register_ecert"),
                                ("id_card_copy", "resident_id_card"),
                                ("marriage_certificate", "marriage_ecert")):
            protos.append(PhysicalMaterialRequested(
                **common, step="registration", material=material,
                held_by=Provenance(kind="ecert", source=ecert)))
        for agency in ("hrss", "public-security", "civil-affairs"):
            protos.append(ExtraWait(**common, step="registration", scope="agency_call",
                                    agency=agency, sla_seconds=30, actual_seconds=95))
        protos.append(ExtraWait(**common, step="review", scope="step", sla_working_days=5))
        protos.append(ExtraWait(**common, step="registration", scope="queue",
                                sla_seconds=600, actual_seconds=1500))
        for step in ("registration", "review"):
            protos.append(RepeatTrip(**common, step=step, trip_number=2,
                                     reasons=("material:household_register",),
                                     could_have_been_told=("material:household_register",)))
        for rule in ("grade_not_allowed", "missing_stamp", "photo_size"):
            protos.append(PiecemealRejection(**common, step="review", rule=rule,
                                             first_rejection_round=1, later_rejection_round=2))
        for cause in ("policy", "system", "materials"):
            protos.append(CantGetItDone(**common, step="review", cause=cause,
                                        department="civil-affairs"))
        for category in ("materials", "system"):
            protos.append(ClerkNote(**common, step="registration", category=category,
                                    text="窗口要求群众提供复印件，系统内已有电子证照"))
        protos.append(SearchOnlyEntry(**common, service=f"{bundle}-online",
                                      entry_path="search>services>apply"))
    for service in ("childbirth-allowance", "elderly-card", "housing-fund"):
        protos.append(SearchOnlyEntry(event_id="-", occurred_at=at, service=service,
                                      entry_path="search"))
    return protos


def _weights(n: int) -> list[float]:
    # A long tail, as real backlogs have: a few stuck points carry most events.
    return [1 / (rank + 1) ** 0.8 for rank in range(n)]


def ingest_events(n: int, seed: int = 1) -> list[FrictionEvent]:
    """n events over n/8 cases in random order, as cases interleave in a city."""
    rng = random.Random(seed)
    protos = prototypes()
    picks = rng.choices(protos, weights=_weights(len(protos)), k=n)
    cases = max(1, n // EVENTS_PER_CASE)
    seq = [0] * cases
    events: list[FrictionEvent] = []
    for i, proto in enumerate(picks):
        case = rng.randrange(cases)
        seq[case] += 1
        events.append(msgspec.structs.replace(
            proto, event_id=f"C{case:08d}/{seq[case]}", case_id=f"C{case:08d}",
            occurred_at=T0 + timedelta(seconds=3 * i),
        ))
    return events


def bulk_rows(start: int, stop: int, seed: int) -> Iterator[tuple[object, ...]]:
    """`events` rows for events start..stop of a notebook of 8 events per case, computed
    from per-prototype columns: only the ids, the time and the body change per event."""
    rng = random.Random(seed)
    protos = prototypes()
    burden = default_burden_table()
    fixed = [event_params(p, burden) for p in protos]
    encode = msgspec.json.Encoder().encode
    replace = msgspec.structs.replace
    picks = rng.choices(range(len(protos)), weights=_weights(len(protos)), k=stop - start)
    for i, k in zip(range(start, stop), picks, strict=True):
        case = f"B{i // EVENTS_PER_CASE:08d}"
        event_id = f"{case}/{i % EVENTS_PER_CASE}"
        at = T0 + timedelta(seconds=3 * i)
        f = fixed[k]
        body = encode(replace(protos[k], event_id=event_id, case_id=case, occurred_at=at))
        day = (at + timedelta(hours=8)).date().isoformat()  # the China-local date
        yield (event_id, f[1], f[2], f[3], f[4], f[5], case, f[7], f[8],
               at.isoformat(timespec="microseconds"), f[10], f[11], f[12], body,
               f[14], f[15], day, f[17])


def chunks(rows: Iterator[tuple[object, ...]], size: int) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- the two databases -----------------------------------------------------------------------


class Target:
    """One database to measure: opens fresh stores and raw connections to them."""

    name: str
    dialect: Dialect

    def open(self) -> SqlFrictionStore:
        raise NotImplementedError

    def raw_insert(
        self, warmup: Sequence[Batch], batches: Sequence[Batch]
    ) -> float:
        """Seconds to executemany the batches into a bare table, a transaction each,
        after the warm-up batches."""
        raise NotImplementedError

    def bulk_load(self, rows: Iterator[tuple[object, ...]]) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass


class SqliteTarget(Target):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        from friction.sqlite_store import SQLITE

        self.dialect = SQLITE
        self.directory = directory
        self.paths: list[Path] = []

    def open(self) -> SqlFrictionStore:
        from friction.sqlite_store import SqliteFrictionStore

        path = self.directory / f"bench-{uuid.uuid4().hex[:8]}.db"
        self.paths.append(path)
        return SqliteFrictionStore(path)

    def raw_insert(
        self, warmup: Sequence[Batch], batches: Sequence[Batch]
    ) -> float:
        from friction.sqlite_store import connect

        conn = connect(str(self.paths[-1]))  # the same file and pragmas as the store
        try:
            conn.execute(self.dialect.sql(RAW_DDL))
            sql = f"INSERT INTO bench_raw VALUES ({','.join('?' * len(EVENT_COLUMNS))})"
            started = 0.0
            for i, batch in enumerate([*warmup, *batches]):
                if i == len(warmup):
                    started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, batch)
                conn.execute("COMMIT")
            return time.perf_counter() - started
        finally:
            conn.close()

    def bulk_load(self, rows: Iterator[tuple[object, ...]]) -> None:
        conn = sqlite3.connect(self.paths[-1], isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = OFF")  # a load to measure reads, not durability
            sql = (
                f"INSERT INTO events ({','.join(EVENT_COLUMNS)})"
                f" VALUES ({','.join('?' * len(EVENT_COLUMNS))})"
            )
            for chunk in chunks(rows, LOAD_CHUNK):
                conn.execute("BEGIN")
                conn.executemany(sql, chunk)
                conn.execute("COMMIT")
        finally:
            conn.close()

    def describe(self) -> str:
        return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL) in {self.directory}"

    def cleanup(self) -> None:
        for path in self.paths:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


class PostgresTarget(Target):
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        from friction.postgres_store import postgres_dialect

        self.dialect = postgres_dialect()
        self.dsn = dsn
        self.schemas: list[str] = []

    def open(self) -> SqlFrictionStore:
        from friction.postgres_store import PostgresFrictionStore

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        self.schemas.append(schema)
        return PostgresFrictionStore(self.dsn, schema=schema)

    def _connect(self) -> Any:
        from friction.postgres_store import connect

        return connect(self.dsn, self.schemas[-1])

    def raw_insert(
        self, warmup: Sequence[Batch], batches: Sequence[Batch]
    ) -> float:
        with self._connect() as conn:
            conn.execute(self.dialect.sql(RAW_DDL))
            sql = f"INSERT INTO bench_raw VALUES ({','.join(['%s'] * len(EVENT_COLUMNS))})"
            cur = conn.cursor()
            started = 0.0
            for i, batch in enumerate([*warmup, *batches]):
                if i == len(warmup):
                    started = time.perf_counter()
                cur.execute("BEGIN")
                cur.executemany(sql, batch)  # pipelined, as the store's inserts are
                cur.execute("COMMIT")
            return time.perf_counter() - started

    def bulk_load(self, rows: Iterator[tuple[object, ...]]) -> None:
        with self._connect() as conn:
            cur = conn.cursor()
            for chunk in chunks(rows, LOAD_CHUNK):
                with conn.transaction(), cur.copy(
                    f"COPY events ({','.join(EVENT_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for row in chunk:
                        copy.write_row(row)
            conn.execute("ANALYZE events")

    def describe(self) -> str:
        with self._connect() as conn:
            (version,) = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {version} at {self.dsn}"

    def cleanup(self) -> None:
        from friction.postgres_store import connect

        with connect(self.dsn) as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- the measurements ------------------------------------------------------------------------


def measure_ingest(target: Target, n: int, batch: int, warmup: int) -> None:
    """Both paths first run `warmup` untimed batches: connection caches and prepared
    statements warm, so neither pays for them in its figure."""
    events = ingest_events(n + warmup * batch)
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    burden = default_burden_table()
    rows = [[event_params(e, burden) for e in b] for b in batches]
    store = target.open()
    try:
        for b in batches[:warmup]:
            ingest(store, b)
        started = time.perf_counter()
        for b in batches[warmup:]:
            result = ingest(store, b)
            assert len(result.stored) == len(b), "every generated event is new and valid"
        ingest_s = time.perf_counter() - started
        points = len(store.stuck_points(limit=1000))
        assert sum(store.counts_by_kind().values()) == len(events)
    finally:
        store.close()
    raw_s = target.raw_insert(rows[:warmup], rows[warmup:])
    print(f"ingest: {n:,} events in batches of {batch} ({points} stuck points, "
          f"{len(events) // EVENTS_PER_CASE:,} cases), after {warmup} warm-up batches")
    print(f"  friction.ingest.ingest    {n / ingest_s:>10,.0f} events/s  ({ingest_s:.2f} s)")
    print(f"  raw executemany INSERT    {n / raw_s:>10,.0f} events/s  ({raw_s:.2f} s)")
    print(f"  ratio ingest / raw        {raw_s / ingest_s:>10.2f}")


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, max) milliseconds over `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def measure_backlog(target: Target, sizes: list[int], repeat: int) -> None:
    print(f"backlog: stuck_points(limit=50), median of {repeat} after a warm-up")
    store = target.open()
    loaded = 0
    medians: list[float] = []
    try:
        for size in sizes:
            started = time.perf_counter()
            target.bulk_load(bulk_rows(loaded, size, seed=size))
            load_s = time.perf_counter() - started
            loaded = size
            started = time.perf_counter()
            store.rebuild_rollups()
            rebuild_s = time.perf_counter() - started
            assert sum(store.counts_by_kind().values()) == size
            median, worst = timed(store.stuck_points, repeat)
            by_bundle, _ = timed(lambda: store.stuck_points(bundle="residence-permit"), repeat)
            medians.append(median)
            print(f"  {size:>12,} events  {median:7.2f} ms (max {worst:.2f}; one bundle "
                  f"{by_bundle:.2f} ms)   bulk load {load_s:.0f} s, rebuild_rollups "
                  f"{rebuild_s:.0f} s")
    finally:
        store.close()
    if len(sizes) > 1:
        print(f"  ratio {sizes[-1]:.0e} / {sizes[0]:.0e} events: {medians[-1] / medians[0]:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", choices=("sqlite", "postgres"), required=True)
    parser.add_argument(
        "--dsn", default=os.environ.get("ONETHING_TEST_POSTGRES_DSN", DEFAULT_DSN),
        help="PostgreSQL to measure (a throw-away schema is created and dropped)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where SQLite files go")
    parser.add_argument("--events", type=int, default=50_000, help="events to ingest")
    parser.add_argument("--batch", type=int, default=500, help="events per ingest batch")
    parser.add_argument("--warmup", type=int, default=4, help="untimed batches first")
    parser.add_argument("--sizes", default="1e6", help="backlog sizes, e.g. 1e6,1e7")
    parser.add_argument("--repeat", type=int, default=30, help="backlog queries per size")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-backlog", action="store_true")
    args = parser.parse_args(argv)
    sizes = sorted(int(float(s)) for s in args.sizes.split(",") if s)

    with tempfile.TemporaryDirectory(prefix="friction-bench-", dir=args.dir) as tmp:
        target: Target = (
            SqliteTarget(Path(tmp)) if args.store == "sqlite" else PostgresTarget(args.dsn)
        )
        try:
            if not args.skip_ingest:
                measure_ingest(target, args.events, args.batch, args.warmup)
                print(f"  on {target.describe()}")
            if not args.skip_backlog:
                measure_backlog(target, sizes, args.repeat)
        finally:
            target.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
