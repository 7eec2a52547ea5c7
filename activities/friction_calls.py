"""Activities that hand friction events and case records to the notebook's store.

The event ids are fixed by the workflow (case id and sequence), so a retried activity or
a replayed workflow stores each event once.

Each event is also told to the trace: its trace id is stamped on the event (the workflow
cannot read span context deterministically, the activity can), and each one stored
becomes an event on the activity's span, so a trace shows where friction happened and a
stuck point's events lead back to their traces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue
from temporalio import activity

from friction.ingest import ingest, with_trace_id
from friction.store import IngestResult, IngestStore
from kernel.events import CaseRecord, FrictionEvent, subject_of
from workflows import ports


def add_span_events(
    span: trace.Span, events: Sequence[FrictionEvent], result: IngestResult
) -> None:
    """One span event per event that passed ingest's privacy checks (stored now or
    before): names of fields, materials and rules only, never a value."""
    accepted = {*result.stored, *result.duplicates}
    for event in events:
        if event.event_id not in accepted:
            continue
        attributes: dict[str, AttributeValue] = {
            "event_id": event.event_id,
            "subject": subject_of(event),
            "channel": event.channel,
        }
        # The case number is how people are referred to in telemetry; None is no value.
        for name in ("case_id", "bundle", "step", "field", "material"):
            if (value := getattr(event, name, None)) is not None:
                attributes[name] = value
        span.add_event(f"friction.{type(event).__struct_config__.tag}", attributes)


class FrictionCalls:
    def __init__(self, store: IngestStore) -> None:
        self._store = store

    @activity.defn(name=ports.RECORD_FRICTION)
    async def record_friction(self, batch: ports.FrictionBatch) -> None:
        span = trace.get_current_span()  # Temporal's RunActivity span, in the case's trace
        events = [with_trace_id(e, span) for e in batch.events]
        # The store is synchronous; keep the worker's event loop free while it writes.
        result = await asyncio.to_thread(ingest, self._store, events)
        add_span_events(span, events, result)

    @activity.defn(name=ports.RECORD_CASE)
    async def record_case(self, record: CaseRecord) -> None:
        await asyncio.to_thread(self._store.upsert_case, record)
