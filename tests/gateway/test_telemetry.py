"""One trace from the clerk's HTTP request through the workflow to the activities, with
friction as span events and no personal value anywhere; and the notebook's burden and
trips on /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import TEST_SECRET, ServedApp, bearer, citizen_where, known_values
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from temporalio.testing import WorkflowEnvironment

from activities.worker import create_worker
from deploy.local import free_port
from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case
from deploy.sim.population import Citizen
from deploy.telemetry import GATEWAY_SERVICE, WORKER_SERVICE, tracer_provider
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.app import create_app
from gateway.metrics import NotebookCollector
from kernel.events import CaseRecord, ManualReentry, Provenance, RepeatTrip
from workflows import ports
from workflows.calendar_source import load_calendar
from workflows.definition import Catalogue


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced_gateway(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
    spans: InMemorySpanExporter,
) -> AsyncIterator[httpx.AsyncClient]:
    # A provider per process as in production, both exporting to the test's memory; passed
    # explicitly, since OTel's global provider can be set only once per process.
    gateway_traces = tracer_provider(GATEWAY_SERVICE)
    worker_traces = tracer_provider(WORKER_SERVICE)
    for provider in (gateway_traces, worker_traces):
        provider.add_span_processor(SimpleSpanProcessor(spans))
    app = create_app(
        temporal=dev_env.client,
        store=store,
        catalogue=Catalogue.load(),
        calendar=load_calendar(),
        task_queue=task_queue,
        tracer_provider=gateway_traces,
        secret=TEST_SECRET,
        accounts=AccountBook(SqliteFrictionStore(":memory:")),
    )
    async with httpx.AsyncClient(timeout=10) as agencies:
        worker = create_worker(
            dev_env.client, agency_urls=agency_urls, store=store, http=agencies,
            task_queue=task_queue, tracer_provider=worker_traces,
        )
        async with worker, ServedApp(app, free_port()) as served:
            async with httpx.AsyncClient(
                base_url=served.url, timeout=30, headers=bearer()
            ) as client:
                yield client


def _server_span(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name and s.kind == trace.SpanKind.SERVER]
    return span


def _strings(span: ReadableSpan) -> Iterator[str]:
    """Every string a span carries to a collector."""
    yield span.name
    yield span.status.description or ""
    for attributes in (
        span.attributes,
        span.resource.attributes,
        *(e.attributes for e in span.events),
        *(link.attributes for link in span.links),
    ):
        for key, value in (attributes or {}).items():
            yield key
            yield from (str(v) for v in value) if isinstance(value, tuple) else (str(value),)


async def test_one_trace_runs_from_the_request_to_the_activities(
    traced_gateway: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    population: list[Citizen],
    store: SqliteFrictionStore,
    spans: InMemorySpanExporter,
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    opened = await traced_gateway.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": "liangxi-chongan"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    # Version 1 of the bundle makes the clerk retype what the case knows at one step:
    # the citizen's name, ID number and phone pass through the workflow as friction.
    final = await serve_case(HttpDesk(traced_gateway, case_id), known_values(citizen),
                             ClerkHabits())
    assert final.status == "completed"
    await dev_env.client.get_workflow_handle(case_id).result()  # every activity has ended

    finished = list(spans.get_finished_spans())
    http = _server_span(finished, "POST /api/cases")
    case_trace = http.context.trace_id
    in_case = [s for s in finished if s.context.trace_id == case_trace]
    by_name = {s.name: s for s in in_case}
    start = by_name["StartWorkflow:BundleWorkflow"]
    assert start.parent is not None and start.parent.span_id == http.context.span_id
    assert "RunWorkflow:BundleWorkflow" in by_name
    assert f"RunActivity:{ports.LOOK_UP}" in by_name
    assert f"RunActivity:{ports.SUBMIT_STEP}" in by_name
    assert http.resource.attributes["service.name"] == GATEWAY_SERVICE
    assert by_name["RunWorkflow:BundleWorkflow"].resource.attributes["service.name"] == (
        WORKER_SERVICE
    )

    # A clerk's update is its own request and trace; the workflow's handling of it stays
    # in the case's trace and links back to the request.
    # Request spans are named by route, not by case number, so they group on a dashboard.
    fields = [s for s in finished if s.kind == trace.SpanKind.SERVER
              and s.name == "POST /api/cases/{case_id}/fields"]
    assert fields and (fields[0].attributes or {})["http.route"] == "/api/cases/{case_id}/fields"
    update_traces = {s.context.trace_id for s in fields}
    assert any(s.name.startswith("StartWorkflowUpdate:") and s.context.trace_id in update_traces
               for s in finished)
    handled = [s for s in in_case if s.name.startswith("HandleUpdate:")]
    assert handled and all(link.context.trace_id in update_traces
                           for s in handled for link in s.links)

    # Friction: span events on the activity that stored it, in the case's trace...
    friction = [(s, e) for s in in_case if s.name == f"RunActivity:{ports.RECORD_FRICTION}"
                for e in s.events]
    reentries = [e for _, e in friction if e.name == "friction.manual_reentry"]
    stored = store.events_for_case(case_id)
    assert len(reentries) == sum(isinstance(e, ManualReentry) for e in stored) == 8
    assert {(e.attributes or {})["field"] for e in reentries} >= {
        "applicant_name", "id_number", "phone"}
    assert all((e.attributes or {})["case_id"] == case_id for _, e in friction)
    # ...and the trace id kept with each stored event, as evidence.
    assert {e.trace_id for e in stored} == {trace.format_trace_id(case_trace)}

    # No span carries a personal value, though the clerk typed them all.
    personal = [citizen.id_number, citizen.name, citizen.phone, citizen.address,
                citizen.bank_account or citizen.id_number]
    leaks = [(s.name, text) for s in finished for text in _strings(s)
             if any(value in text for value in personal)]
    assert leaks == []


def test_metrics_carry_burden_and_trips_by_bounded_labels(store: SqliteFrictionStore) -> None:
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    base: dict[str, Any] = {"occurred_at": now, "bundle": "employment-hardship",
                            "step": "unemployment-registration"}
    store.ingest([
        ManualReentry(event_id="C-1/1", case_id="C-1", field="phone", typed_seconds=30,
                      known_from=Provenance(kind="agency", source="public-security"), **base),
        RepeatTrip(event_id="C-1/2", case_id="C-1", trip_number=2, reasons=("r",),
                   could_have_been_told=(), **base),
        RepeatTrip(event_id="C-2/1", case_id="C-2", trip_number=2, reasons=("r",),
                   could_have_been_told=(), **base),
    ])
    for case in ("C-1", "C-2"):
        store.upsert_case(CaseRecord(
            case_id=case, bundle="employment-hardship", bundle_version=1, centre="x",
            channel="window", status="open", opened_at=now - timedelta(days=1)))
    registry = CollectorRegistry()
    registry.register(NotebookCollector(store))

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    burden = "onething_friction_burden_seconds_total"
    points = store.stuck_points(limit=100)
    reentry = next(p for p in points if p.kind == "manual_reentry")
    assert sample(burden, kind="manual_reentry", who="clerk") == pytest.approx(
        reentry.clerk_minutes * 60)
    assert sample(burden, kind="manual_reentry", who="citizen") == pytest.approx(
        reentry.citizen_minutes * 60)
    trips = next(p for p in points if p.kind == "repeat_trip")
    assert sample(burden, kind="repeat_trip", who="citizen") == pytest.approx(
        trips.citizen_minutes * 60) and trips.citizen_minutes > 0
    assert sample(burden, kind="clerk_note", who="clerk") == 0.0  # every kind, always
    assert sample("onething_repeat_trips_total", bundle="employment-hardship") == 2.0
    assert sample("onething_cases_opened_total", bundle="employment-hardship") == 2.0
    names = {s.name for m in registry.collect() for s in m.samples}
    labels = {k for m in registry.collect() for s in m.samples for k in s.labels}
    assert labels <= {"bundle", "kind", "who", "cause"}, names
