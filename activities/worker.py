"""The worker: bundle workflows plus the activities that do their I/O."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.agency_calls import AgencyCalls
from activities.allowance_calls import AllowanceCalls
from activities.friction_calls import FrictionCalls
from activities.notifier import Notifier, NotifyCalls, OutboxNotifier
from activities.register_calls import RegisterCalls
from activities.verifier_calls import VerifierCalls
from friction.store import FrictionStore
from workflows.allowance_match import AllowanceMatchWorkflow
from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar
from workflows.cant_get_it_done import CantGetItDoneWorkflow
from workflows.case import TASK_QUEUE
from workflows.verifier import VerifierWorkflow

# The product's deterministic packages pass through the sandbox whole: imported once in
# the host, not again for every case the worker starts (re-importing and proxying them
# per workflow instance was the largest part of a case's cost in the worker's profile),
# and one copy of each Struct class, which msgspec's decoders rely on. They hold no
# per-case module state. Passed through, their own calls are not checked by the sandbox:
# the guarded runner below checks them, in the replay of every recorded history.
PASSTHROUGH = (
    "msgspec",
    "kernel",
    "workflows",
    "friction.register",
)
# The guarded runner passes through only the schemas (one copy of each Struct class):
# workflow code is imported into each sandbox, where a clock, a random number or I/O
# called from it is refused (tests/workflows/test_replay.py replays with it).
GUARDED_PASSTHROUGH = (
    "msgspec",
    "kernel.events",
    "kernel.privacy",
    "friction.register",
    "workflows.allowance_case",
    "workflows.calendar",
    "workflows.case",
    "workflows.definition",
    "workflows.fields",
    "workflows.operator_view",
    "workflows.ports",
    "workflows.register_case",
    "workflows.verifier",
)


def workflow_runner(*, guarded: bool = False) -> SandboxedWorkflowRunner:
    """The worker's sandbox; `guarded`, the slower one that checks workflow code too."""
    modules = GUARDED_PASSTHROUGH if guarded else PASSTHROUGH
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )


def tracing(client: Client, provider: TracerProvider | None) -> list[Interceptor]:
    """Temporal's tracing interceptor for a worker, unless its client already has one
    (a client's worker interceptors apply to its workers; two would double every span).
    Workflow and activity spans continue the trace of whoever started the case."""
    if any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"]):
        return []
    tracer = (provider or trace.get_tracer_provider()).get_tracer(TracingInterceptor.__module__)
    return [TracingInterceptor(tracer)]


def create_worker(
    client: Client,
    *,
    agency_urls: dict[str, str],
    store: FrictionStore,
    http: httpx.AsyncClient,
    task_queue: str = TASK_QUEUE,
    tracer_provider: TracerProvider | None = None,
    notifier: Notifier | None = None,
    pseudonym_key: bytes | None = None,
    calendar: Callable[[], WorkingCalendar] | None = None,
    max_activities: int = 100,
    max_workflow_tasks: int = 100,
    cached_cases: int = 1000,
) -> Worker:
    """The worker; traces go to `tracer_provider`, or to the OTel global one if None.
    Citizens' notifications go to `notifier`, by default an outbox in memory.
    `pseudonym_key` names the allowance match's cases; without it the match fails.
    `calendar` gives the calendar as published for the cases the match opens.
    `max_activities`, `max_workflow_tasks` and `cached_cases` tune the worker
    (deploy.settings: ONETHING_WORKER_MAX_ACTIVITIES, _MAX_WORKFLOW_TASKS, _CACHED_CASES)."""
    agencies = AgencyCalls(agency_urls, http)
    friction = FrictionCalls(store)
    register = RegisterCalls(store)
    verifier = VerifierCalls(store)
    notify = NotifyCalls(notifier or OutboxNotifier(":memory:"))
    allowance = AllowanceCalls(agency_urls, http, client, pseudonym_key, calendar=calendar)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BundleWorkflow, CantGetItDoneWorkflow, AllowanceMatchWorkflow,
                   VerifierWorkflow],
        activities=[
            agencies.look_up,
            agencies.submit_step,
            agencies.poll_decision,
            friction.record_friction,
            friction.record_case,
            notify.notify_citizen,
            register.register_cant_get_it_done,
            register.resolve_cant_get_it_done,
            allowance.find_allowance_candidates,
            verifier.run_verifier,
        ],
        workflow_runner=workflow_runner(),
        interceptors=tracing(client, tracer_provider),
        max_concurrent_activities=max_activities,
        max_concurrent_workflow_tasks=max_workflow_tasks,
        max_cached_workflows=cached_cases,
    )
