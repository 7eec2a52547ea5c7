"""Cases per second of the employment-hardship bundle with instant agencies, against a
bare workflow running the same number of activities, on the same dev server in the same
run. Prints both rates and their ratio; machines here are shared, so only the ratio is
meant to be compared between runs.

    python bench/bundle_throughput.py --cases 40 --concurrency 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvicorn
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.agency_calls import AgencyCalls
from activities.friction_calls import FrictionCalls
from activities.worker import workflow_runner
from bench.bare import BareWorkflow, noop
from deploy.local import free_port, installed_binary
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app
from deploy.sim.clerk import TemporalDesk, serve_case
from deploy.sim.population import generate, lookup_values
from deploy.temporal import dev_server_search_attributes
from friction.sqlite_store import SqliteFrictionStore
from kernel.converter import DATA_CONVERTER
from workflows.bundle import BundleWorkflow
from workflows.calendar_source import load_calendar
from workflows.case import CaseStart
from workflows.definition import LOOKUP_SOURCES, Catalogue


async def rate(n: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def activities_in(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events)


async def main(cases: int, concurrency: int) -> None:
    citizens = generate(seed=11, size=max(cases, 50))
    definition = Catalogue.load().default("employment-hardship")
    calendar = load_calendar()
    args = dev_server_search_attributes()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_extra_args=args,
        data_converter=DATA_CONVERTER,
    )
    port = free_port()
    sim = uvicorn.Server(uvicorn.Config(create_app(citizens), port=port, log_level="warning"))
    sim_task = asyncio.create_task(sim.serve())
    while not sim.started:
        await asyncio.sleep(0.02)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as state:
        store = SqliteFrictionStore(Path(state) / "friction.db")
        async with httpx.AsyncClient(timeout=10) as http:
            agencies = AgencyCalls({a: f"http://127.0.0.1:{port}/{a}" for a in AGENCIES}, http)
            friction = FrictionCalls(store)
            worker = Worker(
                env.client,
                task_queue=queue,
                workflows=[BundleWorkflow, BareWorkflow],
                activities=[
                    agencies.look_up, agencies.submit_step, agencies.poll_decision,
                    friction.record_friction, friction.record_case, noop,
                ],
                workflow_runner=workflow_runner(),
                max_concurrent_activities=200,
            )
            async with worker:
                async def bundle_case(i: int) -> None:
                    citizen = citizens[i % len(citizens)]
                    case_id = f"bench-{uuid.uuid4().hex[:12]}"
                    handle = await env.client.start_workflow(
                        BundleWorkflow.run,
                        CaseStart(case_id=case_id, bundle=definition, calendar=calendar,
                                  citizen_id_number=citizen.id_number, centre="bench"),
                        id=case_id, task_queue=queue,
                    )
                    known: dict[str, str] = {}
                    for source in LOOKUP_SOURCES:
                        known.update(lookup_values(citizen, source) or {})
                    await serve_case(TemporalDesk(handle), known, timeout=120)
                    await handle.result()
                    last_case[0] = case_id

                last_case = [""]
                await rate(3, 3, bundle_case)  # warm-up: imports, sandbox, server caches
                per_case = await activities_in(env.client, last_case[0])

                async def bare_case(i: int) -> None:
                    await env.client.execute_workflow(
                        BareWorkflow.run, per_case, id=f"bare-{uuid.uuid4().hex[:12]}",
                        task_queue=queue,
                    )

                await rate(3, 3, bare_case)
                bundle_rate = await rate(cases, concurrency, bundle_case)
                bare_rate = await rate(cases, concurrency, bare_case)
        store.close()
    sim.should_exit = True
    await sim_task
    await env.shutdown()
    print(f"activities per case            {per_case}")
    print(f"bundle cases/s (with clerk)    {bundle_rate:8.2f}")
    print(f"bare workflows/s (same acts)   {bare_rate:8.2f}")
    print(f"ratio bundle/bare              {bundle_rate / bare_rate:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    a = parser.parse_args()
    asyncio.run(main(a.cases, a.concurrency))
