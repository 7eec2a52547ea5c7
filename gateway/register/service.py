"""What the gateway does with a can't-get-it-done case (办不成事), whoever asks: the API's
controller and the console's pages register a case, assign its task force, answer it,
read its progress and list the register through RegisterService, so they never drift
apart.

Each registered case runs its own CantGetItDoneWorkflow, id `cgid-<case id>`; the
register's rows stay in the notebook's store, written by the workflow's activities.
Calls into the workflow are typed: each update names the workflow's own method.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import msgspec
from litestar.di import NamedDependency
from litestar.plugins.problem_details import ProblemDetailsException
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from friction import notebook
from friction.register import WALK_IN_PREFIX, CantGetItDoneRecord
from friction.store import FrictionStore
from gateway.errors import from_temporal, invalid_field, problem
from gateway.shared_state import IdempotencyKeys
from kernel.case_number import CASE_ALPHABET, case_tail
from kernel.china_time import local_date
from kernel.privacy import mask
from workflows.calendar import WorkingCalendar
from workflows.cant_get_it_done import CantGetItDoneWorkflow, escalation_times, refusal_of
from workflows.case import SA_BUNDLE
from workflows.register_case import (
    RegisterProgress,
    RegisterStart,
    ResolutionEntry,
    TaskForceEntry,
    register_workflow_id,
)

Handle = WorkflowHandle[CantGetItDoneWorkflow, RegisterProgress]
Entry = TypeVar("Entry")
# The workflow's updates are async: temporalio types a named async update by the coroutine
# it returns, the client's answer being what that coroutine gives (cast to it below).
Update = UpdateMethodMultiParam[
    [CantGetItDoneWorkflow, Entry], Coroutine[Any, Any, RegisterProgress]
]
_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)


def _closed(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.NOT_FOUND and "completed" in exc.message


def walk_in_number(now: datetime, idempotency_key: str | None) -> str:
    """The register number of a walk-in with no case yet: WALKIN-<date>-<eight>. With an
    idempotency key the same request always names the same walk-in."""
    if idempotency_key:
        tail = case_tail(hashlib.sha256(idempotency_key.encode()).digest())
    else:
        tail = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return f"{WALK_IN_PREFIX}{local_date(now):%Y%m%d}-{tail}"


def escalated(calendar: WorkingCalendar, record: CantGetItDoneRecord, now: datetime) -> bool:
    """Whether the case's workflow escalated it: it does so at these very instants while
    the case is unanswered (CantGetItDoneWorkflow._watch_deadline), so a list needs no
    query to every case's workflow."""
    times = escalation_times(calendar, record)
    return bool(times) and times[0][2] <= (record.resolved_at or now)


def progress_of_row(record: CantGetItDoneRecord) -> RegisterProgress:
    """A case the register held before cases ran as workflows, as a workflow would show
    it: its first update starts that workflow, which adopts the row."""
    return RegisterProgress(
        case_id=record.case_id, bundle=record.bundle, step=record.step, centre=record.centre,
        department=record.department, cause=record.cause, origin="clerk",
        status=record.resolution or "registered", registered_at=record.registered_at,
        deadline=record.deadline, task_force=None, escalated=False, escalations=(),
        resolution=record.resolution, explanation=record.explanation,
        resolved_at=record.resolved_at, resolved_by=None, record=record, adopted=True,
    )


def _start_of(record: CantGetItDoneRecord, calendar: WorkingCalendar) -> RegisterStart:
    return RegisterStart(
        case_id=record.case_id, bundle=record.bundle, step=record.step, centre=record.centre,
        department=record.department, cause=record.cause, calendar=calendar,
    )


