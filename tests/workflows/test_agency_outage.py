"""An agency outage is a wait, not a death (issue 12), on the time-skipping server: the
medical insurance bureau answers 503 for an hour, for five hours, for days.

The bundle (医保参保) needs no clerk: its form is generated from the records and the
bureau reviews it within 2 hours; its outage policy escalates after 2 hours and gives up
after 3 working days. The bureau's faults are the agency simulator's own (every call
answered 503 while `failure_rate` is 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    pin_clock,
    set_behaviour,
    time_skipping_calendar,
)
from temporalio.api.enums.v1 import EventType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from activities.agency_calls import CALLS_METRIC
from activities.notifier import OutboxNotifier
from activities.worker import create_worker
from deploy.local import installed_binary
from deploy.sim.population import Citizen
from deploy.temporal import indexed_value_types
from friction.sqlite_store import SqliteFrictionStore
from kernel.converter import DATA_CONVERTER
from kernel.events import ExtraWait
from workflows import ports
from workflows.bundle import BundleWorkflow
from workflows.bundle.outage import ESCALATIONS_METRIC
from workflows.bundle.timers import BREACHES_METRIC
from workflows.case import CaseProgress, CaseStart
from workflows.definition import Catalogue

BUREAU = "medical-insurance"
STEP = "enrollment-review"


def old_retries_span() -> timedelta:
    """How long the bounded retries that used to fail the case lasted (~7.6 minutes)."""
    old = ports.AGENCY_RETRY
    assert old.maximum_interval is not None
    wait, span = old.initial_interval, timedelta()
    for _ in range(old.maximum_attempts - 1):
        span += wait
        wait = min(wait * old.backoff_coefficient, old.maximum_interval)
    return span


@pytest.fixture
def metrics() -> MetricBuffer:
    return MetricBuffer(10_000)


@pytest.fixture
async def metered_env(metrics: MetricBuffer) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server whose worker's Temporal metrics land in a buffer, as they
    land on the worker's Prometheus port in production (deploy.telemetry)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
        runtime=Runtime(telemetry=TelemetryConfig(metrics=metrics)),
    )
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes=indexed_value_types(),
    ))
    await pin_clock(env)
    yield env
    await env.shutdown()


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxNotifier:
    return OutboxNotifier(tmp_path / "outbox.db")


def enrollment(population: list[Citizen]) -> CaseStart:
    definition = Catalogue.load().default("medical-insurance-enrollment")
    assert definition.outage.escalate_after_hours == 2
    assert definition.outage.give_up_after_working_days == 3
    return bundle_start(definition, citizen_where(population),
                        calendar=time_skipping_calendar())


async def submissions(sim: ServedApp, case_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        rows = (await http.get(f"{sim.url}/admin/submissions",
                               params={"case_id": case_id})).json()
    return [r for r in rows if r["agency"] == BUREAU]


async def submit_attempts(handle: WorkflowHandle[Any, Any]) -> int:
    """The attempt the submission finally succeeded at, from the case's history."""
    attempts = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == ports.SUBMIT_STEP:
                attempts.append(event.event_id)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in attempts:
                return started.attempt
    raise AssertionError("no submission started")


async def bureau_down_for(
    env: WorkflowEnvironment, sim: ServedApp, outage: timedelta,
    handle: WorkflowHandle[Any, Any],
) -> CaseProgress:
    """The bureau answers 503 for `outage` of the server's time, then answers again;
    the case's progress while it was down."""
    await env.sleep(outage)
    during: CaseProgress = await handle.query(BundleWorkflow.progress)
    await set_behaviour(sim, BUREAU, failure_rate=0.0)
    return during


def counted(updates: list[Any], name: str, *labels: str) -> list[dict[str, Any]]:
    """A counter's updates, by our labels (the SDK adds its own)."""
    return [{k: u.attributes[k] for k in labels} | {"value": u.value}
            for u in updates if u.metric.name == name]


def escalations(metrics: MetricBuffer) -> list[dict[str, Any]]:
    """The escalation counter's updates (draining the buffer)."""
    return counted(metrics.retrieve_updates(), ESCALATIONS_METRIC, "agency", "bundle")


