"""The embedded default end to end: `onething up` as a user runs it, the demo against it,
and a Ctrl-C that leaves no process behind."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from stat import S_IMODE

import httpx
import pytest
from conftest import payloads_in
from google.protobuf.json_format import MessageToDict
from personal_scan import PersonalValues, citizens_of, total
from temporalio.client import Client

from deploy.local import free_port
from kernel.codec import EncryptionCodec, parse_keys
from workflows.definition import Catalogue

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0

# Children are found through /proc; the embedded default itself runs anywhere.
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _distinct_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _environment(state: Path) -> dict[str, str]:
    temporal, ui, gateway, agencies, worker_metrics = _distinct_ports(5)
    # Nothing from the caller's ONETHING_* may point this run at another installation.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONETHING_")}
    env.update(
        ONETHING_STATE_DIR=str(state),
        ONETHING_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal}",
        ONETHING_TEMPORAL_UI_PORT=str(ui),
        ONETHING_GATEWAY_PORT=str(gateway),
        ONETHING_AGENCY_SIM_PORT=str(agencies),
        ONETHING_WORKER_METRICS_PORT=str(worker_metrics),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def _wait_healthy(up: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if up.poll() is not None:
            output, _ = up.communicate()
            pytest.fail(f"onething up exited with {up.returncode}:\n{output}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} not healthy after {START_TIMEOUT:.0f} s")


def _log_in(browser: httpx.Client, username: str, password: str) -> None:
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', browser.get("/login").text)
    assert csrf is not None
    browser.post("/login", data={"username": username, "password": password,
                                 "_csrf_token": csrf.group(1)})


def _the_ui_decodes_through_the_gateway(
    env: dict[str, str], gateway: str, first: dict[str, str]
) -> None:
    """The Temporal UI is told to decode at the gateway, and a sealed payload of a demo
    case, sent as the UI sends it with the admin's session, opens; the auditor sees it."""
    ui = f"http://127.0.0.1:{env['ONETHING_TEMPORAL_UI_PORT']}"
    settings = httpx.get(f"{ui}/api/v1/settings", timeout=10).json()
    assert settings["Codec"]["Endpoint"] == f"{gateway}/codec"

    async def a_sealed_input() -> dict[str, object]:
        plain = await Client.connect(env["ONETHING_TEMPORAL_ADDRESS"])  # no keys
        async for execution in plain.list_workflows('WorkflowType = "BundleWorkflow"'):
            history = await plain.get_workflow_handle(execution.id).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            return MessageToDict(started.input)
        raise AssertionError("the demo left no bundle case")

    sealed = asyncio.run(a_sealed_input())
    [payload] = sealed["payloads"]  # type: ignore[misc]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
    with httpx.Client(base_url=gateway, timeout=10) as browser:
        _log_in(browser, "admin", first["admin"])
        opened = browser.post("/codec/decode", json=sealed,
                              headers={"Origin": ui, "X-Namespace": "default"})
        assert opened.status_code == 200, opened.text
        assert opened.headers["access-control-allow-origin"] == ui
        [plain] = opened.json()["payloads"]
        assert base64.b64decode(plain["metadata"]["encoding"]) == b"json/plain"
        assert "citizen_id_number" in json.loads(base64.b64decode(plain["data"]))
    with httpx.Client(base_url=gateway, timeout=10) as auditor:
        token = auditor.post("/api/auth/token", json={
            "username": "auditor", "password": first["auditor"]}).json()["access_token"]
        log = auditor.get("/api/access-log", params={"username": "admin"},
                          headers={"Authorization": f"Bearer {token}"}).json()
        assert [e["action"] for e in log["entries"]] == ["decode_payloads"]
async def _history_bytes(address: str, codec: EncryptionCodec) -> tuple[bytes, bytes, int]:
    """Every payload of every case history Temporal holds, as stored and as opened with
    the installation's keys, and how many histories there were."""
    client = await Client.connect(address)
    stored, opened, histories = bytearray(), bytearray(), 0
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        histories += 1
        for event in history.events:
            for payload in payloads_in(event):
                stored += payload.SerializeToString()
                opened += b"".join(p.SerializeToString() for p in await codec.decode([payload]))
    return bytes(stored), bytes(opened), histories