class RegisterService:
    """The register's workflows in Temporal and its rows in the notebook's store.
    `calendar` is asked for the calendar as published now when a case is registered or
    its deadline counted."""

    def __init__(
        self,
        temporal: Client,
        store: FrictionStore,
        calendar: Callable[[], WorkingCalendar],
        task_queue: str,
        keys: IdempotencyKeys | None = None,
    ) -> None:
        self.temporal = temporal
        self.store = store
        self._calendar = calendar
        self._task_queue = task_queue
        self._keys = keys

    def calendar(self) -> WorkingCalendar:
        return self._calendar()

    def _handle(self, case_id: str) -> Handle:
        return self.temporal.get_workflow_handle_for(
            CantGetItDoneWorkflow.run, register_workflow_id(case_id)
        )

    async def _start(self, start: RegisterStart) -> bool:
        """Start the case's workflow; False if it runs already or has answered the case.
        A run that failed (refused, or ended by an operator) may be started again."""
        try:
            await self.temporal.start_workflow(
                CantGetItDoneWorkflow.run,
                start,
                id=register_workflow_id(start.case_id),
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    def row(self, case_id: str) -> CantGetItDoneRecord | None:
        """The register's row of a case, as the notebook's store holds it."""
        return self.store.cant_get_it_done_case(case_id)

    async def check_case(self, case_id: str, bundle: str) -> None:
        """Refuse a case number that names no case (422 naming case_id), or a case of
        another bundle (naming bundle). A case exists when Temporal holds a BundleWorkflow
        with its number, the source of truth from the moment the case opens, or the
        notebook holds its case record, which outlives Temporal's retention of closed
        cases. A number the register holds already (a walk-in's, or a case registered
        before) is taken as well: a repeated registration returns the first one."""
        store = self.store
        try:
            described = await self.temporal.get_workflow_handle(case_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise from_temporal(case_id, exc) from exc
        else:
            if described.workflow_type == "BundleWorkflow":
                # Set when the gateway opens the case; else the notebook's record may say.
                known = described.typed_search_attributes.get(_BUNDLE) or \
                    await asyncio.to_thread(store.case_bundle, case_id)
                if known is not None and known != bundle:
                    raise invalid_field("bundle", f"case {case_id} is of bundle {known}")
                return
        found, registered = await asyncio.gather(
            asyncio.to_thread(store.case_bundle, case_id),
            asyncio.to_thread(self.row, case_id),
        )
        if found is not None and found != bundle:
            raise invalid_field("bundle", f"case {case_id} is of bundle {found}")
        if found is None and registered is None:
            raise invalid_field(
                "case_id", f"no case {case_id}: give the number of an existing case, or "
                "register a walk-in with no case yet as a walk-in")

    async def register(
        self,
        *,
        walk_in: bool,
        case_id: str,
        bundle: str,
        step: str | None,
        centre: str,
        department: str,
        cause: str,
        idempotency_key: str | None,
    ) -> tuple[CantGetItDoneRecord, bool]:
        """Register a walk-in under a number of its own (the same one for the same
        `idempotency_key`), or an existing case by its number (checked first): the
        register's row, and whether this call registered it (False for a case registered
        already, which keeps its first registration)."""
        if walk_in:
            known = None
            if idempotency_key and self._keys is not None:
                known = await self._keys.answered(idempotency_key)
            case_id = known or walk_in_number(datetime.now(UTC), idempotency_key)
            if idempotency_key and self._keys is not None and known is None:
                await self._keys.remember(idempotency_key, case_id)
        else:
            await self.check_case(case_id, bundle)
        start = RegisterStart(
            case_id=case_id, bundle=bundle, step=step, centre=centre, department=department,
            cause=cause, calendar=self._calendar(), origin="clerk",
        )
        if (refusal := refusal_of(start)) is not None:
            raise invalid_field(*refusal)  # the register's rules, before anything starts
        started = await self._start(start)
        progress: RegisterProgress
        try:
            progress = cast(RegisterProgress, await self._handle(case_id).execute_update(
                CantGetItDoneWorkflow.registration
            ))
        except WorkflowUpdateFailedError as exc:
            raise from_temporal(case_id, exc) from exc
        except RPCError as exc:
            if not _closed(exc):
                raise from_temporal(case_id, exc) from exc
            progress = await self.progress(case_id)  # answered already
        if progress.record is None:
            raise problem(409, "Not registered", f"case {case_id} was not registered",
                          case_id=case_id)
        return progress.record, started and not progress.adopted

    async def progress(self, case_id: str) -> RegisterProgress:
        try:
            return await self._handle(case_id).query(CantGetItDoneWorkflow.progress)
        except RPCError as exc:
            raise from_temporal(case_id, exc) from exc

    async def progress_or_row(self, case_id: str) -> RegisterProgress | None:
        """The case as its workflow knows it, or, for a case the register held before
        cases ran as workflows, as its row shows it; None for neither."""
        try:
            return await self.progress(case_id)
        except ProblemDetailsException as exc:
            if exc.status_code != 404:
                raise
        record = await asyncio.to_thread(self.row, case_id)
        return None if record is None else progress_of_row(record)

    async def _update(
        self,
        case_id: str,
        update: Update[Entry],
        entry: Entry,
    ) -> RegisterProgress:
        handle = self._handle(case_id)
        try:
            return cast(RegisterProgress, await handle.execute_update(update, entry))
        except WorkflowUpdateFailedError as exc:
            raise from_temporal(case_id, exc) from exc
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or _closed(exc):
                raise from_temporal(case_id, exc) from exc
            missing = exc
        # No workflow: a case the register held before cases ran as workflows gets one
        # now, which adopts its row (registration time, deadline, answer) as it stands.
        record = await asyncio.to_thread(self.row, case_id)
        if record is None:
            raise from_temporal(case_id, missing) from missing
        await self._start(_start_of(record, self._calendar()))
        try:
            return cast(RegisterProgress, await handle.execute_update(update, entry))
        except (WorkflowUpdateFailedError, RPCError) as exc:
            raise from_temporal(case_id, exc) from exc

    async def assign_task_force(self, case_id: str, entry: TaskForceEntry) -> RegisterProgress:
        return await self._update(case_id, CantGetItDoneWorkflow.assign_task_force, entry)

    async def resolve(self, case_id: str, entry: ResolutionEntry) -> CantGetItDoneRecord:
        """Answer a case; the register's row as answered. The explanation's ID and mobile
        numbers are masked before it reaches the workflow's history."""
        masked = msgspec.structs.replace(entry, explanation=mask(entry.explanation))
        progress = await self._update(case_id, CantGetItDoneWorkflow.resolve, masked)
        assert progress.record is not None
        return progress.record

    async def entries(
        self, open_only: bool, now: datetime, calendar: WorkingCalendar | None = None
    ) -> list[notebook.RegisterEntry]:
        """The register as of `now`, with each case's age in working days (by `calendar`,
        else the one published now)."""
        return await asyncio.to_thread(
            notebook.cant_get_it_done_cases, self.store, calendar or self._calendar(), now,
            open_only,
        )


def provide_register_service(
    temporal: NamedDependency[Client],
    store: NamedDependency[FrictionStore],
    calendar_source: NamedDependency[Callable[[], WorkingCalendar]],
    task_queue: NamedDependency[str],
    idempotency_keys: NamedDependency[IdempotencyKeys],
) -> RegisterService:
    """The request's RegisterService, from the app's dependencies (Provide in gateway.app)."""
    return RegisterService(temporal, store, calendar_source, task_queue, idempotency_keys)


# A handler takes the service as `register_service: Registry`; the parameter's name is the key.
Registry = NamedDependency[RegisterService]
