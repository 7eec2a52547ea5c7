"""A worker killed with SIGKILL in the middle of an agency submission: the case finishes
on a new worker, every agency submission is registered once and every friction event is
stored once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    clerk_completes,
    known_values,
    set_behaviour,
    wait_for,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import clerk_answer, waiting_on_clerk
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.codec import PayloadKey, format_key, generate_key
from kernel.converter import data_converter
from kernel.events import ManualReentry
from workflows.bundle import BundleWorkflow
from workflows.case import SUBMIT_FIELDS, CaseProgress, FieldEntry
from workflows.definition import Catalogue

REPO = Path(__file__).resolve().parent.parent


# The worker seals payloads under this key (as `onething worker` always does); the test's
# client holds the same one.
RAW_KEY = generate_key()
KEY = PayloadKey("durability", RAW_KEY)


def start_worker(env: WorkflowEnvironment, agency_sim: ServedApp, db: Path, queue: str,
                 log: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "ONETHING_PAYLOAD_KEYS": format_key(KEY.id, RAW_KEY),
        "ONETHING_PSEUDONYM_KEY": "durability-test-key",
        "ONETHING_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "ONETHING_TASK_QUEUE": queue,
        "ONETHING_FRICTION_DB": str(db),
        "ONETHING_AGENCY_SIM_PORT": str(agency_sim.port),
        "ONETHING_WORKER_METRICS_PORT": "0",  # off: a fixed port would clash between runs
        "PYTHONPATH": str(REPO),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "worker"],
            cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT,
        )


async def registered(agency_sim: ServedApp, case_id: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{agency_sim.url}/admin/submissions",
                                  params={"case_id": case_id})
        response.raise_for_status()
        rows: list[dict[str, object]] = response.json()
        return rows


async def test_sigkilled_worker_mid_submission_duplicates_nothing(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    population: list[Citizen],
    task_queue: str,
    tmp_path: Path,
) -> None:
    db = tmp_path / "friction.db"
    log = tmp_path / "worker.log"
    citizen = citizen_where(population, ecerts=True, bank=True)
    start = bundle_start(Catalogue.load().default("employment-hardship"), citizen)
    first = start_worker(dev_env, fresh_agencies, db, task_queue, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        client = await Client.connect(dev_env.client.service_client.config.target_host,
                                      data_converter=data_converter([KEY]))
        handle = await client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue
        )
        progress = await wait_for(handle, waiting_on_clerk, timeout=60)
        # The agency registers a submission, then takes three seconds to answer: the
        # worker dies in between, so its retry must be answered from the agency's record.
        await set_behaviour(fresh_agencies, "hrss", latency_ms=3000)
        step = progress.steps[0]
        known = known_values(citizen)
        values = {f.name: clerk_answer(f, known, progress.steps[0].started_at.date())  # type: ignore[union-attr]
                  for f in step.fields if f.name in step.missing_fields}
        await handle.execute_update(SUBMIT_FIELDS, FieldEntry(step=step.id, values=values),
                                    result_type=CaseProgress)
        for _ in range(100):
            if await registered(fresh_agencies, start.case_id):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the submission never reached the agency")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        await set_behaviour(fresh_agencies, "hrss", latency_ms=0)

        second = start_worker(dev_env, fresh_agencies, db, task_queue, log)
        progress = await clerk_completes(handle, citizen)
        result = await handle.result()
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=10)

    assert first.returncode == -signal.SIGKILL
    assert progress.status == result.status == "completed"
    rows = await registered(fresh_agencies, start.case_id)
    assert sorted(str(r["step"]) for r in rows) == sorted(s.id for s in start.bundle.steps)
    assert all(r["registrations"] == 1 for r in rows), rows
    store = SqliteFrictionStore(db)
    try:
        events = store.events_for_case(start.case_id)
    finally:
        store.close()
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids)) == len(result.friction)
    assert sum(isinstance(e, ManualReentry) for e in events) == 8
