"""The can't-get-it-done workflow (办不成事): escalations over working days on the
time-skipping server (days pass in seconds), the task force's updates on the dev server,
and the register in the notebook's store kept as the single source."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import msgspec
import pytest
from conftest import running_worker, time_skipping_calendar
from failing_bundle_case import FailingBundleCase
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.friction_calls import FrictionCalls
from activities.register_calls import RegisterCalls
from activities.worker import workflow_runner
from friction import notebook
from friction.register import CantGetItDoneRecord
from friction.sqlite_store import SqliteFrictionStore
from friction.store import IngestResult
from kernel.china_time import CHINA_TZ, local_date
from kernel.converter import DATA_CONVERTER
from kernel.events import CantGetItDone, ExtraWait, FrictionEvent
from workflows.calendar import WorkingCalendar
from workflows.calendar_source import load_calendar
from workflows.cant_get_it_done import CantGetItDoneWorkflow
from workflows.case import CaseStart
from workflows.definition import Catalogue
from workflows.register_case import (
    ASSIGN_TASK_FORCE,
    REGISTER_PROGRESS,
    REGISTRATION,
    RESOLVE,
    RegisterProgress,
    RegisterStart,
    ResolutionEntry,
    TaskForceEntry,
    register_workflow_id,
)

T = TypeVar("T")
Handle = WorkflowHandle[CantGetItDoneWorkflow, RegisterProgress]
CALENDAR = load_calendar()  # the dev server's cases: the real today's years
TIME_CALENDAR = time_skipping_calendar()  # the time-skipping server's (shifted) years
STEP = "flexible-insurance-enrollment"


def register_start(case_id: str | None = None, **changes: Any) -> RegisterStart:
    fields: dict[str, Any] = {
        "case_id": case_id or f"T-{uuid.uuid4().hex[:10]}",
        "bundle": "employment-hardship",
        "step": STEP,
        "centre": "liangxi-chongan",
        "department": "social-insurance",
        "cause": "system",
        "calendar": CALENDAR,
    }
    return RegisterStart(**{**fields, **changes})


async def start(client: Client, task_queue: str, start: RegisterStart) -> Handle:
    return await client.start_workflow(
        CantGetItDoneWorkflow.run,
        start,
        id=register_workflow_id(start.case_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )


async def progress_of(handle: Handle) -> RegisterProgress:
    progress: RegisterProgress = await handle.query(REGISTER_PROGRESS, result_type=RegisterProgress)
    return progress


async def eventually(read: Callable[[], Any], ready: Callable[[T], bool], timeout: float = 20) -> T:
    """Poll `read` in real time (the time-skipping server's clock stands still meanwhile)
    until its value is ready."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = read()
        if asyncio.iscoroutine(value):
            value = await value
        if ready(value):
            return value  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not ready in {timeout}s: {value!r}")
        await asyncio.sleep(0.1)


def last_working_day_before(calendar: WorkingCalendar, deadline: date, after: date) -> date:
    """Counted independently of the workflow's helper: the latest working day in
    (after, deadline)."""
    days = [after + timedelta(days=n) for n in range(1, (deadline - after).days)]
    return max(d for d in days if calendar.is_working_day(d))


def china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA_TZ).astimezone(UTC)


class CommitThenFail:
    """The store, except that the first write of a wait past its deadline is committed
    and then answered with an error, as when the connection drops after the commit:
    the activity is retried with the same events."""

    def __init__(self, store: SqliteFrictionStore) -> None:
        self._store = store
        self.extra_wait_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def ingest(self, events: Sequence[FrictionEvent]) -> IngestResult:
        result = self._store.ingest(events)
        if any(isinstance(e, ExtraWait) for e in events):
            self.extra_wait_writes += 1
            if self.extra_wait_writes == 1:
                raise ConnectionError("connection lost after the commit")
        return result


def extra_waits(store: SqliteFrictionStore, case_id: str) -> list[ExtraWait]:
    return [e for e in store.events_for_case(case_id) if isinstance(e, ExtraWait)]


def register_row(store: SqliteFrictionStore, case_id: str) -> CantGetItDoneRecord | None:
    return next((r for r in store.cant_get_it_done_cases() if r.case_id == case_id), None)


# -- deadlines in working days, on the time-skipping server -------------------------------


