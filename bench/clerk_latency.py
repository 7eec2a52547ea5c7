"""How long a clerk's click takes through the gateway, against the bare Temporal call it
rests on, on the same dev server in the same run.

Each round, interleaved (which side goes first alternates):

    open a case        POST /api/cases                    start_workflow (bare workflow)
    read progress      GET /api/cases/{id}                query
    submit fields      POST /api/cases/{id}/fields        update
    confirm a material POST /api/cases/{id}/materials     update
    the worklist       GET /api/worklist?centre=...       list_workflows, the same query

The gateway is the real app served by uvicorn (bench/world.py), called as a clerk with a
bearer token; the bare side is a minimal client calling bench/bare_clerk.py
(an update and a query, nothing else). Prints p50 and p99 of each side in milliseconds
and the ratio of the p99s (gateway / bare; the goal is at most 1.5). The machine is
shared: only the ratios are meant to be compared between runs.

    .venv/bin/python bench/clerk_latency.py --rounds 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bare_clerk import BareClerkWorkflow
from bench.world import World, running_world
from deploy.sim.clerk import clerk_answer
from deploy.sim.population import generate, lookup_values
from gateway.cases.lookup import centres_clause
from gateway.cases.service import MAX_LISTED, worklist_query
from workflows.bundle import BundleWorkflow
from workflows.case import CaseProgress
from workflows.definition import LOOKUP_SOURCES

BUNDLE = "employment-hardship"
INTERACTIONS = ("open", "progress", "fields", "material", "worklist")
T = TypeVar("T")


async def timed(samples: list[float], call: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    result = await call()
    samples.append((time.perf_counter() - started) * 1000)
    return result


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: with few samples p99 is the slowest, as it should be."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def checked(response: Any) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response


async def waiting_on_clerk(world: World, case_id: str) -> CaseProgress:
    """The case once its prefill is done and it waits on the clerk (not timed)."""
    handle = world.client.get_workflow_handle_for(BundleWorkflow.run, case_id)
    for _ in range(600):
        progress = await handle.query(BundleWorkflow.progress)
        if progress.awaiting == "clerk":
            return progress
        await asyncio.sleep(0.05)
    raise TimeoutError(f"case {case_id} never came to wait on the clerk")


async def main(rounds: int, warmup: int) -> dict[str, dict[str, float]]:
    citizens = generate(seed=13, size=max(50, rounds + warmup))
    gateway: dict[str, list[float]] = {k: [] for k in INTERACTIONS}
    bare: dict[str, list[float]] = {k: [] for k in INTERACTIONS}
    async with running_world(citizens, bare_workflows=[BareClerkWorkflow]) as world:
        http, client = world.gateway, world.client
        today = datetime.now(UTC).date()

        async def gateway_round(i: int, record: dict[str, list[float]]) -> None:
            citizen = citizens[i % len(citizens)]
            opened = checked(await timed(record["open"], lambda: http.post("/api/cases", json={
                "bundle": BUNDLE, "citizen_id_number": citizen.id_number,
                "centre": world.centre})))
            case_id = opened.json()["case_id"]
            progress = await waiting_on_clerk(world, case_id)
            checked(await timed(record["progress"], lambda: http.get(f"/api/cases/{case_id}")))
            step = next(s for s in progress.steps if s.id == progress.current_step)
            known: dict[str, str] = {}
            for source in LOOKUP_SOURCES:
                known.update(lookup_values(citizen, source) or {})
            # One value the form lacks, as the clerk reads it off the citizen's documents.
            missing = [f for f in step.fields if f.name in step.missing_fields] or step.fields
            field = missing[0]
            value = clerk_answer(field, known, today)
            checked(await timed(record["fields"], lambda: http.post(
                f"/api/cases/{case_id}/fields",
                json={"step": step.id, "values": {field.name: value}})))
            material = step.materials[0]
            form = "ecert" if material.status == "held_ecert" else "paper"
            checked(await timed(record["material"], lambda: http.post(
                f"/api/cases/{case_id}/materials",
                json={"step": step.id, "material": material.name, "form": form})))
            checked(await timed(record["worklist"], lambda: http.get(
                "/api/worklist", params={"centre": world.centre})))

        query = worklist_query(awaiting="clerk", scope=[centres_clause((world.centre,))],
                               now=datetime.now(UTC))

        async def bare_round(i: int, record: dict[str, list[float]]) -> None:
            handle = await timed(record["open"], lambda: client.start_workflow(
                BareClerkWorkflow.run, id=f"bare-{uuid.uuid4().hex[:12]}",
                task_queue=world.bare_queue))
            await timed(record["progress"], lambda: handle.query(BareClerkWorkflow.state))
            await timed(record["fields"], lambda: handle.execute_update(
                BareClerkWorkflow.set_value, args=["field", "value"]))
            await timed(record["material"], lambda: handle.execute_update(
                BareClerkWorkflow.set_value, args=["material", "paper"]))

            async def listed() -> int:
                return len([e async for e in client.list_workflows(query, limit=MAX_LISTED + 1)])

            await timed(record["worklist"], listed)
            await handle.signal(BareClerkWorkflow.finish)

        thrown: dict[str, list[float]] = {k: [] for k in INTERACTIONS}
        for i in range(warmup):  # imports, the sandbox, the server's caches
            await gateway_round(i, thrown)
            await bare_round(i, thrown)
        for i in range(warmup, warmup + rounds):
            if i % 2:
                await gateway_round(i, gateway)
                await bare_round(i, bare)
            else:
                await bare_round(i, bare)
                await gateway_round(i, gateway)
    report: dict[str, dict[str, float]] = {}
    print(f"rounds {rounds} (after {warmup} warm-up), milliseconds")
    print(f"{'interaction':<10} {'gw p50':>8} {'gw p99':>8} {'bare p50':>9} {'bare p99':>9}"
          f" {'p99 ratio':>10}")
    for name in INTERACTIONS:
        g, b = gateway[name], bare[name]
        row = {"gateway_p50": statistics.median(g), "gateway_p99": percentile(g, 99),
               "bare_p50": statistics.median(b), "bare_p99": percentile(b, 99)}
        row["ratio_p99"] = row["gateway_p99"] / row["bare_p99"]
        report[name] = row
        print(f"{name:<10} {row['gateway_p50']:8.2f} {row['gateway_p99']:8.2f} "
              f"{row['bare_p50']:9.2f} {row['bare_p99']:9.2f} {row['ratio_p99']:10.2f}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", metavar="HTML", help="profile the whole run with "
                        "pyinstrument (gateway, worker and both clients share the process)"
                        " and write its report here; the top of the call tree is printed")
    a = parser.parse_args()
    if a.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        asyncio.run(main(a.rounds, a.warmup))
        profiler.stop()
        Path(a.profile).write_text(profiler.output_html(), encoding="utf-8")
        Path(a.profile).with_suffix(".txt").write_text(
            profiler.output_text(show_all=True), encoding="utf-8")
        print(profiler.output_text(show_all=False, short_mode=True)[:6000])
    else:
        asyncio.run(main(a.rounds, a.warmup))
    # The SDK's core threads may still hold the GIL's thread state when the interpreter
    # finalizes (a "PyGILState_Release" abort after the report): everything is shut down
    # and printed by now, so leave without finalizing.
    sys.stdout.flush()
    os._exit(0)
