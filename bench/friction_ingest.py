"""The friction store under load, on SQLite or PostgreSQL.

1. Ingest rate through the real path (friction.ingest.ingest: checks, masking, encoding,
   idempotent insert, rollups, one transaction per batch) against the best raw insert of
   exactly the rows that ingest wrote, in the same database and run, one transaction per
   batch too: executemany on SQLite, COPY on PostgreSQL. "The rows ingest wrote" are, per
   batch, its `events` rows (all 18 columns, bodies encoded) and one row per key it added
   to each rollup (stuck_points, stuck_point_cases, stuck_point_sources,
   stuck_point_details, stuck_point_traces, stuck_point_days, kind_days, case_friction:
   the per-batch sums friction.store.rollups.aggregate computes), computed before the
   clock starts. They go into raw_* tables of the same columns, primary keys and indexes
   as the real ones, with one difference: a raw append cannot add to a counter, so each
   rollup table's primary key ends with the batch's number (a key that recurs across
   batches is a new row, not an update). The ratio ingest / raw is then the cost of our
   checks, masking, encoding, idempotency and code path over storing the same data. For
   reference only, a bare `events`-shaped table with no key, fed only the events rows (the
   baseline this benchmark had before), is measured too.
   Each of --rounds rounds uses a fresh store; the median and the range are printed.
2. Backlog (stuck_points) query time at each --sizes number of events, loaded in bulk
   straight into `events` (COPY on PostgreSQL, big executemany transactions on SQLite)
   with the rollups rebuilt by one rebuild_rollups() call. Rollups keep it flat: the
   ratio of the largest size's time to the smallest's should be close to 1.

Machines here are shared, so compare ratios between runs rather than absolute figures.

    .venv/bin/python bench/friction_ingest.py --store sqlite --events 20000 --skip-backlog
    .venv/bin/python bench/friction_ingest.py --store postgres --sizes 1e6,1e7
    (--profile: the ingest loop of the last round under pyinstrument, its top frames)
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
from friction.ingest import check_events, ingest
from friction.store.engine import Dialect
from friction.store.rollups import EVENT_COLUMNS, ROLLUP_TABLES, aggregate, event_params, event_row
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

Batch = list[tuple[object, ...]]  # rows of one table
Written = dict[str, Batch]  # table -> the rows one ingest batch wrote to it

# The bare reference table: `events`' columns, no key, no index.
BARE_DDL = """CREATE TABLE bench_bare (
    event_id TEXT, kind TEXT, fingerprint TEXT, bundle TEXT, step TEXT, subject TEXT,
    case_id TEXT, centre TEXT, channel TEXT, occurred_at {ts}, citizen_minutes {real},
    clerk_minutes {real}, known_from TEXT, body {blob}, point_kind TEXT, trace_id TEXT,
    local_day TEXT, details TEXT)"""

# The tables ingest writes, as raw_<table>: the same columns, primary keys and indexes (as
# the migrations made them), each rollup's key ending with `batch`.
RAW_DDL: tuple[str, ...] = (
    """CREATE TABLE raw_events (
        event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT NOT NULL,
        bundle TEXT, step TEXT, subject TEXT NOT NULL, case_id TEXT, centre TEXT,
        channel TEXT, occurred_at {ts} NOT NULL, citizen_minutes {real} NOT NULL,
        clerk_minutes {real} NOT NULL, known_from TEXT, body {blob} NOT NULL{event_seq},
        point_kind TEXT, trace_id TEXT, local_day TEXT, details TEXT)""",
    "CREATE INDEX raw_events_case ON raw_events (case_id{case_order})",
    """CREATE TABLE raw_stuck_points (
        fingerprint TEXT NOT NULL, kind TEXT NOT NULL, bundle TEXT, step TEXT,
        subject TEXT NOT NULL, count {count} NOT NULL, cases {count} NOT NULL,
        first_seen {ts} NOT NULL, last_seen {ts} NOT NULL, citizen_minutes {real} NOT NULL,
        clerk_minutes {real} NOT NULL, burden_minutes {real} NOT NULL,
        notes {count} NOT NULL DEFAULT 0, batch INTEGER NOT NULL,
        PRIMARY KEY (fingerprint, batch))""",
    "CREATE INDEX raw_stuck_points_rank ON raw_stuck_points (burden_minutes DESC)",
    """CREATE INDEX raw_stuck_points_bundle_rank
        ON raw_stuck_points (bundle, burden_minutes DESC)""",
    """CREATE TABLE raw_stuck_point_cases (
        fingerprint TEXT NOT NULL, case_id TEXT NOT NULL, first_seen {ts} NOT NULL,
        batch INTEGER NOT NULL, PRIMARY KEY (fingerprint, case_id, batch)){without_rowid}""",
    """CREATE INDEX raw_stuck_point_cases_recent
        ON raw_stuck_point_cases (fingerprint, first_seen DESC{case_tiebreak})""",
    """CREATE TABLE raw_stuck_point_sources (
        fingerprint TEXT NOT NULL, source TEXT NOT NULL, count {count} NOT NULL,
        batch INTEGER NOT NULL, PRIMARY KEY (fingerprint, source, batch)){without_rowid}""",
    """CREATE TABLE raw_stuck_point_details (
        fingerprint TEXT NOT NULL, detail TEXT NOT NULL, count {count} NOT NULL,
        batch INTEGER NOT NULL, PRIMARY KEY (fingerprint, detail, batch)){without_rowid}""",
    """CREATE TABLE raw_stuck_point_traces (
        fingerprint TEXT NOT NULL, trace_id TEXT NOT NULL, first_seen {ts} NOT NULL,
        batch INTEGER NOT NULL, PRIMARY KEY (fingerprint, trace_id, batch)){without_rowid}""",
    """CREATE INDEX raw_stuck_point_traces_recent
        ON raw_stuck_point_traces (fingerprint, first_seen DESC, trace_id)""",
    """CREATE TABLE raw_stuck_point_days (
        fingerprint TEXT NOT NULL, day TEXT NOT NULL, count {count} NOT NULL,
        citizen_minutes {real} NOT NULL, clerk_minutes {real} NOT NULL,
        batch INTEGER NOT NULL, PRIMARY KEY (fingerprint, day, batch)){without_rowid}""",
    """CREATE TABLE raw_kind_days (
        day TEXT NOT NULL, kind TEXT NOT NULL, bundle TEXT NOT NULL, centre TEXT NOT NULL,
        count {count} NOT NULL, citizen_minutes {real} NOT NULL,
        clerk_minutes {real} NOT NULL, batch INTEGER NOT NULL,
        PRIMARY KEY (day, kind, bundle, centre, batch)){without_rowid}""",
    """CREATE TABLE raw_case_friction (
        case_id TEXT NOT NULL, fingerprint TEXT NOT NULL, step TEXT,
        count {count} NOT NULL, citizen_minutes {real} NOT NULL,
        clerk_minutes {real} NOT NULL, batch INTEGER NOT NULL,
        PRIMARY KEY (case_id, fingerprint, batch)){without_rowid}""",
)
# What raw_insert writes, table by table, in the order ingest writes them.
WRITTEN_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("events", EVENT_COLUMNS),
    *((table, (*columns, "batch")) for table, columns in ROLLUP_TABLES),
)


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


def written_rows(events: Sequence[FrictionEvent], number: int) -> Written:
    """The rows ingest writes for a batch of new events, by table: its events rows and a
    row per key of each rollup (stuck points' `cases` as if every pair were new), the
    rollups' keys extended by the batch number."""
    good, _ = check_events(events)  # masked as ingest stores them
    encoder = msgspec.json.Encoder()
    burden = default_burden_table()
    rows = [event_row(e, burden, encoder) for e in good]
    r = aggregate(rows)
    pairs: dict[str, int] = {}
    for fp, _, _ in r.point_cases:
        pairs[fp] = pairs.get(fp, 0) + 1
    rollups: dict[str, list[tuple[Any, ...]]] = {
        "stuck_point_cases": list(r.point_cases),
        "stuck_points": [(*p[:6], pairs.get(p[0], 0), *p[6:]) for p in r.points],
        "stuck_point_sources": list(r.sources),
        "stuck_point_details": list(r.details),
        "stuck_point_traces": list(r.traces),
        "stuck_point_days": list(r.days),
        "kind_days": list(r.kind_days),
        "case_friction": list(r.case_friction),
    }
    written: Written = {"events": [row.params for row in rows]}
    for table, _ in ROLLUP_TABLES:
        written[table] = [(*row, number) for row in rollups[table]]
    return written


# -- the two databases -----------------------------------------------------------------------


def _check_columns(columns: Callable[[str], set[str]]) -> None:
    """The raw tables hold the real tables' columns: the baseline stays the same rows as
    the schema grows."""
    for table, _ in WRITTEN_COLUMNS:
        real, raw = columns(table), columns(f"raw_{table}") - {"batch"}
        assert real == raw, f"raw_{table} differs from {table}: {sorted(real ^ raw)}"


class Raw:
    """The raw inserts, a batch at a time, so that they interleave with ingest's batches
    and both see the same load on a shared machine."""

    def write(self, written: Written) -> None:
        """A batch's rows into the raw_* tables, in one transaction: the best raw insert
        the database has."""
        raise NotImplementedError

    def write_bare(self, rows: Batch) -> None:
        """A batch's events rows into the bare table (no key, no index), in one
        transaction: the reference figure."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Target:
    """One database to measure: opens fresh stores and raw connections to them."""

    name: str
    dialect: Dialect

    def open(self) -> SqlFrictionStore:
        raise NotImplementedError

    def raw(self) -> Raw:
        """A connection to the last store's database with the raw_* and bare tables made
        (and checked against the real ones)."""
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

    def raw(self) -> Raw:
        return SqliteRaw(self.paths[-1], self.dialect)

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

    def raw(self) -> Raw:
        return PostgresRaw(self._connect(), self.schemas[-1], self.dialect)

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


class SqliteRaw(Raw):
    def __init__(self, path: Path, dialect: Dialect) -> None:
        from friction.sqlite_store import connect

        self.conn = connect(str(path))  # the same file and pragmas as the store
        for statement in (*RAW_DDL, BARE_DDL):
            self.conn.execute(dialect.sql(statement))
        _check_columns(
            lambda table: {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
        )
        self.inserts = [
            (table, f"INSERT INTO raw_{table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' * len(columns))})")
            for table, columns in WRITTEN_COLUMNS
        ]
        self.bare = f"INSERT INTO bench_bare VALUES ({','.join('?' * len(EVENT_COLUMNS))})"

    def write(self, written: Written) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for table, sql in self.inserts:
            if written[table]:
                self.conn.executemany(sql, written[table])
        self.conn.execute("COMMIT")

    def write_bare(self, rows: Batch) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self.bare, rows)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class PostgresRaw(Raw):
    def __init__(self, conn: Any, schema: str, dialect: Dialect) -> None:
        self.conn = conn
        for statement in (*RAW_DDL, BARE_DDL):
            conn.execute(dialect.sql(statement))

        def columns(table: str) -> set[str]:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, table),
            ).fetchall()
            return {row[0] for row in rows}

        _check_columns(columns)
        self.copies = [
            (table, f"COPY raw_{table} ({', '.join(columns)}) FROM STDIN")
            for table, columns in WRITTEN_COLUMNS
        ]
        self.bare = f"INSERT INTO bench_bare VALUES ({','.join(['%s'] * len(EVENT_COLUMNS))})"
        self.cur = conn.cursor()

    def write(self, written: Written) -> None:
        cur = self.cur
        cur.execute("BEGIN")
        for table, sql in self.copies:
            if written[table]:
                with cur.copy(sql) as copy:
                    for row in written[table]:
                        copy.write_row(row)
        cur.execute("COMMIT")

    def write_bare(self, rows: Batch) -> None:
        self.cur.execute("BEGIN")
        self.cur.executemany(self.bare, rows)  # pipelined
        self.cur.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# -- the measurements ------------------------------------------------------------------------


def _spread(values: Sequence[float], fmt: str) -> str:
    """The median of `values`, and their range when there are several."""
    median = format(statistics.median(values), fmt)
    if len(values) < 2:
        return median
    return f"{median}  (range {min(values):{fmt}} - {max(values):{fmt}})"


def measure_ingest(
    target: Target, n: int, batch: int, warmup: int, rounds: int, profile: bool = False
) -> None:
    """Each round: a fresh store ingests the events a batch at a time, and after each
    batch the same database takes the rows that batch wrote raw, then the bare reference:
    interleaved, the three see the same load. The first `warmup` batches are not timed:
    connection caches and prepared statements warm, so none pays for them in its figure."""
    events = ingest_events(n + warmup * batch)
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    written = [written_rows(b, i) for i, b in enumerate(batches)]
    bare = [w["events"] for w in written]
    ingest_rates: list[float] = []
    raw_rates: list[float] = []
    bare_rates: list[float] = []
    ratios: list[float] = []
    points = 0
    for _ in range(rounds):
        store = target.open()
        raw = target.raw()
        ingest_s = raw_s = bare_s = 0.0
        try:
            for i, b in enumerate(batches):
                started = time.perf_counter()
                result = ingest(store, b)
                ingested = time.perf_counter()
                raw.write(written[i])
                raw_done = time.perf_counter()
                raw.write_bare(bare[i])
                bare_done = time.perf_counter()
                assert len(result.stored) == len(b), "every generated event is new and valid"
                if i >= warmup:
                    ingest_s += ingested - started
                    raw_s += raw_done - ingested
                    bare_s += bare_done - raw_done
            points = len(store.stuck_points(limit=1000))
            assert sum(store.counts_by_kind().values()) == len(events)
        finally:
            raw.close()
            store.close()
        ingest_rates.append(n / ingest_s)
        raw_rates.append(n / raw_s)
        bare_rates.append(n / bare_s)
        ratios.append(raw_s / ingest_s)
    timed_written = written[warmup:]
    per_event = ", ".join(
        f"{table} {sum(len(w[table]) for w in timed_written) / n:.2f}"
        for table, _ in WRITTEN_COLUMNS
    )
    raw_how = "executemany" if target.name == "sqlite" else "COPY"
    print(f"ingest: {n:,} events in batches of {batch} ({points} stuck points, "
          f"{len(events) // EVENTS_PER_CASE:,} cases), after {warmup} warm-up batches, "
          f"median of {rounds} rounds")
    print(f"  rows written per event: {per_event}")
    print(f"  friction.ingest.ingest      events/s {_spread(ingest_rates, ',.0f')}")
    print(f"  raw {raw_how + ' same rows':<23} events/s {_spread(raw_rates, ',.0f')}")
    print(f"  ratio ingest / raw                   {_spread(ratios, '.2f')}")
    print(f"  reference: bare events table events/s {_spread(bare_rates, ',.0f')}")
    if profile:
        profile_ingest(target, batches, warmup)


def profile_ingest(target: Target, batches: Sequence[list[FrictionEvent]], warmup: int) -> None:
    """One more ingest run (not counted above) under pyinstrument, its frames over 2%."""
    from pyinstrument import Profiler

    store = target.open()
    try:
        for b in batches[:warmup]:
            ingest(store, b)
        profiler = Profiler(interval=0.0005)
        with profiler:
            for b in batches[warmup:]:
                ingest(store, b)
    finally:
        store.close()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


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
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds (median)")
    parser.add_argument("--profile", action="store_true", help="profile one more ingest run")
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
                measure_ingest(target, args.events, args.batch, args.warmup, args.rounds,
                               args.profile)
                print(f"  on {target.describe()}")
            if not args.skip_backlog:
                measure_backlog(target, sizes, args.repeat)
        finally:
            target.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
