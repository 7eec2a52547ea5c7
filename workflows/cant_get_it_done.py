"""CantGetItDoneWorkflow: one case in the can't-get-it-done register (办不成事), from its
registration to its answer.

A case is registered from a failed or stalled case, or from a walk-in; a task force is
assigned, the answer is due `deadline_working_days` working days after registration
(5 by default), and the case is escalated as the deadline nears and again when it
passes unanswered. It ends with a resolution or, for a matter that truly cannot be done,
a documented explanation to the citizen.

Deterministic code only. The register itself stays in the notebook's store (the single
source its list, dashboard, metrics and reports read): registration and answer are
written there by activities calling friction.notebook, and an escalation past the
deadline is recorded as friction through the same activity as every other event.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from friction.register import RESOLUTIONS, CantGetItDoneRecord, RegisterError, check_cause
    from kernel.china_time import end_of_day, local_date
    from kernel.events import ExtraWait
    from kernel.privacy import has_personal_value
    from workflows import detectors, ports
    from workflows.calendar import WorkingCalendar
    from workflows.case import CALENDAR_PUBLISHED, CaseStart
    from workflows.register_case import (
        ASSIGN_TASK_FORCE,
        REGISTER_PROGRESS,
        REGISTRATION,
        RESOLVE,
        Escalation,
        EscalationReason,
        RegisterProgress,
        RegisterRequest,
        RegisterStart,
        RegisterStatus,
        Registration,
        ResolutionEntry,
        ResolveRequest,
        TaskForce,
        TaskForceEntry,
        register_workflow_id,
    )

T = TypeVar("T")

MAX_EXPLANATION_CHARS = 2000
MAX_DEPARTMENTS = 12
# While the store is down for longer than an activity's bounded retries, the workflow
# waits this long and tries again: the registration and its escalations are never lost.
STORE_OUTAGE_PAUSE = timedelta(minutes=10)
# What Temporal's UI shows for each call on the register's store.
STORE_CALL_SUMMARIES = {
    ports.REGISTER_CANT_GET_IT_DONE: "register: enter the case (办不成事)",
    ports.RECORD_FRICTION: "notebook: record the escalation's extra wait",
    ports.RESOLVE_CANT_GET_IT_DONE: "register: record the answer",
}
# Names end up in fingerprints and URL paths, as everywhere in the notebook.
_NAME = re.compile(r"[^|/]{1,64}")


def _invalid(field: str, problem: str) -> ApplicationError:
    return ApplicationError(f"{field}: {problem}", {"field": field}, type="InvalidField")


def _closed(problem: str) -> ApplicationError:
    return ApplicationError(problem, {"field": "case_id"}, type="CaseClosed")


def _check_name(field: str, value: str) -> None:
    if not _NAME.fullmatch(value) or not value.strip():
        raise _invalid(field, "1-64 characters, without '|' or '/'")
    if has_personal_value(value):
        raise _invalid(field, "holds a personal value; name the staff or department")


Refusal = tuple[str, str]  # the field at fault and what is wrong with it


def refusal_of(start: RegisterStart) -> Refusal | None:
    """Why the register refuses this registration, or None: the register's own rules
    (an applicant's own failure is excluded) and no personal value in a name."""
    try:
        check_cause(start.cause)
    except RegisterError as exc:
        field, _, problem = str(exc).partition(":")
        return field, problem.strip()
    names = (("case_id", start.case_id), ("bundle", start.bundle), ("step", start.step),
             ("centre", start.centre), ("department", start.department))
    for field, value in names:
        if value is not None and has_personal_value(value):
            return field, "holds a personal value; name the case, not a person"
    if start.deadline_working_days < 1:
        return "deadline_working_days", "at least one working day"
    return None


def working_day_before(calendar: WorkingCalendar, day: date) -> date:
    before = day - timedelta(days=1)
    while not calendar.is_working_day(before):
        before -= timedelta(days=1)
    return before


def start_of_day(day: date) -> datetime:
    """The first instant of `day`, China time, in UTC."""
    return end_of_day(day - timedelta(days=1))


def escalation_times(
    calendar: WorkingCalendar, record: CantGetItDoneRecord
) -> list[tuple[int, EscalationReason, datetime]]:
    """Level 1 at the start of the last working day before the deadline day, level 2
    when the deadline day ends unanswered. A case registered after the first instant
    (a one-day deadline) is escalated only when its deadline passes."""
    near = start_of_day(working_day_before(calendar, record.deadline))
    passed = end_of_day(record.deadline)
    levels: list[tuple[int, EscalationReason, datetime]] = [
        (1, "deadline_near", near),
        (2, "deadline_passed", passed),
    ]
    return levels if near > record.registered_at else levels[1:]


@workflow.defn(name="CantGetItDoneWorkflow")
class CantGetItDoneWorkflow:
    @workflow.init
    def __init__(self, start: RegisterStart) -> None:
        self._start = start
        self._record: CantGetItDoneRecord | None = None
        self._adopted = False
        self._refusal: Refusal | None = None
        self._task_force: TaskForce | None = None
        self._escalations: list[Escalation] = []
        self._resolving = False
        self._resolved_by: str | None = None
        self._sequence = 0
        # The working days the escalations count by: the calendar the case was registered
        # with, until an operator publishes a newer schedule (calendar_published).
        self._calendar = start.calendar
        self._calendar_moved = False

    # -- the case ---------------------------------------------------------------------

    @workflow.run
    async def run(self, start: RegisterStart) -> RegisterProgress:
        self._refusal = refusal_of(start)
        if self._refusal is None:
            try:
                registration = await self._store_call(
                    ports.REGISTER_CANT_GET_IT_DONE,
                    RegisterRequest(
                        case_id=start.case_id, bundle=start.bundle, step=start.step,
                        centre=start.centre, department=start.department, cause=start.cause,
                        calendar=start.calendar, registered_at=workflow.now(),
                        deadline_working_days=start.deadline_working_days,
                    ),
                    Registration,
                    patient=True,
                )
            except ActivityError as exc:  # only the non-retryable refusals get here
                self._refusal = _refusal_from(exc)
            else:
                # The register may have held the case already (registered before this
                # workflow existed): its row wins, answered or not.
                self._record = registration.record
                self._adopted = not registration.created
                if self._record.resolved_at is None:
                    await self._watch_deadline()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._refusal is not None:
            # Fails the workflow (not its task): the registration is refused for good.
            raise _invalid(*self._refusal)
        return self.progress()

    def _registered(self) -> bool:
        return self._record is not None or self._refusal is not None

    def _answered(self) -> bool:
        return self._record is not None and self._record.resolved_at is not None

    async def _watch_deadline(self) -> None:
        """Escalate at each level's time unless answered first. The deadline told to the
        citizen stays as registered; a published calendar moves only the escalations not
        yet reached (the last working day before the deadline may change)."""
        assert self._record is not None
        escalated = 0
        while escalated < 2:
            self._calendar_moved = False
            levels = [e for e in escalation_times(self._calendar, self._record)
                      if e[0] > escalated]
            level, reason, due = levels[0]
            try:
                await workflow.wait_condition(
                    lambda: self._answered() or self._calendar_moved,
                    timeout=max(due - workflow.now(), timedelta(seconds=1)),
                    timeout_summary=f"escalation {level} ({reason}) unless answered: due "
                    f"{local_date(due).isoformat()}",
                )
            except TimeoutError:
                await self._escalate(level, reason, due)
                escalated = level
                continue
            if self._answered():
                return
        await workflow.wait_condition(self._answered)

    @workflow.signal(name=CALENDAR_PUBLISHED)
    def calendar_published(self, calendar: WorkingCalendar) -> None:
        """A newer schedule (a year's notice published or corrected): the escalations not
        yet reached count by it from now on."""
        self._calendar = calendar
        self._calendar_moved = True

    async def _escalate(self, level: int, reason: EscalationReason, due: datetime) -> None:
        record = self._record
        assert record is not None
        now = workflow.now()
        event: ExtraWait | None = None
        if reason == "deadline_passed":
            # The register promised an answer by its deadline and the citizen is still
            # waiting: an extra wait at the register's queue, in working days. The
            # warning before the deadline is no friction yet: nothing was lost.
            calendar = self._calendar
            event = detectors.register_deadline_passed(
                self._event_base, record.step, record.department,
                sla_working_days=calendar.working_days_between(
                    local_date(record.registered_at), record.deadline
                ),
                waited_seconds=(now - record.registered_at).total_seconds(),
                due_at=due,
                calendar=calendar.id,
            )
        self._escalations.append(
            Escalation(level=level, reason=reason, due_at=due, at=now,
                       event_id=event.event_id if event else None)
        )
        workflow.logger.warning(
            "can't-get-it-done case %s escalated (level %d: %s)", record.case_id, level, reason
        )
        if event is not None:
            await self._store_call(
                ports.RECORD_FRICTION, ports.FrictionBatch(events=(event,)), type(None),
                patient=True,
            )

    def _event_base(self, step: str | None) -> detectors.EventBase:
        """The common fields of the register's next friction event (a detectors.Stamp)."""
        record = self._record
        assert record is not None
        self._sequence += 1
        return {
            "event_id": f"{workflow.info().workflow_id}/{self._sequence}",
            "occurred_at": workflow.now(),
            "case_id": record.case_id,
            "bundle": record.bundle,
            "bundle_version": None,
            "step": step,
            "centre": record.centre,
            "channel": self._start.channel,
        }

    async def _store_call(self, name: str, arg: Any, result_type: type[T], *, patient: bool) -> T:
        """An activity on the notebook's store with bounded retries; a patient caller
        waits out a longer outage and tries again, a refusal is raised at once."""
        while True:
            try:
                result: T = await workflow.execute_activity(
                    name,
                    arg,
                    result_type=result_type,
                    start_to_close_timeout=ports.STORE_TIMEOUT,
                    retry_policy=ports.REGISTER_RETRY,
                    summary=STORE_CALL_SUMMARIES.get(name, name),
                )
                return result
            except ActivityError as exc:
                cause = exc.cause
                refused = isinstance(cause, ApplicationError) and (
                    cause.type in ports.REGISTER_NON_RETRYABLE
                )
                if refused or not patient:
                    raise
                workflow.logger.warning("%s failed, trying again later: %s", name, exc)
                await workflow.sleep(STORE_OUTAGE_PAUSE,
                                     summary="notebook store unavailable: try again")

    # -- the task force's inputs --------------------------------------------------------

    def _check_open(self) -> None:
        if self._refusal is not None:
            raise _closed(f"the registration was refused ({self._refusal[0]})")
        if self._answered() or self._resolving:
            raise _closed(f"case {self._start.case_id} was answered already")

    @workflow.update(name=REGISTRATION)
    async def registration(self) -> RegisterProgress:
        """The case as the register holds it, once it does (or why it refused)."""
        await workflow.wait_condition(self._registered)
        if self._refusal is not None:
            raise _invalid(*self._refusal)
        return self.progress()

    @workflow.update(name=ASSIGN_TASK_FORCE)
    async def assign_task_force(self, entry: TaskForceEntry) -> RegisterProgress:
        await workflow.wait_condition(self._registered)  # answers with the register's row
        self._check_open()  # refused, or answered meanwhile
        self._task_force = TaskForce(
            lead=entry.lead.strip(),
            departments=tuple(d.strip() for d in entry.departments),
            assigned_at=workflow.now(),
        )
        return self.progress()

    @assign_task_force.validator
    def _check_task_force(self, entry: TaskForceEntry) -> None:
        self._check_open()
        _check_name("lead", entry.lead)
        if not 1 <= len(entry.departments) <= MAX_DEPARTMENTS:
            raise _invalid("departments", f"name 1-{MAX_DEPARTMENTS} departments")
        for department in entry.departments:
            _check_name("departments", department)
        if len({d.strip() for d in entry.departments}) != len(entry.departments):
            raise _invalid("departments", "name each department once")

    @workflow.update(name=RESOLVE)
    async def resolve(self, entry: ResolutionEntry) -> RegisterProgress:
        self._resolving = True  # refuses a second answer while this one is written
        try:
            await workflow.wait_condition(self._registered)
            if self._refusal is not None:
                raise _closed("the registration was refused")
            record = await self._store_call(
                ports.RESOLVE_CANT_GET_IT_DONE,
                ResolveRequest(
                    case_id=self._start.case_id,
                    resolution=entry.resolution,
                    explanation=entry.explanation.strip(),
                    at=workflow.now(),
                ),
                CantGetItDoneRecord,
                patient=False,
            )
        except ActivityError as exc:
            cause = exc.cause if isinstance(exc.cause, ApplicationError) else None
            raise ApplicationError(
                f"the register did not take the answer: {cause.message if cause else exc}",
                {"field": "case_id"},
                type=cause.type if cause and cause.type else "RegisterUnavailable",
            ) from exc
        finally:
            self._resolving = False
        # The register's row is the answer; if someone answered there first, theirs stands.
        self._record = record
        if record.resolution == entry.resolution:
            self._resolved_by = entry.actor.strip()
        return self.progress()

    @resolve.validator
    def _check_resolution(self, entry: ResolutionEntry) -> None:
        self._check_open()
        if entry.resolution not in RESOLUTIONS:
            raise _invalid("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
        if not entry.explanation.strip():
            # A matter that cannot be done still gets a documented answer.
            raise _invalid("explanation", "say what was done, or why it cannot be done")
        if len(entry.explanation) > MAX_EXPLANATION_CHARS:
            raise _invalid("explanation", f"at most {MAX_EXPLANATION_CHARS} characters")
        _check_name("actor", entry.actor)

    # -- what the case shows ------------------------------------------------------------

    def _status(self) -> RegisterStatus:
        if self._refusal is not None:
            return "refused"
        if self._record is not None and self._record.resolution is not None:
            return self._record.resolution
        return "task_force_assigned" if self._task_force else "registered"

    @workflow.query(name=REGISTER_PROGRESS)
    def progress(self) -> RegisterProgress:
        start, record = self._start, self._record
        return RegisterProgress(
            case_id=start.case_id,
            bundle=record.bundle if record else start.bundle,
            step=record.step if record else start.step,
            centre=record.centre if record else start.centre,
            department=record.department if record else start.department,
            cause=record.cause if record else start.cause,
            origin=start.origin,
            status=self._status(),
            registered_at=record.registered_at if record else None,
            deadline=record.deadline if record else None,
            task_force=self._task_force,
            escalated=bool(self._escalations),
            escalations=tuple(self._escalations),
            resolution=record.resolution if record else None,
            explanation=record.explanation if record else None,
            resolved_at=record.resolved_at if record else None,
            resolved_by=self._resolved_by,
            record=record,
            adopted=self._adopted,
        )


def _refusal_from(exc: ActivityError) -> Refusal:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == "InvalidField":
        details = cause.details[0] if cause.details else {}
        field = details.get("field") if isinstance(details, dict) else None
        return str(field or "case_id"), cause.message.partition(":")[2].strip()
    raise exc


async def register_from_bundle(
    start: CaseStart, *, step: str | None, department: str,
    cause: str = "approval_procedure",
) -> None:
    """Register a bundle case that cannot go on, from inside its BundleWorkflow: starts
    the case's CantGetItDoneWorkflow as a child that outlives the bundle case. A case
    registered already (by a clerk, or by an earlier attempt) stays as it is."""
    try:
        await workflow.start_child_workflow(
            CantGetItDoneWorkflow.run,
            RegisterStart(
                case_id=start.case_id,
                bundle=start.bundle.id,
                step=step,
                centre=start.centre,
                department=department,
                cause=cause,
                calendar=start.calendar,
                channel=start.channel,
                origin="bundle",
            ),
            id=register_workflow_id(start.case_id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        pass
