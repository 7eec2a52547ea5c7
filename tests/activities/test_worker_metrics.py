"""The worker process serves the Temporal SDK's own metrics for Prometheus.

The SDK's metrics runtime is process-global, so the worker runs as `onething worker` in
a subprocess of its own, as in production."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import ServedApp
from temporalio.testing import WorkflowEnvironment

from deploy.local import free_port
from kernel.codec import format_key, generate_key

REPO = Path(__file__).resolve().parents[2]


def start_worker(
    env: WorkflowEnvironment, agency_sim: ServedApp, queue: str, state: Path, port: int
) -> subprocess.Popen[bytes]:
    environment = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "ONETHING_"))  # nothing from the developer's shell
    }
    environment.update({
        "ONETHING_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "ONETHING_TASK_QUEUE": queue,
        "ONETHING_STATE_DIR": str(state),
        "ONETHING_AGENCY_SIM_PORT": str(agency_sim.port),
        "ONETHING_WORKER_METRICS_PORT": str(port),
        # A worker against a configured Temporal is given its keys; it never makes any.
        "ONETHING_PAYLOAD_KEYS": format_key("metrics", generate_key()),
        "ONETHING_PSEUDONYM_KEY": "worker-metrics-test-key",
        "PYTHONPATH": str(REPO),
    })
    with (state / "worker.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "worker"],
            cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT,
        )


async def test_worker_serves_temporal_sdk_metrics(
    dev_env: WorkflowEnvironment, agency_sim: ServedApp, task_queue: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    worker = start_worker(dev_env, agency_sim, task_queue, tmp_path, port)
    try:
        text = ""
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(300):
                assert worker.poll() is None, log.read_text()
                try:
                    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.HTTPError:
                    text = ""
                # Poller gauges appear once the worker polls the task queue.
                if "temporal_num_pollers" in text:
                    break
                await asyncio.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert "temporal_num_pollers" in text, log.read_text()
    assert f'task_queue="{task_queue}"' in text
    # Prometheus conventions: counters end in _total, durations are in seconds.
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if line.startswith("temporal_")}
    assert any(n.endswith("_total") for n in names), names
    assert not any(n.endswith(("_ms", "_milliseconds")) for n in names), names
    assert worker.returncode == 0, log.read_text()