def _scan_personal_values(env: dict[str, str], state: Path) -> PersonalValues:
    """While the product runs: the simulated residents' values, and proof that the case
    histories hold them (opened with the keys) though not in what Temporal stores."""
    agencies = f"http://127.0.0.1:{env['ONETHING_AGENCY_SIM_PORT']}"
    residents = httpx.get(f"{agencies}/admin/citizens", timeout=30)
    values = PersonalValues(citizens_of(residents.content))
    codec = EncryptionCodec(parse_keys((state / "payload.keys").read_text()))
    stored, opened, histories = asyncio.run(_history_bytes(env["ONETHING_TEMPORAL_ADDRESS"], codec))
    in_opened, in_stored = values.count(opened), values.count(stored)
    print(f"{histories} case histories; personal values in their payloads opened with the "
          f"keys: {dict(in_opened)}; as Temporal stores them: {dict(in_stored)}")
    # The control: the scan sees the residents' values wherever they are in clear.
    assert in_opened["id_number"] > 0 and in_opened["name"] > 0, in_opened
    assert +in_stored == Counter(), in_stored
    return values


def test_up_serves_the_demo_and_stops_cleanly(tmp_path: Path) -> None:
    env = _environment(tmp_path / "state")
    gateway = f"http://127.0.0.1:{env['ONETHING_GATEWAY_PORT']}"
    up = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "up"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: list[int] = []
    try:
        _wait_healthy(up, f"{gateway}/healthz")
        children = _children(up.pid)
        assert len(children) == 4, "temporal, agencies, worker and gateway"

        demo = subprocess.run(
            [sys.executable, "-m", "deploy.cli", "demo", "--cases", "6",
             "--cases-per-bundle", "2"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        report = demo.stdout + demo.stderr
        assert demo.returncode == 0, report
        # Every bundle of the catalogue ran, and each of its cases completed.
        # (an applicant may be told at once of a requirement they cannot meet today, and a
        # case may be held for its window to open, by the hour the test runs).
        for bundle in Catalogue.load().ids():
            if bundle != "employment-hardship":
                served = re.search(rf"^{bundle}: (\d) of (\d) completed", demo.stdout, re.M)
                assert served is not None, report
                assert served.group(1) == served.group(2), report
        assert re.search(r"^\d+ completed, 0 failed", demo.stdout, re.M), report
        assert "flexible-insurance-enrollment" in demo.stdout, report

        # The state folder is its owner's only; the payload keys sealing every history
        # were made once in it, readable by the owner alone.
        state = tmp_path / "state"
        assert S_IMODE(state.stat().st_mode) == 0o700
        assert S_IMODE((state / "payload.keys").stat().st_mode) == 0o600

        # The first start made an account per staff role: the clerk logs into the console.
        first = dict(
            line.split(" ", 1)
            for line in (tmp_path / "state" / "first-accounts.txt").read_text().splitlines()
        )
        assert set(first) == {"clerk", "analyst", "developer", "admin", "auditor"}
        with httpx.Client(base_url=gateway, timeout=10) as browser:
            form = browser.get("/login").text
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form)
            assert csrf is not None
            logged_in = browser.post("/login", data={
                "username": "clerk", "password": first["clerk"], "_csrf_token": csrf.group(1)})
            assert logged_in.headers["location"] == "/console/desk"
            assert "待我办理" in browser.get("/console/desk").text
        _the_ui_decodes_through_the_gateway(env, gateway, first)

        values = _scan_personal_values(env, state)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            output, _ = up.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            output, _ = up.communicate()
            pytest.fail(f"onething up did not stop on SIGINT:\n{output}")

    assert up.returncode == 0, output
    for line in ("Temporal gRPC", "gateway API", "console", "OpenAPI", "metrics", "state folder",
                 "console accounts"):
        assert line in output
    assert [pid for pid in children if _alive(pid)] == []
    assert (tmp_path / "state" / "temporal.db").exists()
    assert (tmp_path / "state" / "logs" / "worker.log").exists()

    # Everything the product left on disk (Temporal's database, the notebook, the outbox,
    # logs, keys and accounts) holds no resident's ID number, mobile number, name or address.
    hits = values.scan_folder(state)
    print(f"personal values on disk after the demo: {dict(total(hits))} in "
          f"{sum(1 for p in state.rglob('*') if p.is_file())} files")
    assert hits == {}, hits
