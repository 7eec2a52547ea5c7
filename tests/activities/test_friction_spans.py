"""Friction events told to the trace by the activity that stores them: a span event each,
the trace id stamped on the stored event, and never a personal value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import ActivityEnvironment

from activities.friction_calls import FrictionCalls
from friction.ingest import with_trace_id
from friction.sqlite_store import SqliteFrictionStore
from kernel.events import ManualReentry, Provenance, RepeatTrip
from workflows import ports

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CASE = "20260302-ABCDEFGH"


def reentry(seq: int, field: str, **extra: object) -> ManualReentry:
    return ManualReentry(
        event_id=f"{CASE}/{seq}", occurred_at=NOW, case_id=CASE, bundle="employment-hardship",
        step="flexible-insurance-enrollment", field=field,
        known_from=Provenance(kind="agency", source="public-security"), **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(spans: InMemorySpanExporter) -> trace.Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider.get_tracer("test")


async def test_each_stored_event_is_a_span_event_and_carries_the_trace_id(
    store: SqliteFrictionStore, tracer: trace.Tracer, spans: InMemorySpanExporter
) -> None:
    batch = ports.FrictionBatch(events=(
        reentry(1, "id_number"),
        RepeatTrip(event_id=f"{CASE}/2", occurred_at=NOW, case_id=CASE,
                   bundle="employment-hardship", trip_number=2, reasons=("material:x",),
                   could_have_been_told=()),
        reentry(3, "phone", trace_id="0af7651916cd43dd8448eb211c80319c"),  # set upstream
        reentry(4, "13912345678"),  # a value where a field name belongs: ingest refuses it
    ))
    with tracer.start_as_current_span("RunActivity:RecordFriction") as span:
        await ActivityEnvironment().run(FrictionCalls(store).record_friction, batch)
        trace_id = trace.format_trace_id(span.get_span_context().trace_id)

    [finished] = spans.get_finished_spans()
    assert [(e.name, dict(e.attributes or {})) for e in finished.events] == [
        ("friction.manual_reentry", {
            "event_id": f"{CASE}/1", "subject": "form", "channel": "window",
            "case_id": CASE, "bundle": "employment-hardship",
            "step": "flexible-insurance-enrollment", "field": "id_number"}),
        ("friction.repeat_trip", {
            "event_id": f"{CASE}/2", "subject": "trip", "channel": "window",
            "case_id": CASE, "bundle": "employment-hardship"}),
        ("friction.manual_reentry", {
            "event_id": f"{CASE}/3", "subject": "form", "channel": "window",
            "case_id": CASE, "bundle": "employment-hardship",
            "step": "flexible-insurance-enrollment", "field": "phone"}),
    ]
    stored = {e.event_id: e.trace_id for e in store.events_for_case(CASE)}
    assert stored == {
        f"{CASE}/1": trace_id,
        f"{CASE}/2": trace_id,
        f"{CASE}/3": "0af7651916cd43dd8448eb211c80319c",  # a trace id already set is kept
    }

    # A retry stores nothing new but still marks the span: the friction happened there.
    with tracer.start_as_current_span("retry"):
        await ActivityEnvironment().run(FrictionCalls(store).record_friction, batch)
    assert len(spans.get_finished_spans()[-1].events) == 3


async def test_without_a_trace_events_are_stored_without_a_trace_id(
    store: SqliteFrictionStore,
) -> None:
    batch = ports.FrictionBatch(events=(reentry(1, "applicant_name"),))
    await ActivityEnvironment().run(FrictionCalls(store).record_friction, batch)
    [event] = store.events_for_case(CASE)
    assert event.trace_id is None


def test_a_trace_id_shaped_like_an_id_number_is_left_off() -> None:
    # Random hex can hold 18 digits that read as an ID number; ingest would refuse the
    # whole event, so it is stored without its trace id instead.
    shaped = "ab320211198001011234cdef00000000"
    span = trace.NonRecordingSpan(
        trace.SpanContext(trace_id=int(shaped, 16), span_id=1, is_remote=False)
    )
    assert with_trace_id(reentry(1, "phone"), span).trace_id is None
    plain = "0af7651916cd43dd8448eb211c80319c"
    span = trace.NonRecordingSpan(
        trace.SpanContext(trace_id=int(plain, 16), span_id=1, is_remote=False)
    )
    assert with_trace_id(reentry(1, "phone"), span).trace_id == plain
