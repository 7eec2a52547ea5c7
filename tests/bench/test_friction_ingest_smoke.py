"""The ingest benchmark still runs and prints its figures (bench/friction_ingest.py), on
both stores, with a handful of events: a check that it has not rotted, never a timing
threshold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.friction.conftest import postgres_dsn, postgres_unreachable

BENCH = Path(__file__).resolve().parents[2] / "bench" / "friction_ingest.py"
FIGURES = {
    "ingest": r"friction\.ingest\.ingest\s+events/s ([\d,]+)",
    "raw": r"raw (?:executemany|COPY) same rows\s+events/s ([\d,]+)",
    "ratio": r"ratio ingest / raw\s+([\d.]+)  \(range [\d.]+ - [\d.]+\)",
    "bare": r"reference: bare events table events/s ([\d,]+)",
}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_ingest_benchmark_prints_its_rates_and_ratio(store: str, tmp_path: Path) -> None:
    if store == "postgres" and (why := postgres_unreachable(postgres_dsn())):
        pytest.skip(f"PostgreSQL at {postgres_dsn()}: {why}")
    out = subprocess.run(
        [sys.executable, str(BENCH), "--store", store, "--dsn", postgres_dsn(),
         "--dir", str(tmp_path), "--events", "400", "--batch", "100", "--warmup", "1",
         "--rounds", "2", "--skip-backlog"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    for name, pattern in FIGURES.items():
        found = re.search(pattern, out)
        assert found, f"no {name} figure in:\n{out}"
        assert float(found.group(1).replace(",", "")) > 0, out
    assert re.search(r"rows written per event: events 1\.00, stuck_point_cases [\d.]+", out)
