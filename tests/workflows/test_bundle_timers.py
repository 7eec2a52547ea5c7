"""Workflow logic over working-day timers, on the time-skipping test server: an SLA of
several working days passes in seconds."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    running_worker,
    set_behaviour,
    time_skipping_calendar,
)
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.events import ExtraWait
from workflows.bundle import BundleWorkflow
from workflows.definition import BundleDefinition, Catalogue, StepSpec


def prefilled_only() -> BundleDefinition:
    """A one-step bundle whose form the agencies' records fill entirely, so the case runs
    without a clerk (the time-skipping server does not take updates)."""
    employment = Catalogue.load().default("employment-hardship")
    step = employment.step("unemployment-registration")
    known = tuple(
        f for f in step.fields if f.concept and not f.concept.startswith("employment.")
    )
    slow_step = StepSpec(
        id="registration-review",
        name_zh="失业登记复核",
        name_en="Registration review",
        agency="hrss",
        sla_working_days=3,
        fields=known,
        materials=step.materials,
    )
    return msgspec.structs.replace(employment, id="review-only", steps=(slow_step,))


async def test_slow_agency_breaches_a_working_day_sla_and_the_case_keeps_waiting(
    time_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    # Polls back off to one an hour: 250 polls keep the decision pending for about ten
    # days, past a three-working-day SLA whatever weekday the case starts on.
    await set_behaviour(fresh_agencies, "hrss", pending_polls=250)
    citizen = citizen_where(population, ecerts=True)
    start = bundle_start(prefilled_only(), citizen, calendar=time_skipping_calendar())
    async with running_worker(time_env.client, agency_urls, store, task_queue):
        handle = await time_env.client.start_workflow(
            BundleWorkflow.run,
            start,
            id=start.case_id,
            task_queue=task_queue,
            execution_timeout=timedelta(days=60),
        )
        progress = await handle.result()

    assert progress.status == "completed"
    step = progress.steps[0]
    assert step.status == "approved"
    assert step.finished_at and step.started_at
    assert step.finished_at - step.started_at > timedelta(days=3)
    waits = [e for e in store.events_for_case(start.case_id) if isinstance(e, ExtraWait)]
    assert len(waits) == 1
    wait = waits[0]
    assert wait.scope == "step" and wait.sla_working_days == 3
    assert wait.calendar == start.calendar.id
    assert wait.due_at is not None and step.due_on is not None
    assert wait.occurred_at >= wait.due_at
    assert [f.kind for f in progress.friction] == ["extra_wait"]


async def test_a_fast_case_records_no_friction(
    time_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    citizen = citizen_where(population, ecerts=True)
    start = bundle_start(prefilled_only(), citizen, calendar=time_skipping_calendar())
    async with running_worker(time_env.client, agency_urls, store, task_queue):
        progress = await time_env.client.execute_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue
        )
    assert progress.status == "completed"
    assert progress.friction == ()
    assert store.events_for_case(start.case_id) == []
    assert progress.fields_prefilled == progress.fields_total > 0
    # Prefilled values carry where they came from.
    view = progress.steps[0]
    assert all(f.prefilled and f.source is not None for f in view.fields)
    assert {f.source.source for f in view.fields if f.source} >= {"public-security", "hrss"}