async def test_escalates_as_the_deadline_nears_and_again_when_it_passes_unanswered(
    time_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    flaky = CommitThenFail(store)
    begin = register_start(calendar=TIME_CALENDAR)
    case_id = begin.case_id
    async with running_worker(time_env.client, {}, flaky, task_queue):  # type: ignore[arg-type]
        handle = await start(time_env.client, task_queue, begin)
        registered = await eventually(lambda: progress_of(handle), lambda p: p.record is not None)
        assert registered.status == "registered" and not registered.escalated
        assert registered.record is not None and not registered.adopted
        registered_on = local_date(registered.record.registered_at)
        deadline = TIME_CALENDAR.add_working_days(registered_on, 5)
        assert registered.deadline == deadline
        assert register_row(store, case_id) == registered.record  # the notebook's row

        near = china_midnight(last_working_day_before(TIME_CALENDAR, deadline, registered_on))
        passed = china_midnight(deadline + timedelta(days=1))

        # Just before the last working day before the deadline: nothing yet.
        await time_env.sleep(near - await time_env.get_current_time() - timedelta(minutes=5))
        await asyncio.sleep(0.5)
        assert (await progress_of(handle)).escalations == ()

        await time_env.sleep(timedelta(minutes=10))
        warned = await eventually(lambda: progress_of(handle), lambda p: len(p.escalations) == 1)
        (first,) = warned.escalations
        assert (first.level, first.reason, first.due_at) == (1, "deadline_near", near)
        assert first.at >= near and first.event_id is None
        assert warned.escalated and warned.status == "registered"
        # A warning is no friction: nothing was lost yet.
        assert extra_waits(store, case_id) == []

        # The deadline day ends unanswered.
        await time_env.sleep(passed - await time_env.get_current_time() + timedelta(minutes=5))
        overdue = await eventually(lambda: progress_of(handle), lambda p: len(p.escalations) == 2)
        second = overdue.escalations[1]
        assert (second.level, second.reason, second.due_at) == (2, "deadline_passed", passed)
        event_id = f"{register_workflow_id(case_id)}/1"
        assert second.event_id == event_id
        # Stored once, although the first write was answered with an error and retried.
        stored = await eventually(lambda: flaky.extra_wait_writes, lambda n: n >= 2)
        assert stored == 2
        (wait,) = extra_waits(store, case_id)
        assert wait.event_id == event_id
        assert (wait.scope, wait.agency, wait.step, wait.bundle) == (
            "queue", "social-insurance", STEP, "employment-hardship")
        assert wait.sla_working_days == 5 and wait.calendar == TIME_CALENDAR.id
        assert wait.due_at == passed and wait.occurred_at >= passed
        assert wait.actual_seconds is not None
        assert wait.actual_seconds >= (passed - registered.record.registered_at).total_seconds()
        # The register's own event, once; the list shows the case overdue.
        assert [e.event_id for e in store.events_for_case(case_id)
                if isinstance(e, CantGetItDone)] == [f"cgid/{case_id}"]
        now = await time_env.get_current_time()
        (entry,) = notebook.cant_get_it_done_cases(store, TIME_CALENDAR, now, open_only=True)
        # Past the deadline; how many working days depends on the weekday the deadline fell
        # on, and the session's skipped clock decides that.
        assert entry.overdue
        assert entry.age_working_days == TIME_CALENDAR.working_days_between(
            registered_on, local_date(now)) >= 5

        history = await handle.fetch_history()
        await handle.terminate("test over")

    # The friction left through one activity, retried once; a replay of the history
    # issues the same commands (same event id) and no new one.
    scheduled = [e.activity_task_scheduled_event_attributes for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert [s.activity_type.name for s in scheduled] == [
        "register_cant_get_it_done", "record_friction"]
    started = [e.activity_task_started_event_attributes for e in history.events
               if e.HasField("activity_task_started_event_attributes")]
    assert started[-1].attempt == 2
    replayer = Replayer(workflows=[CantGetItDoneWorkflow], data_converter=DATA_CONVERTER,
                        workflow_runner=workflow_runner())
    await replayer.replay_workflow(history)


async def test_a_calendar_published_while_registered_moves_the_escalation_not_yet_reached(
    time_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    begin = register_start(calendar=TIME_CALENDAR)
    async with running_worker(time_env.client, {}, store, task_queue):
        handle = await start(time_env.client, task_queue, begin)
        registered = await eventually(lambda: progress_of(handle), lambda p: p.record is not None)
        assert registered.record is not None and registered.deadline is not None
        registered_on = local_date(registered.record.registered_at)
        deadline = registered.deadline
        warn_day = last_working_day_before(TIME_CALENDAR, deadline, registered_on)
        # The schedule as published gives that day off: the warning comes a working day
        # earlier, the deadline told to the citizen stays.
        published = msgspec.structs.replace(
            TIME_CALENDAR, id=f"{TIME_CALENDAR.id}+published",
            holidays=TIME_CALENDAR.holidays | {warn_day})
        await handle.signal(CantGetItDoneWorkflow.calendar_published, published)
        earlier = last_working_day_before(published, deadline, registered_on)
        await time_env.sleep(china_midnight(warn_day) - await time_env.get_current_time()
                             + timedelta(minutes=5))
        warned = await eventually(lambda: progress_of(handle), lambda p: len(p.escalations) == 1)
        assert (warned.escalations[0].level, warned.escalations[0].due_at) == (
            1, china_midnight(earlier))
        assert warned.deadline == deadline
        await time_env.sleep(china_midnight(deadline + timedelta(days=1))
                             - await time_env.get_current_time() + timedelta(minutes=5))
        overdue = await eventually(lambda: progress_of(handle), lambda p: len(p.escalations) == 2)
        (wait,) = extra_waits(store, begin.case_id)
        assert wait.calendar == published.id
        assert overdue.escalations[1].due_at == china_midnight(deadline + timedelta(days=1))
        history = await handle.fetch_history()
        await handle.terminate("test over")
    replayer = Replayer(workflows=[CantGetItDoneWorkflow], data_converter=DATA_CONVERTER,
                        workflow_runner=workflow_runner())
    await replayer.replay_workflow(history)


async def test_a_case_the_register_held_already_is_adopted_and_escalated_at_once(
    time_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    begin = register_start(cause="policy", calendar=TIME_CALENDAR)
    # Three weeks before the time-skipping server's now, not the real now (decades
    # earlier): overdue by the register's own count whatever the test clock.
    long_ago = await time_env.get_current_time() - timedelta(days=21)
    earlier, created = notebook.register_cant_get_it_done(
        store, case_id=begin.case_id, bundle=begin.bundle, step=begin.step,
        centre=begin.centre, department="civil-affairs", cause="materials",
        calendar=TIME_CALENDAR, now=long_ago,
    )
    assert created
    async with running_worker(time_env.client, {}, store, task_queue):
        handle = await start(time_env.client, task_queue, begin)
        overdue = await eventually(lambda: progress_of(handle), lambda p: len(p.escalations) == 2)
        await eventually(lambda: extra_waits(store, begin.case_id), lambda w: len(w) == 1)
        await handle.terminate("test over")
    # The register's row wins: its registration time, deadline, cause and department.
    assert overdue.adopted and overdue.record == earlier
    assert (overdue.cause, overdue.department, overdue.deadline) == (
        "materials", "civil-affairs", earlier.deadline)
    assert [e.level for e in overdue.escalations] == [1, 2]
    (wait,) = extra_waits(store, begin.case_id)
    assert wait.agency == "civil-affairs" and wait.due_at is not None
    assert wait.occurred_at - wait.due_at > timedelta(days=7)


# -- the task force's updates, on the dev server ------------------------------------------


def refused_field(error: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str, str]:
    cause = error.value.cause
    assert isinstance(cause, ApplicationError)
    details = cause.details[0] if cause.details else {}
    return str(cause.type), str(details.get("field"))


async def test_task_force_resolves_the_case_and_the_register_records_it(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    begin = register_start()
    async with running_worker(dev_env.client, {}, store, task_queue):
        handle = await start(dev_env.client, task_queue, begin)
        registered = await handle.execute_update(REGISTRATION, result_type=RegisterProgress)
        assert registered.status == "registered" and registered.record is not None
        assert registered.deadline == CALENDAR.add_working_days(
            local_date(registered.record.registered_at), 5)

        refusals = (
            (ASSIGN_TASK_FORCE, TaskForceEntry(lead="tf-7", departments=()), "departments"),
            (ASSIGN_TASK_FORCE, TaskForceEntry(lead="tf-7", departments=("hrss", "hrss")),
             "departments"),
            (ASSIGN_TASK_FORCE, TaskForceEntry(lead="13912345678", departments=("hrss",)),
             "lead"),
            (RESOLVE, ResolutionEntry(resolution="resolved", explanation="  ", actor="tf-7"),
             "explanation"),
            (RESOLVE, ResolutionEntry(resolution="maybe", explanation="x", actor="tf-7"),
             "resolution"),
            (RESOLVE, ResolutionEntry(resolution="resolved", explanation="x", actor=""),
             "actor"),
        )
        for name, entry, field in refusals:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(name, entry, result_type=RegisterProgress)
            assert refused_field(refused) == ("InvalidField", field), entry

        assigned = await handle.execute_update(
            ASSIGN_TASK_FORCE,
            TaskForceEntry(lead="tf-7", departments=("social-insurance", "hrss")),
            result_type=RegisterProgress,
        )
        assert assigned.status == "task_force_assigned"
        assert assigned.task_force is not None and assigned.task_force.lead == "tf-7"
        assert assigned.task_force.departments == ("social-insurance", "hrss")

        resolved = await handle.execute_update(
            RESOLVE,
            ResolutionEntry(resolution="resolved", actor="tf-7",
                            explanation="the insurance system now credits the month; paid"),
            result_type=RegisterProgress,
        )
        final = await handle.result()
        history = await handle.fetch_history()

    assert resolved.status == final.status == "resolved"
    assert final.explanation == "the insurance system now credits the month; paid"
    assert final.resolved_by == "tf-7" and final.task_force == assigned.task_force
    assert final.escalations == () and not final.escalated
    row = register_row(store, begin.case_id)
    assert row is not None and row == final.record
    assert (row.resolution, row.explanation) == ("resolved", final.explanation)
    assert row.resolved_at == final.resolved_at
    # Refused input never reached the history: only the three updates taken are in it.
    accepted = [e for e in history.events
                if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 3


async def test_a_matter_that_cannot_be_done_ends_with_a_documented_explanation(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    begin = register_start(cause="policy", department="hrss", step=None)
    explanation = ("no social insurance record before 2019, so no retirement pension; "
                   "the rule and the contribution history were explained in writing")
    async with running_worker(dev_env.client, {}, store, task_queue):
        handle = await start(dev_env.client, task_queue, begin)
        await handle.execute_update(ASSIGN_TASK_FORCE,
                                    TaskForceEntry(lead="tf-2", departments=("hrss",)),
                                    result_type=RegisterProgress)
        answered = await handle.execute_update(
            RESOLVE,
            ResolutionEntry(resolution="cannot_be_done", explanation=explanation, actor="tf-2"),
            result_type=RegisterProgress,
        )
        final = await handle.result()
        shown = await progress_of(handle)  # a closed case still answers its query
    assert answered.status == final.status == shown.status == "cannot_be_done"
    assert shown.explanation == explanation and shown.resolution == "cannot_be_done"
    row = register_row(store, begin.case_id)
    assert row is not None
    assert (row.resolution, row.explanation) == ("cannot_be_done", explanation)
    (entry,) = notebook.cant_get_it_done_cases(store, CALENDAR, datetime.now(UTC))
    assert entry.record == row and not entry.overdue


async def test_an_applicants_own_failure_is_refused_as_the_register_does(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    begin = register_start(cause="applicant")
    async with running_worker(dev_env.client, {}, store, task_queue):
        handle = await start(dev_env.client, task_queue, begin)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        shown = await progress_of(handle)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidField"
    assert cause.details[0] == {"field": "cause"}
    assert "applicant's own failure" in cause.message
    assert shown.status == "refused" and shown.record is None
    assert register_row(store, begin.case_id) is None
    assert store.events_for_case(begin.case_id) == []


# -- a bundle case that cannot go on registers itself ------------------------------------


async def test_a_failed_bundle_case_registers_itself_and_the_register_outlives_it(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    case = CaseStart(
        case_id=f"T-{uuid.uuid4().hex[:10]}",
        bundle=Catalogue.load().default("employment-hardship"),
        calendar=CALENDAR,
        citizen_id_number="-",
        centre="binhu-hehu",
    )
    register, friction = RegisterCalls(store), FrictionCalls(store)
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[FailingBundleCase, CantGetItDoneWorkflow],
        activities=[register.register_cant_get_it_done, register.resolve_cant_get_it_done,
                    friction.record_friction],
        workflow_runner=workflow_runner(),
    ):
        await dev_env.client.execute_workflow(
            FailingBundleCase.run, case, id=case.case_id, task_queue=task_queue)
        handle: Handle = dev_env.client.get_workflow_handle_for(
            CantGetItDoneWorkflow.run, register_workflow_id(case.case_id))
        registered = await handle.execute_update(REGISTRATION, result_type=RegisterProgress)
        described = await handle.describe()
        await handle.terminate("test over")
    assert described.status is not None and described.status.name == "RUNNING"
    assert described.parent_id == case.case_id
    assert (registered.origin, registered.cause, registered.step, registered.centre) == (
        "bundle", "approval_procedure", STEP, "binhu-hehu")
    row = register_row(store, case.case_id)
    assert row is not None and row == registered.record
    assert registered.deadline == CALENDAR.add_working_days(
        local_date(row.registered_at), 5)
