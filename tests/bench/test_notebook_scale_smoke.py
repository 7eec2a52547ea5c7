"""bench/notebook_scale.py still runs: tiny sizes on SQLite, the printed table's shape
and its ratios present and positive (never a timing threshold)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "notebook_scale.py"
NUMBER = r"(\d+\.\d+)"


def test_the_scale_benchmark_prints_its_ratios(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--store", "sqlite", "--sizes", "200,1000",
         "--repeat", "2", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    rows = {m[1]: [float(x) for x in m.groups()[1:]] for m in re.finditer(
        rf"^(\w+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$",
        out, re.MULTILINE)}
    for read in ("backlog", "stuck_point_page", "report_bundle", "report_step_month",
                 "chart_point_sums_month", "chart_sla_breaches_centre", "dashboard_all",
                 "page_dashboard", "page_backlog"):
        assert read in rows, (read, out)
        assert all(v > 0 for v in rows[read]), (read, rows[read])
    for page in ("dashboard", "backlog"):
        ratio = re.search(rf"^page_ratio {page} 1,000 events: page / its queries "
                          rf"p50 {NUMBER} p99 {NUMBER}$", out, re.MULTILINE)
        assert ratio and float(ratio[1]) > 0, out
    export = re.search(rf"^ocel_export ratio time {NUMBER} peak_rss {NUMBER}$", out,
                       re.MULTILINE)
    assert export and float(export[1]) > 0 and float(export[2]) > 0, out
