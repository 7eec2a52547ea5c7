"""The notebook's reads at city scale, on SQLite or PostgreSQL: each read's time at the
largest --sizes against its time at the smallest, measured in the same run.

Synthetic notebook: EVENTS_PER_CASE events per case, cases opened over the YEAR before a
fixed processing date (never today), spread evenly, at 12 centres and two bundles with
three steps each. Loaded in bulk (COPY on PostgreSQL, big executemany transactions on
SQLite), then one rebuild_rollups() call, as the product would repair its rollups. Each
size adds to the same database (1e5 events, then up to 1e6: the same year, 10x denser).

Timed at each size (p50 and p99 over --repeat calls after a warm-up), ratio big / small:
the backlog, the stuck-point page, each report grouping (all time, and one month), each
dashboard chart's query (unfiltered, one month, one centre) and the whole dashboard. The
OCEL export runs in a subprocess per size: its wall time and peak RSS (ratio big / small:
memory must stay flat in the event count). Reads from rollups should give ratios near 1.

    .venv/bin/python bench/notebook_scale.py --store sqlite
    .venv/bin/python bench/notebook_scale.py --store postgres --sizes 1e6,1e7
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.friction_ingest import PostgresTarget, SqliteTarget, Target, prototypes
from friction.burden import default_burden_table
from friction.dashboard import build_dashboard
from friction.store.dashboard import DashboardFilter
from friction.store.rollups import EVENT_COLUMNS, event_params
from friction.store.sql import SqlFrictionStore
from kernel.china_time import CHINA_TZ

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# The processing date the data is relative to: cases opened in the year before it.
PROCESSING = datetime(2025, 12, 31, tzinfo=CHINA_TZ)
YEAR = timedelta(days=360)
START = PROCESSING - YEAR
TODAY = PROCESSING.date()
MONTH = (PROCESSING - timedelta(days=30), PROCESSING)  # local midnights
EVENTS_PER_CASE = 10
CENTRES = tuple(f"centre-{i:02d}" for i in range(12))
BUNDLES = ("employment-hardship", "residence-permit")
STEPS = ("registration", "insurance", "review")
STATUSES = ("completed",) * 12 + ("open",) * 4 + ("not_eligible", "withdrawn", "failed")
LOAD_CHUNK = 100_000
ROLLUP_TABLES = ("kind_days", "case_days", "step_days", "point_days", "breach_days")
GOLDEN = 0.6180339887498949

CASE_COLUMNS = ("case_id", "bundle", "bundle_version", "centre", "channel", "status",
                "opened_at", "closed_at", "trips", "fields_total", "fields_prefilled",
                "working_days", "clerk_minutes")
STEP_COLUMNS = ("case_id", "step", "ordinal", "status", "started_at", "finished_at",
                "working_days", "rounds", "fields_total", "fields_prefilled")


# -- synthetic notebook ------------------------------------------------------------------------


def _opened(k: int) -> datetime:
    # A low-discrepancy spread: case k's time does not depend on how many cases there
    # are, so a bigger size is the same year, denser.
    return (START + YEAR * ((k * GOLDEN) % 1.0)).astimezone(UTC)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat(timespec="microseconds")


def case_rows(
    start: int, stop: int
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """`cases` and `case_steps` rows for cases start..stop."""
    cases: list[tuple[object, ...]] = []
    steps: list[tuple[object, ...]] = []
    for k in range(start, stop):
        rng = random.Random(k)
        case_id = f"S{k:08d}"
        opened = _opened(k)
        status = rng.choice(STATUSES)
        closed = None if status == "open" else opened + timedelta(days=rng.randint(1, 20))
        total = 24
        prefilled = rng.randint(0, total)
        wdays = rng.randint(1, 12) if status == "completed" else None
        cases.append((case_id, BUNDLES[k % 2], 3, CENTRES[k % len(CENTRES)], "window",
                      status, _iso(opened), _iso(closed), rng.randint(1, 3), total, prefilled,
                      wdays, float(rng.randint(5, 60))))
        for i, step in enumerate(STEPS):
            done = status == "completed" or (status != "open" and i == 0)
            s_status = "approved" if done else ("pending" if status == "open" else status)
            started = opened + timedelta(hours=i)
            finished = started + timedelta(hours=2) if done else None
            steps.append((case_id, step, i, s_status, _iso(started), _iso(finished),
                          rng.randint(1, 4) if done else None, 1, 8, prefilled // 3))
    return cases, steps


def event_rows(start_case: int, stop_case: int) -> Iterator[tuple[object, ...]]:
    """`events` rows for the cases start_case..stop_case, EVENTS_PER_CASE each, from the
    bench prototypes of the case's bundle: only ids, time, centre and body vary."""
    burden = default_burden_table()
    encode = msgspec.json.Encoder().encode
    replace = msgspec.structs.replace
    by_bundle = {b: [p for p in prototypes() if p.bundle == b] for b in BUNDLES}
    fixed = {b: [event_params(p, burden) for p in ps] for b, ps in by_bundle.items()}
    for k in range(start_case, stop_case):
        rng = random.Random(-k - 1)
        bundle = BUNDLES[k % 2]
        protos, params = by_bundle[bundle], fixed[bundle]
        case_id = f"S{k:08d}"
        centre = CENTRES[k % len(CENTRES)]
        opened = _opened(k)
        for n in range(EVENTS_PER_CASE):
            j = rng.randrange(len(protos))
            f = params[j]
            at = opened + timedelta(minutes=17 * n + 1)
            event_id = f"{case_id}/{n}"
            body = encode(replace(protos[j], event_id=event_id, case_id=case_id,
                                  occurred_at=at, centre=centre))
            day = at.astimezone(CHINA_TZ).date().isoformat()
            yield (event_id, f[1], f[2], f[3], f[4], f[5], case_id, centre, f[8], _iso(at),
                   f[10], f[11], f[12], body, f[14], f[15], day, f[17])


