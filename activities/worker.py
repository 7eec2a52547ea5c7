"""The worker: bundle workflows plus the activities that do their I/O."""

from __future__ import annotations

import httpx
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.agency_calls import AgencyCalls
from activities.friction_calls import FrictionCalls
from friction.store import FrictionStore
from workflows.bundle import BundleWorkflow
from workflows.case import TASK_QUEUE

# Schema modules are pure and imported by the workflow; passing them through keeps one
# copy of each Struct class, which msgspec's decoders rely on.
PASSTHROUGH = (
    "msgspec",
    "friction.events",
    "workflows.calendar",
    "workflows.case",
    "workflows.definition",
    "workflows.fields",
    "workflows.ports",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def create_worker(
    client: Client,
    *,
    agency_urls: dict[str, str],
    store: FrictionStore,
    http: httpx.AsyncClient,
    task_queue: str = TASK_QUEUE,
) -> Worker:
    agencies = AgencyCalls(agency_urls, http)
    friction = FrictionCalls(store)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BundleWorkflow],
        activities=[
            agencies.look_up,
            agencies.submit_step,
            agencies.poll_decision,
            friction.record_friction,
            friction.record_case,
        ],
        workflow_runner=workflow_runner(),
    )
