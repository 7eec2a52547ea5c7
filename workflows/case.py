"""What crosses the boundary of a case: its start, the clerk's inputs and its progress.

The gateway and the tests speak to a BundleWorkflow only in these Structs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

import msgspec

from kernel.events import Provenance
from workflows.calendar import WorkingCalendar
from workflows.definition import BundleDefinition
from workflows.material_rules import Finding

# Update, query and search-attribute names, shared by the workflow and its callers.
SUBMIT_FIELDS = "submit_fields"
RECORD_MATERIAL = "record_material"
RECORD_TRIP = "record_trip"
RECORD_MILESTONE = "record_milestone"
PROGRESS = "progress"
CALENDAR_PUBLISHED = "calendar_published"  # signal: a newer working-day schedule
CLOSE_NOT_ELIGIBLE = "close_not_eligible"
WITHDRAW = "withdraw"
SERVE_ELSEWHERE = "serve_elsewhere"  # update: a clerk of another centre serves the case
ACCESS = "access"  # query: the case's home centre and who serves it from elsewhere

SA_BUNDLE = "OtBundle"
SA_CENTRE = "OtCentre"
SA_AWAITING = "OtAwaiting"
SA_STEP = "OtStep"  # the current step; unset once the case ends (a failed case: its step)
SA_DUE_DATE = "OtDueDate"  # the next promised date: the current step's SLA end; unset at the end
# Since when the current step waits (its start), so a worklist reads it from visibility
# rather than asking each case; unset at the end. Cases started before it never set it.
SA_WAITING_SINCE = "OtWaitingSince"
# Whose case it is: a keyed HMAC of the ID number (kernel.pseudonym), set by the gateway
# when it opens the case, so a clerk finds a citizen's cases without Temporal holding the
# number.
SA_CITIZEN = "OtCitizen"
SearchAttributeKind = Literal["Keyword", "Datetime"]
# Every search attribute the product sets, with its Temporal type (`onething setup`
# registers them; `temporal --search-attribute NAME=KIND` takes the same names).
SEARCH_ATTRIBUTES: dict[str, SearchAttributeKind] = {
    SA_BUNDLE: "Keyword", SA_CENTRE: "Keyword", SA_AWAITING: "Keyword", SA_STEP: "Keyword",
    SA_CITIZEN: "Keyword", SA_DUE_DATE: "Datetime", SA_WAITING_SINCE: "Datetime",
}
# SA_AWAITING of a case that ended as failed: the clerk's worklist lists it.
AWAITING_FAILED = "failed"

TASK_QUEUE = "onething-bundles"

Awaiting = Literal["lookup", "clerk", "agency", "worker", "nobody"]


class CaseStart(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: BundleDefinition
    calendar: WorkingCalendar
    citizen_id_number: str  # the key agencies know the citizen by; never leaves the case
    centre: str
    channel: str = "window"


class FieldEntry(msgspec.Struct, kw_only=True, frozen=True):
    """Values a clerk typed for the current step; typed_seconds is measured by the console."""

    step: str
    values: dict[str, str]
    typed_seconds: dict[str, float] = {}


class MaterialEntry(msgspec.Struct, kw_only=True, frozen=True):
    """A clerk requested or received a material: on paper, or confirmed from an e-certificate."""

    step: str
    material: str
    form: Literal["paper", "ecert"]


class MilestoneEntry(msgspec.Struct, kw_only=True, frozen=True):
    """Someone reached a milestone of a task step: who, and the evidence's reference."""

    step: str
    milestone: str
    actor: str
    evidence_ref: str | None = None  # a photo's or the minutes' reference in the file store


class NotEligibleEntry(msgspec.Struct, kw_only=True, frozen=True):
    """The clerk closes the case: a material rule the citizen cannot meet today fails.
    The actor is the logged-in account, set by the gateway; the reason a short sentence."""

    actor: str
    reason: str