async def test_an_agency_back_after_an_hour_is_waited_for_and_submitted_to_once(
    metered_env: WorkflowEnvironment, fresh_agencies: ServedApp,
    agency_urls: dict[str, str], store: SqliteFrictionStore, population: list[Citizen],
    task_queue: str, outbox: OutboxNotifier, metrics: MetricBuffer,
) -> None:
    await set_behaviour(fresh_agencies, BUREAU, failure_rate=1.0)
    case = enrollment(population)
    async with httpx.AsyncClient(timeout=10) as http, create_worker(
        metered_env.client, agency_urls=agency_urls, store=store, http=http,
        task_queue=task_queue, notifier=outbox,
    ):
        handle = await metered_env.client.start_workflow(
            BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue)
        during = await bureau_down_for(metered_env, fresh_agencies, timedelta(hours=1), handle)
        final: CaseProgress = await asyncio.wait_for(handle.result(), 60)
        attempts = await submit_attempts(handle)

    # Down an hour: the case waited with the agency, open, nothing escalated.
    assert (during.status, during.awaiting, during.steps[0].status) == (
        "open", "agency", "awaiting_agency")
    assert during.outages == ()
    assert final.status == "completed" and final.failure is None
    review = final.steps[0]
    assert review.finished_at and review.started_at
    waited = review.finished_at - review.started_at
    # Long past the span after which the old retries failed the case: one activity,
    # retried by the server attempt after attempt.
    assert waited >= timedelta(hours=1) and waited > 7 * old_retries_span()
    assert attempts > 1
    (row,) = await submissions(fresh_agencies, case.case_id)
    assert row["registrations"] == 1
    # Within the two-hour SLA and the escalation's hours: no friction, no register entry,
    # no alert, and the citizen heard only of the review itself.
    assert store.events_for_case(case.case_id) == []
    assert store.cant_get_it_done_case(case.case_id) is None
    updates = metrics.retrieve_updates()
    assert counted(updates, ESCALATIONS_METRIC, "agency", "bundle") == []
    assert counted(updates, BREACHES_METRIC, "bundle", "step") == []
    assert [n.event for n in final.notifications] == [
        "step_started", "step_approved", "case_completed"]


