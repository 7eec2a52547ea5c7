"""bench/clerk_latency.py still runs from its one documented command: a couple of rounds,
and its report names every interaction with positive figures on both sides. No timing is
judged here; the benchmark's ratios are read by people, on a quiet machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTERACTIONS = ("open", "progress", "fields", "material", "worklist")


def test_the_clerk_latency_benchmark_reports_every_interaction() -> None:
    done = subprocess.run(
        [sys.executable, "bench/clerk_latency.py", "--rounds", "2", "--warmup", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in INTERACTIONS}
    assert set(rows) == set(INTERACTIONS), done.stdout
    for name, figures in rows.items():
        # gateway p50, p99, bare p50, p99, the ratio of the p99s
        assert len(figures) == 5, (name, figures)
        assert all(float(f) > 0 for f in figures), (name, figures)
