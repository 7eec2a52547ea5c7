"""The friction event schema: one tagged union for every producer.

Workflows emit these through an activity, other channels post them over HTTP; both land
in the same ingest path. No field ever holds a personal value: people are referred to by
case number, values by the name of the field or material that holds them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

import msgspec

SCHEMA_VERSION = 1

SourceKind = Literal["agency", "ecert", "step", "clerk"]


class Provenance(msgspec.Struct, kw_only=True, frozen=True):
    """Where a value or document was already held: an agency record, an e-certificate,
    an earlier step's form or agency decision, or a clerk's entry."""

    kind: SourceKind
    source: str  # agency id, e-certificate type, step id or "clerk"
    step: str | None = None  # the step whose form or decision produced it, if any


class _Event(msgspec.Struct, kw_only=True, frozen=True, tag_field="kind"):
    event_id: str  # "<case id>/<sequence>" from a workflow; producer-unique otherwise
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime
    case_id: str | None = None
    bundle: str | None = None
    bundle_version: int | None = None
    step: str | None = None
    centre: str | None = None
    channel: str = "window"
    trace_id: str | None = None


class ManualReentry(_Event, tag="manual_reentry", kw_only=True, frozen=True):
    """A value typed by hand although the case already knew it."""

    field: str
    known_from: Provenance
    typed_seconds: float | None = None  # measured by the console when it can
    # The first value of this step's form the case saw typed again: the form as a whole
    # costs the clerk a redundant round once, on top of each field's typing.
    first_of_form: bool = False


class SearchOnlyEntry(_Event, tag="search_only_entry", kw_only=True, frozen=True):
    """A citizen reached a service by search although it should have a direct entry."""

    service: str
    entry_path: str


class ExtraWait(_Event, tag="extra_wait", kw_only=True, frozen=True):
    """A step, an agency call or a queue took longer than its SLA."""

    scope: Literal["step", "agency_call", "queue"]
    agency: str | None = None
    sla_working_days: int | None = None
    sla_seconds: float | None = None
    actual_seconds: float | None = None
    due_at: datetime | None = None
    calendar: str | None = None
    milestone: str | None = None  # of a task step: its own stuck point
    # Of an agency call: whether someone waited for it at the window (the citizen with the
    # clerk, served in the same sitting) or the case waited in the background; None on
    # events recorded before this was known.
    attended: bool | None = None


class PhysicalMaterialRequested(_Event, tag="physical_material", kw_only=True, frozen=True):
    """A paper document was asked for although an e-certificate or shared data held it."""

    material: str
    held_by: Provenance


class RepeatTrip(_Event, tag="repeat_trip", kw_only=True, frozen=True):
    """The citizen had to come back."""

    trip_number: int
    reasons: tuple[str, ...]
    could_have_been_told: tuple[str, ...]  # outstanding items already known at the last trip
    # Another trip the same day, as the clerk stated it (no personal value: checked).
    again_today_reason: str | None = None


class PiecemealRejection(_Event, tag="piecemeal_rejection", kw_only=True, frozen=True):
    """A rejection named a deficiency already detectable at an earlier rejection."""

    rule: str
    first_rejection_round: int
    later_rejection_round: int


CantGetItDoneCause = Literal[
    "policy",
    "system",
    "materials",
    "service_attitude",
    "acceptance",
    "consultation",
    "approval_procedure",
]


class CantGetItDone(_Event, tag="cant_get_it_done", kw_only=True, frozen=True):
    """A case failed or stalled with no way forward (办不成事)."""

    cause: CantGetItDoneCause
    department: str
    deadline: date | None = None
    resolution: str | None = None


class ClerkNote(_Event, tag="clerk_note", kw_only=True, frozen=True):
    """A stuck point a clerk logged by hand in the notebook; text is masked before storage."""

    category: str
    text: str
    subject: str | None = None  # field, material or service the note is about
    # The kind of friction the note describes: the note then joins the automatic stuck
    # point of that kind, bundle, step and subject instead of standing apart.
    about_kind: str | None = None
    actor: str | None = None  # the clerk's staff id, so the task force can ask back


FrictionEvent = (
    ManualReentry
    | SearchOnlyEntry
    | ExtraWait
    | PhysicalMaterialRequested
    | RepeatTrip
    | PiecemealRejection
    | CantGetItDone
    | ClerkNote
)

# Every kind, in the union's order: the tags themselves, so a new kind of event is a new
# kind everywhere (metrics, dashboard, notes) without another list to keep in step.
FRICTION_KINDS: tuple[str, ...] = tuple(
    str(event.__struct_config__.tag) for event in get_args(FrictionEvent)
)


class StepRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One step of a case as the reports count it."""

    step: str
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    working_days: int | None = None  # statutory working days from start to finish
    rounds: int = 1  # submissions to the agency, 1 + rejections
    fields_total: int = 0
    fields_prefilled: int = 0


class CaseRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One case as the notebook counts it: the denominator of every rate.

    Upserted when a case opens and again when it closes; never carries a person."""

    case_id: str
    bundle: str
    bundle_version: int
    centre: str
    channel: str
    status: Literal["open", "completed", "failed", "not_eligible", "withdrawn"]
    opened_at: datetime
    closed_at: datetime | None = None
    trips: int = 1
    fields_total: int = 0
    fields_prefilled: int = 0
    working_days: int | None = None  # statutory working days from opening to closing
    clerk_minutes: float = 0.0  # standard handling time of its steps plus measured typing
    steps: tuple[StepRecord, ...] = ()


_FIXED_SUBJECTS = {"manual_reentry": "form", "repeat_trip": "trip"}
# Each kind by its class: kind_of runs for every event ingested.
_KIND_OF: dict[type, str] = {
    event: str(event.__struct_config__.tag) for event in get_args(FrictionEvent)
}


def subject_of(event: FrictionEvent) -> str:
    """The field, material, service or rule an event is about: the last part of its
    stuck-point fingerprint."""
    match event:
        case ManualReentry():
            # One stuck point per form: the fix is linking the form, not one field.
            return "form"
        case SearchOnlyEntry(service=s):
            return s
        case ExtraWait(scope=scope, milestone=milestone) if milestone:
            return f"{scope}:{milestone}"
        case ExtraWait(scope=scope, agency=agency):
            return f"{scope}:{agency}" if agency else scope
        case PhysicalMaterialRequested(material=m):
            return m
        case RepeatTrip():
            return "trip"
        case PiecemealRejection(rule=r):
            return r
        case CantGetItDone(cause=c):
            return c
        case ClerkNote(about_kind=about) if about in _FIXED_SUBJECTS:
            # Subjects the automatic events always use, so the note joins their point.
            return _FIXED_SUBJECTS[about]
        case ClerkNote(subject=s, category=c):
            return s or c
    raise TypeError(f"not a friction event: {type(event).__name__}")


def kind_of(event: FrictionEvent) -> str:
    """The event's own kind (its tag)."""
    kind = _KIND_OF.get(type(event))
    return kind if kind is not None else str(type(event).__struct_config__.tag)


def point_kind(event: FrictionEvent) -> str:
    """The kind of stuck point an event counts towards: its own, except a clerk's note
    about another kind of friction."""
    if isinstance(event, ClerkNote) and event.about_kind:
        return event.about_kind
    return kind_of(event)


def fingerprint(event: FrictionEvent) -> str:
    """Events with the same fingerprint are the same stuck point."""
    return point_fingerprint(point_kind(event), event.bundle, event.step, subject_of(event))


def point_fingerprint(kind: str, bundle: str | None, step: str | None, subject: str) -> str:
    """fingerprint from its parts, for a caller that has them already."""
    return "|".join((kind, bundle or "-", step or "-", subject))
