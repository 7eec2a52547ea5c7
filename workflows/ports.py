"""The calls a bundle workflow makes to the outside, by activity name and schema.

Workflows stay free of I/O and of imports from activities/: they call these names, and
activities/ registers implementations under the same names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import msgspec
from temporalio.common import RetryPolicy

from kernel.events import FrictionEvent
from workflows.calendar import WorkingCalendar
from workflows.case import Notification, Rejection
from workflows.definition import BundleDefinition

LOOK_UP = "look_up"
SUBMIT_STEP = "submit_step"
POLL_DECISION = "poll_decision"
RECORD_FRICTION = "record_friction"
RECORD_CASE = "record_case"
NOTIFY_CITIZEN = "notify_citizen"

# Errors no retry can fix: the activity raises ApplicationError with these types.
NON_RETRYABLE = ["UnknownAgency", "InvalidSubmission"]

AGENCY_CALL_TIMEOUT = timedelta(seconds=15)
AGENCY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=NON_RETRYABLE,
)
# Histories recorded before outages were waited out (workflows.bundle.outage) replay with
# AGENCY_RETRY; new cases retry without a count, bounded by the bundle's outage policy
# (the activity's schedule-to-close), backing off to one attempt every five minutes.
AGENCY_OUTAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE,
)
STORE_TIMEOUT = timedelta(seconds=10)
# A citizen's message is worth a few tries, never a case held open by an SMS outage.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
# Bounded like every retry policy: a bundle case waits out a longer outage of the store
# and tries again itself (workflows.bundle.case_state.store_call).
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
)


class LookupRequest(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    citizen_id_number: str
    source: str  # a key of definition.LOOKUP_SOURCES
    agency: str


class LookupResult(msgspec.Struct, kw_only=True, frozen=True):
    found: bool
    values: dict[str, str] = {}  # concept -> value
    certificates: tuple[str, ...] = ()  # e-certificate types held (source "ecert")


class Submission(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    step: str
    agency: str
    round: int  # 0 for the first submission, +1 after each rejection
    form: dict[str, str]
    materials: dict[str, Literal["ecert", "paper"]]
    outputs: tuple[str, ...]  # concepts the approval should return

    @property
    def idempotency_key(self) -> str:
        # One registration per case, step and round, however often the activity retries.
        return f"{self.case_id}:{self.step}:{self.round}"


class AgencyDecision(msgspec.Struct, kw_only=True, frozen=True):
    receipt: str
    status: Literal["approved", "rejected", "pending"]
    reasons: tuple[Rejection, ...] = ()
    outputs: dict[str, str] = {}
    elapsed_seconds: float = 0.0  # of the agency call, measured by the activity


class PollRequest(msgspec.Struct, kw_only=True, frozen=True):
    agency: str
    receipt: str


class FrictionBatch(msgspec.Struct, kw_only=True, frozen=True):
    events: tuple[FrictionEvent, ...]



class NotificationBatch(msgspec.Struct, kw_only=True, frozen=True):
    notifications: tuple[Notification, ...]


# The can't-get-it-done register (workflows.cant_get_it_done); schemas in
# workflows.register_case. Bounded retries: the workflow waits out a longer outage itself.
REGISTER_CANT_GET_IT_DONE = "register_cant_get_it_done"
RESOLVE_CANT_GET_IT_DONE = "resolve_cant_get_it_done"
REGISTER_NON_RETRYABLE = ["InvalidField", "NotRegistered"]
REGISTER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=REGISTER_NON_RETRYABLE,
)


# The monthly match for the allowance of residents aged 80+ (workflows.allowance_match).
# The activity asks civil affairs who is due and not yet paid, and names each one's case
# with the worker's HMAC key, which never enters a workflow's history.
FIND_ALLOWANCE_CANDIDATES = "find_allowance_candidates"
ALLOWANCE_NON_RETRYABLE = [*NON_RETRYABLE, "NoPseudonymKey", "InvalidField"]
ALLOWANCE_MATCH_TIMEOUT = timedelta(minutes=2)
ALLOWANCE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=20,
    non_retryable_error_types=ALLOWANCE_NON_RETRYABLE,
)


class AllowanceCandidatesRequest(msgspec.Struct, kw_only=True, frozen=True):
    month: str  # YYYY-MM
    bundle: str  # the bundle whose default version the cases get


class AllowanceCandidate(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str  # from the month and a keyed HMAC of the ID number: no personal value
    person_ref: str  # kernel.pseudonym.keyed_ref of the ID number, the case's memo
    citizen_id_number: str  # for the case's CaseStart only, as a window case has it


class AllowanceCandidates(msgspec.Struct, kw_only=True, frozen=True):
    bundle: BundleDefinition
    calendar: WorkingCalendar
    to_open: tuple[AllowanceCandidate, ...]
    # Due and unpaid, but a case of theirs (from an earlier month) is still open.
    already_open: int = 0