def _insert_sql(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join([mark] * len(columns))})"


def bulk_load(target: Target, start_case: int, stop_case: int) -> None:
    """Cases, steps and events of cases start..stop straight into their tables."""
    tables: list[tuple[str, Sequence[str], Callable[[int, int], Iterator[tuple[object, ...]]]]]
    tables = [
        ("cases", CASE_COLUMNS, lambda a, b: iter(case_rows(a, b)[0])),
        ("case_steps", STEP_COLUMNS, lambda a, b: iter(case_rows(a, b)[1])),
        ("events", EVENT_COLUMNS, event_rows),
    ]
    per = LOAD_CHUNK // EVENTS_PER_CASE  # cases per chunk
    if isinstance(target, SqliteTarget):
        conn = sqlite3.connect(target.paths[-1], isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = OFF")  # a load to measure reads
            for a in range(start_case, stop_case, per):
                b = min(stop_case, a + per)
                conn.execute("BEGIN")
                for table, columns, rows in tables:
                    conn.executemany(_insert_sql(table, columns, "?"), rows(a, b))
                conn.execute("COMMIT")
            conn.execute("ANALYZE")
        finally:
            conn.close()
        return
    assert isinstance(target, PostgresTarget)
    with target._connect() as conn:
        cur = conn.cursor()
        for a in range(start_case, stop_case, per):
            b = min(stop_case, a + per)
            with conn.transaction():
                for table, columns, rows in tables:
                    with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                        for row in rows(a, b):
                            copy.write_row(row)
        conn.execute("ANALYZE")


# -- measuring ---------------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(p50, p99) milliseconds over `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    p99 = statistics.quantiles(times, n=100, method="inclusive")[98] if len(times) > 1 else times[0]
    return statistics.median(times), p99


def reads(store: SqlFrictionStore) -> dict[str, Callable[[], object]]:
    """Every read the issue names, by a stable label."""
    since, until = MONTH
    month = DashboardFilter(since=since, until=until)
    centre = DashboardFilter(centre=CENTRES[3])
    both = DashboardFilter(since=since, until=until, centre=CENTRES[3], bundle=BUNDLES[0])
    top = store.stuck_points(limit=1)
    fp = top[0].fingerprint if top else ""
    out: dict[str, Callable[[], object]] = {
        "backlog": lambda: store.stuck_points(limit=50),
        "backlog_bundle": lambda: store.stuck_points(bundle=BUNDLES[1], limit=50),
        "stuck_point_page": lambda: (store.stuck_point(fp), store.trend(fp)),
    }
    for group in ("bundle", "step", "centre"):
        out[f"report_{group}"] = partial(store.report_sums, group, None, None)
        out[f"report_{group}_month"] = partial(store.report_sums, group, since, until)
    for name, flt in (("all", DashboardFilter()), ("month", month), ("centre", centre),
                      ("month_centre_bundle", both)):
        out[f"chart_kind_days_{name}"] = partial(store.kind_days, flt)
        out[f"chart_point_sums_{name}"] = partial(store.point_sums, flt)
        out[f"chart_sla_breaches_{name}"] = partial(store.sla_breaches, flt)
        out[f"chart_register_{name}"] = partial(store.register_counts, flt)
        out[f"dashboard_{name}"] = partial(build_dashboard, store, flt)
    return out


PAGE_PASSWORD = "bench-password-0123"


class Pages:
    """The console served in-process (Litestar's TestClient) over the bench's store,
    logged in as an analyst and a developer, and each page's own queries alone. The
    Temporal client is lazy and never called: these pages read the notebook only."""

    def __init__(self, store: SqlFrictionStore) -> None:
        import asyncio
        import re

        from litestar.testing import TestClient
        from temporalio.client import Client

        from friction.sqlite_store import SqliteFrictionStore
        from gateway.accounts import AccountBook
        from gateway.app import create_app
        from workflows.calendar_source import load_calendar
        from workflows.definition import Catalogue

        self.store = store
        self._accounts_db = SqliteFrictionStore(":memory:")
        book = AccountBook(self._accounts_db)
        book.add("analyst", PAGE_PASSWORD, ("analyst", "developer"), display_name="数据局")
        temporal = asyncio.run(Client.connect("127.0.0.1:1", lazy=True))
        app = create_app(
            temporal=temporal, store=store, catalogue=Catalogue.load(),
            calendar=load_calendar(), secret=b"notebook-scale-bench-secret-0123", accounts=book,
            sweep_every=None, access_log_retention=None, secure_cookies=False,
            clock=lambda: PROCESSING,  # the trends' window: the data's date, never today
        )
        self.client = TestClient(app)
        self.client.__enter__()
        form = self.client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        assert token is not None, "the login form has its CSRF token"
        done = self.client.post("/login", data={
            "username": "analyst", "password": PAGE_PASSWORD, "_csrf_token": token[1]},
            follow_redirects=False)
        assert done.status_code == 303, done.text

    def get(self, path: str) -> None:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])

    def dashboard_queries(self) -> None:
        """What the dashboard page reads, as its handler asks the services for it."""
        from friction.dashboard import filter_options
        from friction.reports import DEFAULT_MIN_GROUP
        from friction.satisfaction import build_satisfaction

        filter_options(self.store)
        build_dashboard(self.store, DashboardFilter(), top=10, min_group=DEFAULT_MIN_GROUP)
        build_satisfaction(self.store, DashboardFilter(), TODAY)

    def backlog_queries(self) -> None:
        """What the backlog page reads: the costliest fifty, their trends, the owners."""
        from friction.notebook import backlog
        from gateway.console.backlog_query import trend_window

        backlog(self.store, None, 50)
        self.store.recent_counts(*trend_window(TODAY))
        self.store.backlog_items()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self._accounts_db.close()