class WithdrawalEntry(msgspec.Struct, kw_only=True, frozen=True):
    """The citizen withdraws the application, recorded by the clerk on their behalf."""

    actor: str
    reason: str | None = None


# A return trip's reasons: the case's own items ("material:<step>.<name>", what its
# notice named) or one of these, so a trip can neither mint evidence nor grow without end.
GENERAL_TRIP_REASONS = ("consultation", "signature", "collection", "other")
MAX_TRIP_REASONS = 16
MAX_TRIP_REASON_CHARS = 120
# One return trip a China-local day; the clerk may say the citizen came again that day
# (again_today with a reason), up to this many trips a day in all.
MAX_TRIPS_A_DAY = 3
MAX_AGAIN_TODAY_REASON_CHARS = 200


class TripEntry(msgspec.Struct, kw_only=True, frozen=True):
    """The citizen came back; reasons name outstanding items ("material:<step>.<name>").
    A second trip the same day is refused unless the clerk states it (`again_today`, with
    `again_today_reason`). The actor is the logged-in account, set by the gateway."""

    reasons: tuple[str, ...] = ()
    again_today: bool = False
    again_today_reason: str | None = None
    actor: str = ""  # empty in histories written before trips named who recorded them


class TripRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A return visit as the case keeps it: when, and who recorded it."""

    at: datetime
    actor: str


class CrossCentreEntry(msgspec.Struct, kw_only=True, frozen=True):
    """A clerk of another centre serves the case (通办): who, from which centre, why.
    Set by the gateway from the logged-in account; the reason is the clerk's."""

    actor: str
    centre: str
    reason: str


class CrossCentreService(msgspec.Struct, kw_only=True, frozen=True):
    """A cross-centre service as the case records it, for its home centre to see."""

    actor: str
    centre: str
    reason: str
    at: datetime


class CaseAccess(msgspec.Struct, kw_only=True, frozen=True):
    """What deciding who may see and act on a case needs, and nothing personal."""

    case_id: str
    centre: str
    served_elsewhere: tuple[CrossCentreService, ...] = ()


class DossierEntry(msgspec.Struct, kw_only=True, frozen=True):
    value: str
    source: Provenance
    at: datetime


class Rejection(msgspec.Struct, kw_only=True, frozen=True):
    code: str
    message_zh: str
    message_en: str
    field: str | None = None
    material: str | None = None


