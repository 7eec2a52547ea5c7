"""What the clerk sees in the first hours of an agency outage, before the case escalates
it: the agency call the case waits on is failing and being retried. Temporal knows (the
run's pending activity and its attempts); the case's own state does not, since the
retries never reach its history (workflows.bundle.outage)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.client import WorkflowExecutionDescription

from workflows import ports
from workflows.case import AgencyRetrying, CaseProgress

AGENCY_CALLS = frozenset({ports.LOOK_UP, ports.SUBMIT_STEP, ports.POLL_DECISION})


def _at(stamp: Timestamp) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if stamp.seconds else None


def with_agency_wait(
    progress: CaseProgress, described: WorkflowExecutionDescription
) -> CaseProgress:
    if progress.status != "open":
        return progress
    for pending in described.raw_description.pending_activities:
        if pending.activity_type.name in AGENCY_CALLS and pending.attempt > 1:
            step = next((s for s in progress.steps if s.id == progress.current_step), None)
            agency = step.agency if step and progress.awaiting == "agency" else None
            return msgspec.structs.replace(progress, agency_retrying=AgencyRetrying(
                agency=agency,
                failed_attempts=pending.attempt - 1,
                last_failed_at=_at(pending.last_attempt_complete_time),
                next_attempt_at=_at(pending.next_attempt_schedule_time),
            ))
    return progress
