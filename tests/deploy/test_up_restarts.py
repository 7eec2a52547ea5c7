"""`onething up` keeps the product running: each part killed outright in turn comes back,
and the product serves a case again each time, with the README's tracing tip on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from test_embedded import ROOT, _alive, _children, _environment

from deploy.local import installed_binary

PATIENCE = 120.0  # seconds for any one thing to happen; the machine is shared
PARTS = ("agencies", "worker", "gateway", "temporal")  # Temporal last: the others survive it
CENTRE = "liangxi-chongan"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _part_of(pid: int) -> str | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv]
    if "start-dev" in words:
        return "temporal"
    if "deploy.cli" in words:
        return words[words.index("deploy.cli") + 1]
    return None  # the guard, for the instant before it execs the part


def _parts(up: int) -> dict[str, int]:
    return {part: pid for pid in _children(up) if (part := _part_of(pid)) is not None}


class Up:
    """The running `onething up`, its output in a file (a pipe nobody reads would fill)."""

    def __init__(self, state: Path, env: dict[str, str]) -> None:
        self.output_path = state.parent / "up.out"
        self.env = env
        with open(self.output_path, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", "up"], cwd=ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        self.gateway = f"http://127.0.0.1:{env['ONETHING_GATEWAY_PORT']}"
        self.agencies = f"http://127.0.0.1:{env['ONETHING_AGENCY_SIM_PORT']}"

    def output(self) -> str:
        return self.output_path.read_text()

    def until(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + PATIENCE
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"onething up exited with {self.proc.returncode} waiting for "
                            f"{what}:\n{self.output()}")
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not after {PATIENCE:.0f} s:\n{self.output()}")
            time.sleep(0.3)


def _temporal_serving(address: str, env: dict[str, str]) -> bool:
    """The server's own gRPC health check, asked with Temporal's CLI."""
    answer = subprocess.run(
        [installed_binary("temporal"), "operator", "cluster", "health", "--address", address],
        env={k: v for k, v in env.items() if not k.startswith("OTEL_")},
        capture_output=True, text=True, timeout=30,
    )
    return answer.returncode == 0 and "SERVING" in answer.stdout


def _serves_a_case(up: Up, token: str, attempt: int) -> str:
    """Every part answers: Temporal's health check, the gateway, a case opened (gateway
    and Temporal) and prefilled until it waits on the clerk (the worker asking the
    agencies), then listed in the worklist (Temporal's visibility)."""
    headers = {"Authorization": f"Bearer {token}"}
    up.until("Temporal serving",
             lambda: _temporal_serving(up.env["ONETHING_TEMPORAL_ADDRESS"], up.env))
    up.until("gateway healthy", lambda: httpx.get(f"{up.gateway}/healthz").status_code == 200)
    citizens: list[dict[str, object]] = []

    def population() -> bool:
        citizens[:] = httpx.get(f"{up.agencies}/admin/citizens", params={"limit": 20}).json()
        return bool(citizens)

    up.until("the agencies' population", population)
    body = {"bundle": "employment-hardship", "centre": CENTRE,
            "citizen_id_number": citizens[attempt]["id_number"]}
    opened: list[str] = []

    def open_case() -> bool:
        # Retried with the same key: a request the restart cut short names the same case.
        answer = httpx.post(f"{up.gateway}/api/cases", json=body, timeout=30,
                            headers={**headers, "Idempotency-Key": f"restart-{attempt}"})
        if answer.status_code == 201:
            opened.append(answer.json()["case_id"])
        return bool(opened)

    up.until("a case opened", open_case)
    case = opened[0]
    up.until(f"{case} waiting on the clerk", lambda: httpx.get(
        f"{up.gateway}/api/cases/{case}", headers=headers, timeout=30).json().get("awaiting")
        == "clerk")
    up.until(f"{case} in the worklist", lambda: case in [
        c["case_id"] for c in httpx.get(f"{up.gateway}/api/worklist", params={"centre": CENTRE},
                                        headers=headers, timeout=30).json()["cases"]])
    return case


def _kill_and_see_back(up: Up, part: str, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    up.until(f"{part} restarted", lambda: _parts(up.proc.pid).get(part) not in (None, pid))
    up.until(f"{part} back", lambda: f"onething: {part} is back" in up.output())


def test_up_brings_back_each_part_killed_outright(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = _environment(state)
    env["OTEL_TRACES_EXPORTER"] = "console"  # the README's tracing tip: Temporal ignores it
    up = Up(state, env)
    children: list[int] = []
    try:
        up.until("gateway healthy", lambda: httpx.get(f"{up.gateway}/healthz").status_code
                 == 200)
        first = dict(line.split(" ", 1)
                     for line in (state / "first-accounts.txt").read_text().splitlines())
        token = httpx.post(f"{up.gateway}/api/auth/token", json={
            "username": "clerk", "password": first["clerk"]}).json()["access_token"]
        _serves_a_case(up, token, 0)

        for attempt, part in enumerate(PARTS, start=1):
            before = _parts(up.proc.pid)
            assert set(before) == set(PARTS), before
            children += before.values()
            _kill_and_see_back(up, part, before[part])
            _serves_a_case(up, token, attempt)
            lines = up.output()
            assert f"onething: {part} (pid {before[part]}) killed by SIGKILL" in lines
            assert f"onething: {part} restarted (pid {_parts(up.proc.pid)[part]})" in lines
            # The others ran on: only the killed part has a new process.
            assert {p: pid for p, pid in _parts(up.proc.pid).items() if p != part} == {
                p: pid for p, pid in before.items() if p != part}
        children += _parts(up.proc.pid).values()
    finally:
        up.proc.send_signal(signal.SIGINT)
        try:
            up.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.proc.kill()
            up.proc.wait()
            pytest.fail(f"onething up did not stop on SIGINT:\n{up.output()}")

    assert up.proc.returncode == 0, up.output()
    assert [pid for pid in children if _alive(pid)] == []
    # Operators find the same lines beside the parts' logs.
    kept = (state / "logs" / "supervisor.log").read_text()
    for part in PARTS:
        assert f"onething: {part} is back" in kept
    # Traces were exported to the console by both of the product's traced processes.
    for traced in ("gateway", "worker"):
        log = (state / "logs" / f"{traced}.log").read_text()
        assert f'"service.name": "onething-{traced}"' in log, traced
