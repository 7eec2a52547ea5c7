"""The throughput benchmark still runs: two cases of each kind, one round. Its figures are
not judged here (a shared machine times nothing reliably), only that it prints them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"


def test_the_benchmark_prints_rates_ratio_and_history_sizes() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bundle_throughput.py"),
         "--cases", "2", "--concurrency", "2", "--rounds", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    ratio = re.search(rf"^ratio bundle/bare .*median +{NUMBER}$", out, re.M)
    assert ratio and float(ratio[1]) > 0, out
    history = re.search(rf"^history per case: bundle {NUMBER} KB {NUMBER} events, "
                        rf"bare {NUMBER} KB {NUMBER} events$", out, re.M)
    assert history and all(float(history[i]) > 0 for i in range(1, 5)), out
    work = re.search(rf"^per case: {NUMBER} activities, {NUMBER} updates, {NUMBER} queries",
                     out, re.M)
    assert work and float(work[1]) > 0 and float(work[2]) > 0, out
    assert re.search(r"^bundle history split KB: start input \d", out, re.M), out
    cpu = re.search(rf"^CPU ratio bare/bundle +{NUMBER}$", out, re.M)
    assert cpu and float(cpu[1]) > 0, out
