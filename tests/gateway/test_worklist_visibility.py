"""The API's worklist reads search attributes alone: since when a case waits
(OtWaitingSince) and when it is due (OtDueDate) come from visibility, and the overdue
filter is a visibility clause judged by the gateway's clock, so cases whose worker is gone
are listed in full without anyone asking them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import msgspec
from conftest import (
    bearer,
    bundle_start,
    citizen_where,
    running_worker,
    served_gateway,
    wait_for,
)
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import waiting_on_clerk
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.cases.schemas import DEFAULT_CENTRES, Worklist, WorklistItem
from workflows.bundle import BundleWorkflow
from workflows.definition import Catalogue

CENTRE = "liangxi-chongan-north"  # this module's own centre: its worklist holds its cases


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_cases_whose_worker_is_gone_are_listed_from_search_attributes(
    dev_env: WorkflowEnvironment, fresh_agencies: Any, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str,
) -> None:
    citizen = citizen_where(population, ecerts=True)
    start = msgspec.structs.replace(
        bundle_start(Catalogue.load().default("employment-hardship"), citizen),
        centre=CENTRE)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        progress = await wait_for(handle, waiting_on_clerk)
    # The worker is gone: a query to the case would wait out its deadline unanswered.
    step = next(s for s in progress.steps if s.id == progress.current_step)
    assert step.started_at is not None and step.due_at is not None
    clock = Clock(step.due_at - timedelta(hours=1))
    headers = bearer("clerk", centres=(CENTRE,))
    async with served_gateway(dev_env.client, store, task_queue, headers=headers,
                              centres=(*DEFAULT_CENTRES, CENTRE), clock=clock) as api:

        async def listed(**params: str) -> list[WorklistItem]:
            answer = await api.get("/api/worklist", params={"centre": CENTRE, **params})
            assert answer.status_code == 200, answer.text
            return [i for i in msgspec.json.decode(answer.content, type=Worklist).cases
                    if i.case_id == start.case_id]

        for _ in range(100):  # visibility follows the case's upserts shortly
            rows = await listed()
            if rows and rows[0].waiting_since is not None:
                break
            await asyncio.sleep(0.1)
        [row] = rows
        assert row.waiting_since == step.started_at
        assert row.due_at == step.due_at and row.overdue is False
        # Read from the case's progress only, for the console's rows.
        assert row.due_on is None and row.citizen_name is None
        assert await listed(overdue="true") == []

        clock.at = step.due_at  # due at that instant: overdue from then on
        [late] = await listed(overdue="true")
        assert late.overdue is True and late.waiting_since == step.started_at
    await handle.terminate("test over")
