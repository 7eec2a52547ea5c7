"""The supervisor of `onething up` with small real processes: a part that dies comes back
after a backoff that grows, a part that keeps dying stops everything, every death and
return is logged, Temporal's environment is cleaned, and the parts die with `up`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.settings import Settings
from deploy.supervisor import (
    Child,
    RestartPolicy,
    Supervisor,
    describe_exit,
    foreign_environment,
)

ROOT = Path(__file__).resolve().parents[2]
PATIENCE = 60.0  # seconds; generous, the machine is shared
FAST = RestartPolicy(delay=0.05, cap=0.2, limit=5, window=300.0, stable_after=60.0)
SLEEPER = [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(600)"]


def _supervisor(tmp_path: Path, policy: RestartPolicy = FAST) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    settings = Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path / "state")})
    return Supervisor(settings, policy, out=out), out


def _ready(run: Child) -> bool:
    return "ready" in run.output()


def _tick_until(sup: Supervisor, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        assert sup.tick() is None, "no part should have been given up"
        assert time.monotonic() < deadline, "the supervisor never got there"
        time.sleep(0.02)


def test_a_killed_part_is_restarted_and_logged_when_back(tmp_path: Path) -> None:
    sup, out = _supervisor(tmp_path)
    try:
        first = sup.spawn("sleeper", SLEEPER, ready=_ready)
        _tick_until(sup, lambda: _ready(first))
        os.kill(first.pid, signal.SIGKILL)
        _tick_until(sup, lambda: "sleeper is back" in out.getvalue())
        second = sup.children[0]
        assert second.pid != first.pid and second.exited() is None
        lines = out.getvalue()
        assert f"sleeper (pid {first.pid}) killed by SIGKILL" in lines
        assert f"sleeper restarted (pid {second.pid})" in lines
        # Every line carries its time and is kept for operators beside the parts' logs.
        kept = (tmp_path / "state" / "logs" / "supervisor.log").read_text()
        assert kept == lines
        assert all(line[:4].isdigit() and " onething: " in line for line in kept.splitlines())
    finally:
        sup.stop_all()


def test_a_part_that_keeps_dying_stops_everything_with_growing_waits(tmp_path: Path) -> None:
    sup, out = _supervisor(tmp_path)
    try:
        steady = sup.spawn("steady", SLEEPER, ready=_ready)
        sup.spawn("crasher", [sys.executable, "-c",
                              "print('boom: no database', flush=True); raise SystemExit(3)"])
        assert sup.watch() == 1
        lines = out.getvalue()
        assert lines.count("crasher (pid") == FAST.limit
        assert "exited with code 3" in lines and "boom: no database" in lines  # its log tail
        waits = [line.split("restarts in ")[1].split(" s")[0]
                 for line in lines.splitlines() if "crasher restarts in" in line]
        assert waits == ["0.05", "0.1", "0.2", "0.2"]  # doubling, capped
        assert f"crasher died {FAST.limit} times within 300 s; stopping everything" in lines
        assert steady.exited() is None, "the others run until the caller stops them"
        assert "steady" not in lines
    finally:
        sup.stop_all()
    assert steady.exited() is not None


def test_temporal_runs_without_the_product_and_opentelemetry_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("ONETHING_PAYLOAD_KEYS", "k1:c2VjcmV0")
    monkeypatch.setenv("KEPT_FOR_TEMPORAL", "kept")
    sup, _ = _supervisor(tmp_path)
    show_env = ("import json, os; print(json.dumps(dict(os.environ)), flush=True); "
                "print('ready', flush=True); import time; time.sleep(600)")
    try:
        temporal = sup.spawn_temporal([sys.executable, "-c", show_env], ready=_ready)
        app = sup.spawn("worker", [sys.executable, "-c", show_env], ready=_ready)
        _tick_until(sup, lambda: _ready(temporal) and _ready(app))
        seen = json.loads(temporal.output().splitlines()[0])
        assert not [k for k in seen if k.startswith(("ONETHING_", "OTEL_"))]
        assert seen["KEPT_FOR_TEMPORAL"] == "kept"
        # The product's own parts keep them: they are their settings.
        theirs = json.loads(app.output().splitlines()[0])
        assert theirs["OTEL_TRACES_EXPORTER"] == "console"
        assert theirs["ONETHING_STATE_DIR"] == str(tmp_path / "state")
    finally:
        sup.stop_all()
    assert foreign_environment({"ONETHING_X": "1", "OTEL_Y": "2", "HOME": "/h"}) == {"HOME": "/h"}


def test_parts_die_with_a_supervisor_killed_outright(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from deploy.settings import Settings\n"
        "from deploy.supervisor import Supervisor\n"
        f"sup = Supervisor(Settings.from_env({{'ONETHING_STATE_DIR': {str(tmp_path)!r}}}))\n"
        f"child = sup.spawn('sleeper', {SLEEPER!r})\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
    assert supervisor.stdout is not None
    part = int(supervisor.stdout.readline())
    supervisor.kill()
    supervisor.wait()
    deadline = time.monotonic() + PATIENCE
    while _running(part):
        assert time.monotonic() < deadline, "the part outlived its supervisor"
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_exits_are_described_by_code_or_signal() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(0) == "exited with code 0"
    assert RestartPolicy().delay_after(1) == 1.0
    assert RestartPolicy().delay_after(10) == 30.0