def measure_pages(store: SqlFrictionStore, repeat: int) -> dict[str, tuple[float, float]]:
    pages = Pages(store)
    try:
        return {
            "page_dashboard": timed(partial(pages.get, "/console/dashboard/"), repeat),
            "page_dashboard_queries": timed(pages.dashboard_queries, repeat),
            "page_backlog": timed(partial(pages.get, "/console/backlog/"), repeat),
            "page_backlog_queries": timed(pages.backlog_queries, repeat),
        }
    finally:
        pages.close()


def export_child(argv: Sequence[str]) -> int:
    """In a subprocess: export OCEL for the whole notebook to /dev/null, print JSON with
    seconds, bytes and peak RSS."""
    kind, where = argv
    store: SqlFrictionStore
    if kind == "sqlite":
        from friction.sqlite_store import SqliteFrictionStore

        store = SqliteFrictionStore(Path(where))
    else:
        from friction.postgres_store import PostgresFrictionStore

        dsn, schema = where.rsplit("#", 1)
        store = PostgresFrictionStore(dsn, schema=schema)
    started = time.perf_counter()
    written = 0
    try:
        from friction import ocel

        with open(os.devnull, "wb") as sink:
            stream = getattr(ocel, "stream_ocel", None)
            if stream is not None:
                for chunk in stream(store.iter_cases(), store.iter_events()):
                    written += len(chunk)
                    sink.write(chunk)
            else:  # before the streaming export: the whole log in memory
                from friction.notebook import export_ocel

                body = ocel.encode(export_ocel(store))
                written = len(body)
                sink.write(body)
    finally:
        store.close()
    rss_kib = peak_rss_kib()
    print(json.dumps({"seconds": time.perf_counter() - started, "bytes": written,
                      "peak_rss_mib": rss_kib / 1024}))
    return 0