class FieldView(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    label_zh: str
    label_en: str
    type: str
    options: tuple[str, ...]
    concept: str | None
    value: str | None
    prefilled: bool
    source: Provenance | None


class MaterialView(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    label_zh: str
    label_en: str
    status: Literal["held_ecert", "received_paper", "missing"]
    ecert: str | None


StepStatus = Literal[
    "pending", "awaiting_clerk", "awaiting_agency", "awaiting_worker", "approved", "rejected",
    "skipped", "not_eligible", "withdrawn", "failed",
]
CaseStatus = Literal["open", "completed", "failed", "not_eligible", "withdrawn"]
# Why a case ended as failed. The first three are the case's own verdicts; the others are
# read by the gateway from Temporal when the workflow itself ended without finishing
# (an operator terminated it, it ran out of time, it was cancelled, or it crashed).
FailureCause = Literal[
    "agency_outage",  # an agency did not answer for the bundle's outage policy
    "agency_refused",  # an agency refused the request itself (4xx): no retry can fix it
    "rejected_too_often",  # rejected at every round allowed: the can't-get-it-done register
    "workflow_error", "terminated", "timed_out", "canceled",
]
FAILURE_CAUSES: tuple[str, ...] = get_args(FailureCause)


class Failure(msgspec.Struct, kw_only=True, frozen=True):
    """How a failed case failed: shown with the case wherever its status is."""

    cause: FailureCause
    step: str | None = None
    agency: str | None = None
    at: datetime | None = None


class AgencyRetrying(msgspec.Struct, kw_only=True, frozen=True):
    """An agency call failing attempt after attempt, as Temporal retries it."""

    agency: str | None  # the current step's; None while the case looks up its dossier
    failed_attempts: int
    last_failed_at: datetime | None = None
    next_attempt_at: datetime | None = None


class Outage(msgspec.Struct, kw_only=True, frozen=True):
    """An agency the case waits on has not answered for the bundle's escalate_after_hours:
    registered as can't-get-it-done (cause system), citizen told, operators alerted."""

    agency: str
    step: str | None  # None while the case looks up its dossier
    since: datetime
    escalated_at: datetime
    give_up_at: datetime
    ended_at: datetime | None = None  # the agency answered again


class MilestoneView(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name_zh: str
    name_en: str
    evidence: str
    due_at: datetime | None
    done_at: datetime | None = None
    actor: str | None = None
    evidence_ref: str | None = None


class Notification(msgspec.Struct, kw_only=True, frozen=True):
    """A progress message to the citizen, delivered by the worker's notifier."""

    notification_id: str  # "<case id>/n<sequence>": a retried delivery sends it once
    case_id: str
    at: datetime
    event: Literal["step_started", "step_approved", "step_rejected", "case_completed",
                   "case_failed", "case_not_eligible", "case_withdrawn", "agency_outage"]
    step: str | None
    text_zh: str
    text_en: str


class StepView(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name_zh: str
    name_en: str
    agency: str
    status: StepStatus
    awaiting: Awaiting
    round: int
    fields: tuple[FieldView, ...]
    materials: tuple[MaterialView, ...]
    missing_fields: tuple[str, ...]
    missing_materials: tuple[str, ...]
    rejections: tuple[Rejection, ...]
    started_at: datetime | None
    due_on: date | None  # last working day of the SLA
    finished_at: datetime | None
    kind: str = "agency"
    due_at: datetime | None = None  # the SLA's end, on the clock
    milestones: tuple[MilestoneView, ...] = ()
    # Material rules failing as of the last review ("rule:<step>.<rule>" in outstanding).
    findings: tuple[Finding, ...] = ()
    # While the step waits for its window to open (closed, lunch break, past the cut-off):
    # the opening it will be taken at.
    held_until: datetime | None = None
    # The promised date counts days of a year whose official schedule is not published yet
    # (预计): the statutory holidays alone.
    due_provisional: bool = False


class FrictionNote(msgspec.Struct, kw_only=True, frozen=True):
    event_id: str
    kind: str
    step: str | None
    subject: str


class Closure(msgspec.Struct, kw_only=True, frozen=True):
    """How a case that could not be completed ended: closed as not eligible (the rules
    failing then, as the one-time notice named them) or withdrawn by the citizen."""

    outcome: Literal["not_eligible", "withdrawn"]
    actor: str
    at: datetime
    step: str | None
    reason: str | None = None
    findings: tuple[Finding, ...] = ()  # not eligible: the failed rules, in words


class CaseProgress(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str
    bundle_version: int
    status: CaseStatus
    current_step: str | None
    awaiting: Awaiting
    trips: int
    steps: tuple[StepView, ...]
    outstanding: tuple[str, ...]  # the one-time notice: everything still lacking, at once
    friction: tuple[FrictionNote, ...]
    dossier: dict[str, DossierEntry]
    fields_total: int
    fields_prefilled: int
    notifications: tuple[Notification, ...] = ()
    closure: Closure | None = None
    failure: Failure | None = None  # with status "failed": why
    outages: tuple[Outage, ...] = ()  # escalated agency outages, the latest last
    # Set by the gateway from Temporal, never by the workflow: the agency call the case
    # waits on is failing now and being retried.
    agency_retrying: AgencyRetrying | None = None
    centre: str | None = None  # the home centre the case was opened at
    served_elsewhere: tuple[CrossCentreService, ...] = ()  # 通办 by other centres' clerks
    trip_records: tuple[TripRecord, ...] = ()  # who recorded each return visit, and when