async def test_a_prolonged_outage_escalates_then_the_case_goes_on_when_the_agency_returns(
    metered_env: WorkflowEnvironment, fresh_agencies: ServedApp,
    agency_urls: dict[str, str], store: SqliteFrictionStore, population: list[Citizen],
    task_queue: str, outbox: OutboxNotifier, metrics: MetricBuffer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await set_behaviour(fresh_agencies, BUREAU, failure_rate=1.0)
    case = enrollment(population)
    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(timeout=10) as http, create_worker(
        metered_env.client, agency_urls=agency_urls, store=store, http=http,
        task_queue=task_queue, notifier=outbox,
    ):
        handle = await metered_env.client.start_workflow(
            BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue)
        during = await bureau_down_for(metered_env, fresh_agencies, timedelta(hours=5), handle)
        final: CaseProgress = await asyncio.wait_for(handle.result(), 60)

    # Two hours in: escalated, while the case still waits with the agency.
    assert during.status == "open" and during.awaiting == "agency"
    (outage,) = during.outages
    assert (outage.agency, outage.step, outage.ended_at) == (BUREAU, STEP, None)
    assert outage.escalated_at - outage.since >= timedelta(hours=2)
    assert outage.escalated_at - outage.since < timedelta(hours=2, minutes=1)
    # Registered as can't-get-it-done, cause system, naming the bureau.
    registered = store.cant_get_it_done_case(case.case_id)
    assert registered is not None
    assert (registered.cause, registered.department, registered.step) == (
        "system", BUREAU, STEP)
    # The citizen is told, once, that nothing is asked of them.
    told = [n for n in during.notifications if n.event == "agency_outage"]
    assert len(told) == 1 and "无需再跑一趟" in told[0].text_zh
    # The operators' alert: the worker's metric by agency, and a log line naming it.
    updates = metrics.retrieve_updates()
    assert counted(updates, ESCALATIONS_METRIC, "agency", "bundle") == [
        {"agency": BUREAU, "bundle": "medical-insurance-enrollment", "value": 1}]
    # Every failed attempt counted as the bureau's error, then the one that went through.
    calls = counted(updates, CALLS_METRIC, "agency", "call", "outcome")
    bureau = [c for c in calls if c["agency"] == BUREAU and c["call"] == ports.SUBMIT_STEP]
    errors = sum(c["value"] for c in bureau if c["outcome"] == "error")
    assert errors == await submit_attempts(handle) - 1 and errors > 1
    assert sum(c["value"] for c in bureau if c["outcome"] == "ok") == 1
    assert not any(c["outcome"] == "refused" for c in calls)
    # The step past its two-hour SLA, counted once for the alert on cases past SLA.
    assert counted(updates, BREACHES_METRIC, "bundle", "step") == [
        {"bundle": "medical-insurance-enrollment", "step": STEP, "value": 1}]
    alerts = [r.getMessage() for r in caplog.records if "agency outage" in r.getMessage()]
    assert len(alerts) == 1 and BUREAU in alerts[0] and case.case_id in alerts[0]
    assert case.citizen_id_number not in alerts[0]
    # The bureau came back: the case went on by itself, submitted once.
    assert final.status == "completed" and final.failure is None
    (ended,) = final.outages
    assert ended.ended_at is not None and ended.ended_at - ended.since >= timedelta(hours=5)
    (row,) = await submissions(fresh_agencies, case.case_id)
    assert row["registrations"] == 1
    # Past the two-hour SLA: the extra wait is recorded as for any slow agency.
    (late,) = [e for e in store.events_for_case(case.case_id) if isinstance(e, ExtraWait)]
    assert (late.scope, late.step, late.sla_seconds) == ("step", STEP, 7200.0)
    assert outbox.for_case(case.case_id) == list(final.notifications)


async def test_an_agency_down_past_the_policy_fails_the_case_saying_why(
    metered_env: WorkflowEnvironment, fresh_agencies: ServedApp,
    agency_urls: dict[str, str], store: SqliteFrictionStore, population: list[Citizen],
    task_queue: str, outbox: OutboxNotifier, metrics: MetricBuffer,
) -> None:
    await set_behaviour(fresh_agencies, BUREAU, failure_rate=1.0)
    case = enrollment(population)
    try:
        async with httpx.AsyncClient(timeout=10) as http, create_worker(
            metered_env.client, agency_urls=agency_urls, store=store, http=http,
            task_queue=task_queue, notifier=outbox,
        ):
            handle = await metered_env.client.start_workflow(
                BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue)
            final: CaseProgress = await asyncio.wait_for(handle.result(), 120)
    finally:
        await set_behaviour(fresh_agencies, BUREAU, failure_rate=0.0)

    assert final.status == "failed" and final.awaiting == "nobody"
    assert final.failure is not None
    assert (final.failure.cause, final.failure.step, final.failure.agency) == (
        "agency_outage", STEP, BUREAU)
    assert final.steps[0].status == "failed"
    (outage,) = final.outages
    # Given up when the next attempt would fall past the policy's end (three working
    # days), not at a count of attempts.
    last_wait = ports.AGENCY_OUTAGE_RETRY.maximum_interval
    assert last_wait is not None and final.failure.at is not None
    assert outage.give_up_at - last_wait <= final.failure.at <= outage.give_up_at
    assert final.failure.at - outage.since > timedelta(days=3)
    # Escalated on the way, told at the end, and the notebook row closed as failed.
    assert [n.event for n in final.notifications] == [
        "step_started", "agency_outage", "case_failed"]
    registered = store.cant_get_it_done_case(case.case_id)
    assert registered is not None and registered.cause == "system"
    recorded = next(c for c in store.iter_cases() if c.case_id == case.case_id)
    assert recorded.status == "failed" and recorded.closed_at is not None
    assert [s.status for s in recorded.steps] == ["failed"]
    assert await submissions(fresh_agencies, case.case_id) == []
    assert [e["value"] for e in escalations(metrics)] == [1]
