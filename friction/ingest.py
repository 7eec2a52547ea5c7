"""The one path into the notebook, for workflow activities and HTTP producers alike.

Every event is checked before it is stored: a clerk's free-text note has ID and mobile
numbers masked; any other string that holds one (an id, a field name, a reason...) makes
the event invalid, because masking would change what it identifies. A batch is decoded
event by event, so one bad event is reported without sinking the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import msgspec
from opentelemetry import trace

from friction.store import IngestResult, IngestStore
from kernel.events import FRICTION_KINDS, SCHEMA_VERSION, ClerkNote, FrictionEvent
from kernel.privacy import has_personal_value, mask, may_hold_personal_value

log = logging.getLogger(__name__)

# No friction the notebook counts happened before the reform's platforms existed.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class EventError(msgspec.Struct, kw_only=True, frozen=True):
    index: int  # position in the batch's "events" array
    event_id: str | None  # None when it could not be read (or would itself leak)
    error: str
    field: str | None = None  # the event's field at fault, where one is


class BatchResult(msgspec.Struct, kw_only=True, frozen=True):
    stored: tuple[str, ...]
    duplicates: tuple[str, ...]
    rejected: list[EventError]


class _Batch(msgspec.Struct, kw_only=True):
    events: list[msgspec.Raw]  # decoded one by one below


class _IdOnly(msgspec.Struct, kw_only=True):
    event_id: str | None = None


_batch_decoder = msgspec.json.Decoder(_Batch)
_event_decoder = msgspec.json.Decoder(FrictionEvent)
_id_decoder = msgspec.json.Decoder(_IdOnly)
_scan_encoder = msgspec.json.Encoder()


def _personal_paths(value: object, path: str) -> Iterator[str]:
    """Paths of the strings under `value` that hold an ID or mobile number."""
    if isinstance(value, str):
        if has_personal_value(value):
            yield path
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _personal_paths(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _personal_paths(item, f"{path}[{i}]")


def check_event(
    event: FrictionEvent, latest: datetime | None = None
) -> tuple[FrictionEvent | None, str | None]:
    """(the event ready to store, None) or (None, what is wrong with it). With `latest`
    (an HTTP producer's batch: a day past its arrival) the event must have occurred
    between EARLIEST and then: the notebook's rollups and trends count by day and week,
    and a year 9999 breaks them."""
    if event.schema_version > SCHEMA_VERSION:
        return None, (
            f"schema_version {event.schema_version} is newer than this notebook "
            f"understands ({SCHEMA_VERSION})"
        )
    if event.occurred_at.tzinfo is None:
        return None, "occurred_at has no time zone offset"
    if latest is not None and not EARLIEST <= event.occurred_at <= latest:
        return None, (f"occurred_at: between {EARLIEST.date()} and {latest.isoformat()} "
                      "(a day after the notebook received it)")
    if not event.event_id:
        return None, "event_id is empty"
    if isinstance(event, ClerkNote):
        if event.about_kind is not None and event.about_kind not in FRICTION_KINDS:
            return None, "about_kind is not a kind of friction"
        event = msgspec.structs.replace(event, text=mask(event.text))
    # A note's text is masked by now. The event's JSON is scanned first (one quick regex
    # over a microsecond's encoding); only one that might hold a value has its strings
    # walked one by one, which also names where.
    if not may_hold_personal_value(_scan_encoder.encode(event)):
        return event, None
    leaks = list(_personal_paths(event, ""))
    if leaks:
        return None, "; ".join(f"{p} holds a personal value" for p in leaks)
    return event, None


def _safe_id(event_id: str | None) -> str | None:
    return None if event_id is None or has_personal_value(event_id) else event_id


def _check_indexed(
    events: Sequence[tuple[int, FrictionEvent]], latest: datetime | None = None
) -> tuple[list[tuple[int, FrictionEvent]], list[EventError]]:
    good: list[tuple[int, FrictionEvent]] = []
    errors: list[EventError] = []
    for index, event in events:
        checked, error = check_event(event, latest)
        if checked is not None:
            good.append((index, checked))
        else:
            errors.append(
                EventError(index=index, event_id=_safe_id(event.event_id), error=str(error))
            )
    return good, errors


def check_events(
    events: Sequence[FrictionEvent],
) -> tuple[list[FrictionEvent], list[EventError]]:
    """The events fit to store (notes masked), and an error for each one that is not."""
    good, errors = _check_indexed(list(enumerate(events)))
    return [event for _, event in good], errors


def decode_batch(
    raw: bytes, latest: datetime | None = None
) -> tuple[list[FrictionEvent], list[EventError]]:
    """Decode and check a JSON body `{"events": [...]}`: the events fit to store, and an
    error for each one that is not (or that occurred after `latest`). A body that is not
    such an object raises ValueError."""
    good, errors = decode_indexed(raw, latest)
    return [event for _, event in good], errors


def decode_indexed(
    raw: bytes, latest: datetime | None = None
) -> tuple[list[tuple[int, FrictionEvent]], list[EventError]]:
    """decode_batch, each event fit to store with its position in the batch."""
    try:
        batch = _batch_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(
            f'a batch is a JSON object {{"events": [...]}}: {exc}'
        ) from exc
    decoded: list[tuple[int, FrictionEvent]] = []
    errors: list[EventError] = []
    for index, item in enumerate(batch.events):
        try:
            decoded.append((index, _event_decoder.decode(item)))
        except msgspec.DecodeError as exc:
            errors.append(EventError(index=index, event_id=_peek_id(item), error=str(exc)))
    good, refused = _check_indexed(decoded, latest)
    return good, sorted(errors + refused, key=lambda e: e.index)


def _peek_id(item: msgspec.Raw) -> str | None:
    """The event id of an event that failed to decode, if it has a readable one."""
    try:
        return _safe_id(_id_decoder.decode(item).event_id)
    except msgspec.DecodeError:
        return None


def ingest(store: IngestStore, events: Sequence[FrictionEvent]) -> IngestResult:
    """Check and store events. Events that fail the checks are not stored: decode_batch
    has already reported them to HTTP producers; from a workflow they are a bug upstream,
    logged (without the value) rather than retried forever."""
    good, errors = check_events(events)
    for e in errors:
        log.warning("friction event %s (#%d) refused: %s", e.event_id, e.index, e.error)
    return store.ingest(good)


def with_trace_id(event: FrictionEvent, span: trace.Span) -> FrictionEvent:
    """The event carrying the span's trace id, unless it has one or there is no trace."""
    context = span.get_span_context()
    if event.trace_id is not None or not context.is_valid:
        return event
    trace_id = trace.format_trace_id(context.trace_id)
    # A random hex id can, very rarely, hold a digit run shaped like an ID number; ingest
    # would then refuse the whole event, so such an event goes without its trace id.
    if has_personal_value(trace_id):
        return event
    return msgspec.structs.replace(event, trace_id=trace_id)
