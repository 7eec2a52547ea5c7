"""What crosses the boundary of a can't-get-it-done case (办不成事): its start, the task
force's inputs and its progress.

One CantGetItDoneWorkflow runs per registered case, with the workflow id
`register_workflow_id(case_id)`, so registering a case twice names the same workflow.
The gateway, the bundle workflow and the tests speak to it only in these Structs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from friction.register import DEFAULT_DEADLINE_WORKING_DAYS, CantGetItDoneRecord
from workflows.calendar import WorkingCalendar

# Update and query names, shared by the workflow and its callers.
REGISTRATION = "registration"  # waits until the register holds the case, returns progress
ASSIGN_TASK_FORCE = "assign_task_force"
RESOLVE = "resolve"
REGISTER_PROGRESS = "register_progress"

WORKFLOW_ID_PREFIX = "cgid-"

# "clerk": registered at a window (a failed or stalled case, or a walk-in);
# "bundle": a bundle case that failed after its last allowed rejection registered itself.
Origin = Literal["clerk", "bundle"]
RegisterStatus = Literal[
    "registered", "task_force_assigned", "resolved", "cannot_be_done", "refused"
]
EscalationReason = Literal["deadline_near", "deadline_passed"]


def register_workflow_id(case_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{case_id}"


class RegisterStart(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str
    step: str | None = None
    centre: str
    department: str
    # Checked by the workflow (an applicant's own failure is refused), so a plain string:
    # a Literal would make a bad value a decode error that wedges the workflow task.
    cause: str
    calendar: WorkingCalendar
    channel: str = "window"
    origin: Origin = "clerk"
    deadline_working_days: int = DEFAULT_DEADLINE_WORKING_DAYS


class TaskForceEntry(msgspec.Struct, kw_only=True, frozen=True):
    """The task force that finds the cause and answers: who leads it (a staff id), and the
    departments it brings together."""

    lead: str
    departments: tuple[str, ...]


class ResolutionEntry(msgspec.Struct, kw_only=True, frozen=True):
    """The answer: resolved, or a matter that truly cannot be done; either way the citizen
    gets a documented explanation."""

    resolution: str  # "resolved" | "cannot_be_done", checked by the update's validator
    explanation: str
    actor: str


class TaskForce(msgspec.Struct, kw_only=True, frozen=True):
    lead: str
    departments: tuple[str, ...]
    assigned_at: datetime


class Escalation(msgspec.Struct, kw_only=True, frozen=True):
    level: int  # 1: the deadline nears; 2: the deadline passed unanswered
    reason: EscalationReason
    due_at: datetime  # the instant the escalation was due
    at: datetime  # when the workflow escalated
    event_id: str | None = None  # the friction event recording it, if any


class RegisterProgress(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str
    step: str | None
    centre: str
    department: str
    cause: str
    origin: Origin
    status: RegisterStatus
    registered_at: datetime | None  # None until the register holds the case
    deadline: date | None  # the last working day to answer by
    task_force: TaskForce | None
    escalated: bool
    escalations: tuple[Escalation, ...]
    resolution: str | None
    explanation: str | None  # as the register stores it: personal values masked
    resolved_at: datetime | None
    resolved_by: str | None
    record: CantGetItDoneRecord | None  # the register's row, the notebook's single source
    adopted: bool  # the register held the case before this workflow registered it


# -- the activities that write the register (names and retry policy in workflows.ports) --


class RegisterRequest(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str
    step: str | None
    centre: str
    department: str
    cause: str
    calendar: WorkingCalendar
    registered_at: datetime  # the workflow's time, so a retry writes the same row
    deadline_working_days: int


class Registration(msgspec.Struct, kw_only=True, frozen=True):
    record: CantGetItDoneRecord  # as the register holds it
    created: bool  # written by this registration (or a retry of it), not found there


class ResolveRequest(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    resolution: str
    explanation: str
    at: datetime  # the workflow's time, so a retry writes the same answer
