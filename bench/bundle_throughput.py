"""Cases per second of the employment-hardship bundle with instant agencies and the
simulated clerk, against a bare workflow that asks the same of the engine, on the same
dev server and worker in the same run.

Each bare case mirrors one bundle case of the same round, read from that case's history
and from its clerk's calls (bench/bare.py): the same activities with payloads of the same
sizes, scheduled together where the bundle scheduled them together, the same number of
updates at the same points, and as many queries between them as the clerk made. So the
ratio measures our own code (the workflow's logic, its progress view, the agencies'
simulator and the activities' HTTP), not Temporal's. Rounds alternate bundle and bare
runs; the machine is shared, so only the ratios (per round and their median) mean
anything between runs. Also printed: history bytes and events per case of both, and the
bundle history's split by kind of payload.

    .venv/bin/python bench/bundle_throughput.py --cases 40 --concurrency 10 --rounds 3
    .venv/bin/python bench/bundle_throughput.py --cases 40 --rounds 1 --profile

--profile samples the process with pyinstrument during the timed rounds and prints its
top entries. Workflow tasks then run on the event loop's thread (the worker's debug mode)
instead of its thread pool, so the sampler sees them too, for both kinds of case alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.agency_calls import AgencyCalls
from activities.friction_calls import FrictionCalls
from activities.worker import PASSTHROUGH
from bench.bare import DONE, BareCaseWorkflow, BarePlan, payload, plan_of
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
from workflows.case import CaseProgress, CaseStart
from workflows.definition import LOOKUP_SOURCES, Catalogue

PROFILE_TOP = 30  # entries of the profile printed
POLL_EVERY = 0.1  # seconds: the simulated clerk's wait between progress queries


class CountingDesk(TemporalDesk):
    """The clerk's desk, counting the queries made before each update and after the last:
    the bare case makes as many."""

    def __init__(self, handle: WorkflowHandle[BundleWorkflow, Any]) -> None:
        super().__init__(handle)
        self.script: list[int] = [0]

    async def progress(self) -> CaseProgress:
        self.script[-1] += 1
        return await super().progress()

    def _update(self) -> None:
        self.script.append(0)

    async def submit_fields(self, entry: Any) -> CaseProgress:
        self._update()
        return await super().submit_fields(entry)

    async def record_material(self, entry: Any) -> CaseProgress:
        self._update()
        return await super().record_material(entry)

    async def record_trip(self, entry: Any) -> CaseProgress:
        self._update()
        return await super().record_trip(entry)

    async def record_milestone(self, entry: Any) -> CaseProgress:
        self._update()
        return await super().record_milestone(entry)

    async def close_not_eligible(self, entry: Any) -> CaseProgress:
        self._update()
        return await super().close_not_eligible(entry)


def children_cpu() -> float:
    """CPU seconds of this process's children so far: the Temporal dev server (Linux)."""
    total = 0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def rate(n: int, concurrency: int, one: Callable[[int], Awaitable[object]],
               cpu: list[tuple[float, float]] | None = None) -> float:
    """Cases per second; `cpu` gets the (this process, server) CPU ms per case."""
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    started, own, server = time.perf_counter(), time.process_time(), children_cpu()
    await asyncio.gather(*(run(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append((1000 * (time.process_time() - own) / n,
                    1000 * (children_cpu() - server) / n))
    return n / elapsed


async def history_of(client: Client, workflow_id: str) -> History:
    fetched = await client.get_workflow_handle(workflow_id).fetch_history()
    return History(events=fetched.events)


def split(history: History) -> dict[str, int]:
    """Payload bytes of a bundle history by what carries them."""
    parts = {"start input": 0, "update answers": 0, "update arguments": 0,
             "activity arguments": 0, "activity results": 0, "result": 0}
    for e in history.events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            parts["start input"] += e.workflow_execution_started_event_attributes.input.ByteSize()
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            parts["update answers"] += (
                e.workflow_execution_update_completed_event_attributes.outcome.ByteSize())
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            parts["update arguments"] += (
                e.workflow_execution_update_accepted_event_attributes.ByteSize())
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            parts["activity arguments"] += e.activity_task_scheduled_event_attributes.ByteSize()
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            parts["activity results"] += e.activity_task_completed_event_attributes.ByteSize()
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            parts["result"] += e.workflow_execution_completed_event_attributes.ByteSize()
    return parts


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


async def main(cases: int, concurrency: int, rounds: int, profile: bool) -> None:
    citizens = generate(seed=11, size=max(cases, 50))
    definition = Catalogue.load().default("employment-hardship")
    calendar = load_calendar()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_extra_args=dev_server_search_attributes(),
        data_converter=DATA_CONVERTER,
    )
    port = free_port()
    sim = uvicorn.Server(uvicorn.Config(create_app(citizens), port=port, log_level="warning"))
    sim_task = asyncio.create_task(sim.serve())
    while not sim.started:
        await asyncio.sleep(0.02)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    client = env.client
    bundle_rates: list[float] = []
    bare_rates: list[float] = []
    histories: dict[str, list[History]] = {"bundle": [], "bare": []}
    queries: dict[str, list[int]] = {"bundle": [], "bare": []}
    cpu: dict[str, list[tuple[float, float]]] = {"bundle": [], "bare": []}
    profiler = None
    with tempfile.TemporaryDirectory() as state:
        store = SqliteFrictionStore(Path(state) / "friction.db")
        async with httpx.AsyncClient(timeout=10) as http:
            agencies = AgencyCalls({a: f"http://127.0.0.1:{port}/{a}" for a in AGENCIES}, http)
            friction = FrictionCalls(store)
            worker = Worker(
                client,
                task_queue=queue,
                workflows=[BundleWorkflow, BareCaseWorkflow],
                activities=[
                    agencies.look_up, agencies.submit_step, agencies.poll_decision,
                    friction.record_friction, friction.record_case, payload,
                ],
                # The bare workflow's module passes through the sandbox as the product's
                # packages do, so neither side pays for re-importing its code per case.
                workflow_runner=SandboxedWorkflowRunner(
                    restrictions=SandboxRestrictions.default.with_passthrough_modules(
                        *PASSTHROUGH, "bench")),
                # The SDK's debug mode runs workflow tasks on the event loop's thread, where
                # the sampler sees them (it also turns off the deadlock detector).
                debug_mode=profile,
                max_concurrent_activities=200,
            )
            async with worker:
                # Per round: the bundle cases' ids and clerk scripts, which the bare round mirrors.
                ran: list[tuple[str, list[int]]] = []

                async def bundle_case(i: int) -> None:
                    citizen = citizens[i % len(citizens)]
                    case_id = f"bench-{uuid.uuid4().hex[:12]}"
                    handle = await client.start_workflow(
                        BundleWorkflow.run,
                        CaseStart(case_id=case_id, bundle=definition, calendar=calendar,
                                  citizen_id_number=citizen.id_number, centre="bench"),
                        id=case_id, task_queue=queue,
                    )
                    known: dict[str, str] = {}
                    for source in LOOKUP_SOURCES:
                        known.update(lookup_values(citizen, source) or {})
                    desk = CountingDesk(handle)
                    await serve_case(desk, known, timeout=120, every=POLL_EVERY)
                    await handle.result()
                    ran.append((case_id, desk.script))

                plans: list[tuple[BarePlan, list[int]]] = []
                bare_ran: list[tuple[str, int]] = []

                async def bare_case(i: int) -> None:
                    plan, script = plans[i % len(plans)]
                    handle = await client.start_workflow(
                        BareCaseWorkflow.run, plan, id=f"bare-{uuid.uuid4().hex[:12]}",
                        task_queue=queue,
                    )
                    # The clerk's script has one count per update it sent and one after;
                    # updates the workflow refused never reached the history.
                    script = [*script[: plan.updates], sum(script[plan.updates :])]
                    made = 0
                    for point, wanted in enumerate(script):
                        target = point if point < plan.updates else DONE
                        asked = 0
                        while True:  # poll as the clerk does, then as many more as it made
                            state = await handle.query(BareCaseWorkflow.state)
                            asked += 1
                            if state.waiting_for == target:
                                break
                            await asyncio.sleep(POLL_EVERY)
                        for _ in range(wanted - asked):
                            await handle.query(BareCaseWorkflow.state)
                        made += max(asked, wanted)
                        if target != DONE:
                            await handle.execute_update(BareCaseWorkflow.step, "x" * 60)
                    await handle.result()
                    bare_ran.append((handle.id, made))

                async def mirror(done: list[tuple[str, list[int]]]) -> None:
                    plans.clear()
                    for case_id, script in done:
                        plans.append((plan_of(await history_of(client, case_id)), script))

                await rate(3, 3, bundle_case)  # warm-up: imports, sandbox, server caches
                await mirror(ran)
                await rate(3, 3, bare_case)
                if profile:
                    from pyinstrument import Profiler

                    profiler = Profiler(interval=0.001, async_mode="disabled")
                    profiler.start()
                for r in range(rounds):
                    ran.clear()
                    bare_ran.clear()
                    bundle_rates.append(await rate(cases, concurrency, bundle_case, cpu["bundle"]))
                    await mirror(ran)
                    bare_rates.append(await rate(cases, concurrency, bare_case, cpu["bare"]))
                    print(f"round {r + 1}: bundle {bundle_rates[-1]:6.2f} cases/s, "
                          f"bare {bare_rates[-1]:6.2f} cases/s, "
                          f"ratio {bundle_rates[-1] / bare_rates[-1]:5.2f}", flush=True)
                    if r == rounds - 1:
                        for case_id, script in ran[:10]:
                            histories["bundle"].append(await history_of(client, case_id))
                            queries["bundle"].append(sum(script))
                        for case_id, made in bare_ran[:10]:
                            histories["bare"].append(await history_of(client, case_id))
                            queries["bare"].append(made)
                if profiler is not None:
                    profiler.stop()
                mirrored = [plan for plan, _ in plans]
        store.close()
    sim.should_exit = True
    await sim_task
    await env.shutdown()

    ratios = [b / a for b, a in zip(bundle_rates, bare_rates, strict=True)]
    kb = {k: mean([h.ByteSize() / 1024 for h in hs]) for k, hs in histories.items()}
    events = {k: mean([len(h.events) for h in hs]) for k, hs in histories.items()}
    print(f"per case: {mean([p.activities for p in mirrored]):.1f} activities, "
          f"{mean([p.updates for p in mirrored]):.1f} updates, "
          f"{mean(queries['bundle']):.1f} queries (bundle) / {mean(queries['bare']):.1f} (bare)")
    print(f"bundle cases/s   {' '.join(f'{x:6.2f}' for x in bundle_rates)}   "
          f"median {statistics.median(bundle_rates):6.2f}")
    print(f"bare cases/s     {' '.join(f'{x:6.2f}' for x in bare_rates)}   "
          f"median {statistics.median(bare_rates):6.2f}")
    print(f"ratio bundle/bare {' '.join(f'{x:5.2f}' for x in ratios)}   "
          f"median {statistics.median(ratios):5.2f}")
    print(f"history per case: bundle {kb['bundle']:.1f} KB {events['bundle']:.0f} events, "
          f"bare {kb['bare']:.1f} KB {events['bare']:.0f} events")
    parts = {k: mean([split(h)[k] / 1024 for h in histories["bundle"]])
             for k in split(History())}
    print("bundle history split KB: "
          + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    print("CPU ms per case (worker+clerk+agencies process / Temporal server): " + ", ".join(
        f"{k} {mean([c[0] for c in v]):.0f} / {mean([c[1] for c in v]):.0f}"
        for k, v in cpu.items()))
    # Where the machine is the limit, throughput follows CPU per case: this ratio moves
    # much less with the other load of a shared machine than the rates do.
    total = {k: mean([own + server for own, server in v]) for k, v in cpu.items()}
    print(f"CPU ratio bare/bundle {total['bare'] / total['bundle']:5.2f}")
    kinds = {k: Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower()
                        for h in hs for e in h.events) for k, hs in histories.items()}
    extra = {t: (n - kinds["bare"][t] * len(histories["bundle"]) / max(len(histories["bare"]), 1))
             / len(histories["bundle"]) for t, n in kinds["bundle"].items()}
    print("bundle events beyond bare's per case: " + ", ".join(
        f"{t} {n:+.1f}" for t, n in sorted(extra.items(), key=lambda x: -abs(x[1]))
        if abs(n) >= 0.5))
    if profiler is not None:
        # Functions by their own time, the event loop's waiting left out of the total.
        flat = profiler.output_text(flat=True, time="percent_of_total", show_all=True)
        print("\n".join(flat.splitlines()[:PROFILE_TOP + 8]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="sample the timed rounds with pyinstrument; print its top")
    a = parser.parse_args()
    asyncio.run(main(a.cases, a.concurrency, a.rounds, a.profile))