def peak_rss_kib() -> float:
    """This process's peak RSS. VmHWM, where Linux has it: getrusage's ru_maxrss keeps
    the parent's high-water mark across fork and exec, which would hide a small export
    behind a big benchmark process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_export(target: Target) -> dict[str, float]:
    if isinstance(target, SqliteTarget):
        where = ("sqlite", str(target.paths[-1]))
    else:
        assert isinstance(target, PostgresTarget)
        where = ("postgres", f"{target.dsn}#{target.schemas[-1]}")
    out = subprocess.run(
        [sys.executable, __file__, "--export-child", *where],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--export-child"]:
        return export_child(args_list[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", choices=("sqlite", "postgres"), required=True)
    parser.add_argument(
        "--dsn", default=os.environ.get("ONETHING_TEST_POSTGRES_DSN", DEFAULT_DSN),
        help="PostgreSQL to measure (a throw-away schema is created and dropped)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where SQLite files go")
    parser.add_argument("--sizes", default="1e5,1e6", help="events, e.g. 1e6,1e7")
    parser.add_argument("--repeat", type=int, default=15, help="calls per read and size")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-pages", action="store_true", help="no console pages")
    args = parser.parse_args(args_list)
    sizes = sorted(int(float(s)) for s in args.sizes.split(",") if s)

    figures: dict[int, dict[str, tuple[float, float]]] = {}
    exports: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="notebook-scale-", dir=args.dir) as tmp:
        target: Target = (
            SqliteTarget(Path(tmp)) if args.store == "sqlite" else PostgresTarget(args.dsn)
        )
        try:
            store = target.open()
            print(f"notebook_scale on {target.describe()}; {EVENTS_PER_CASE} events per case")
            loaded = 0
            try:
                for size in sizes:
                    cases = size // EVENTS_PER_CASE
                    started = time.perf_counter()
                    bulk_load(target, loaded, cases)
                    load_s = time.perf_counter() - started
                    loaded = cases
                    started = time.perf_counter()
                    store.rebuild_rollups()
                    rebuild_s = time.perf_counter() - started
                    print(f"size {size:,} events, {cases:,} cases: bulk load {load_s:.1f} s, "
                          f"rebuild_rollups {rebuild_s:.1f} s")
                    # What the rollup reads scan: rows grow with the data only until
                    # every (day, centre, bundle, step or stuck point) key is filled.
                    counts = {t: store._engine.fetch(f"SELECT count(*) FROM {t}")[0][0]
                              for t in ROLLUP_TABLES}
                    print("  rollup rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
                    figures[size] = {name: timed(fn, args.repeat)
                                     for name, fn in reads(store).items()}
                    if not args.skip_pages:
                        figures[size].update(measure_pages(store, args.repeat))
                    if not args.skip_export:
                        store.close()
                        exports[size] = run_export(target)
                        store = reopen(target)
            finally:
                store.close()
        finally:
            target.cleanup()
    report(sizes, figures, exports)
    return 0


def reopen(target: Target) -> SqlFrictionStore:
    if isinstance(target, SqliteTarget):
        from friction.sqlite_store import SqliteFrictionStore

        return SqliteFrictionStore(target.paths[-1])
    assert isinstance(target, PostgresTarget)
    from friction.postgres_store import PostgresFrictionStore

    return PostgresFrictionStore(target.dsn, schema=target.schemas[-1])


def report(
    sizes: list[int],
    figures: dict[int, dict[str, tuple[float, float]]],
    exports: dict[int, dict[str, float]],
) -> None:
    small, big = sizes[0], sizes[-1]
    print(f"{'read':34} {'p50 small':>10} {'p99 small':>10} {'p50 big':>10} {'p99 big':>10}"
          f" {'ratio p50':>9} {'ratio p99':>9}   (ms; ratio = {big:.0e} / {small:.0e})")
    for name, (p50_s, p99_s) in figures[small].items():
        p50_b, p99_b = figures[big][name]
        print(f"{name:34} {p50_s:10.2f} {p99_s:10.2f} {p50_b:10.2f} {p99_b:10.2f}"
              f" {p50_b / p50_s:9.2f} {p99_b / p99_s:9.2f}")
    for size in sizes:
        f = figures[size]
        for page in ("dashboard", "backlog"):
            if f"page_{page}" in f:
                print(f"page_ratio {page} {size:,} events: page / its queries "
                      f"p50 {f[f'page_{page}'][0] / f[f'page_{page}_queries'][0]:.2f} "
                      f"p99 {f[f'page_{page}'][1] / f[f'page_{page}_queries'][1]:.2f}")
    if exports:
        for size in sizes:
            e = exports[size]
            print(f"ocel_export {size:>12,} events: {e['seconds']:.1f} s, "
                  f"{e['bytes'] / 2**20:.1f} MiB written, peak RSS {e['peak_rss_mib']:.1f} MiB")
        print(f"ocel_export ratio time {exports[big]['seconds'] / exports[small]['seconds']:.2f}"
              f" peak_rss {exports[big]['peak_rss_mib'] / exports[small]['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
