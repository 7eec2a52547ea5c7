"""What the gateway does with a can't-get-it-done case (办不成事), whoever asks: the API's
controller (and a console page later) register a case, assign its task force, answer it
and read its progress through these functions, so they never drift apart.

Each registered case runs its own CantGetItDoneWorkflow, id `cgid-<case id>`; the
register's rows stay in the notebook's store, written by the workflow's activities.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import msgspec
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from friction.privacy import mask
from friction.register import WALK_IN_PREFIX, CantGetItDoneRecord
from friction.store import FrictionStore
from gateway.errors import from_temporal, invalid_field, problem
from workflows.calendar import WorkingCalendar, local_date
from workflows.cant_get_it_done import CantGetItDoneWorkflow, refusal_of
from workflows.case import SA_BUNDLE
from workflows.case_number import CASE_ALPHABET, case_tail
from workflows.register_case import (
    ASSIGN_TASK_FORCE,
    REGISTER_PROGRESS,
    REGISTRATION,
    RESOLVE,
    Origin,
    RegisterProgress,
    RegisterStart,
    ResolutionEntry,
    TaskForceEntry,
    register_workflow_id,
)

Handle = WorkflowHandle[CantGetItDoneWorkflow, RegisterProgress]
_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)


def _handle(temporal: Client, case_id: str) -> Handle:
    return temporal.get_workflow_handle_for(
        CantGetItDoneWorkflow.run, register_workflow_id(case_id)
    )


def _closed(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.NOT_FOUND and "completed" in exc.message


async def _start(temporal: Client, task_queue: str, start: RegisterStart) -> bool:
    """Start the case's workflow; False if it runs already or has answered the case.
    A run that failed (refused, or ended by an operator) may be started again."""
    try:
        await temporal.start_workflow(
            CantGetItDoneWorkflow.run,
            start,
            id=register_workflow_id(start.case_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


def walk_in_number(now: datetime, idempotency_key: str | None) -> str:
    """The register number of a walk-in with no case yet: WALKIN-<date>-<eight>. With an
    idempotency key the same request always names the same walk-in."""
    if idempotency_key:
        tail = case_tail(hashlib.sha256(idempotency_key.encode()).digest())
    else:
        tail = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return f"{WALK_IN_PREFIX}{local_date(now):%Y%m%d}-{tail}"


async def check_case(temporal: Client, store: FrictionStore, case_id: str, bundle: str) -> None:
    """Refuse a case number that names no case (422 naming case_id), or a case of another
    bundle (naming bundle). A case exists when Temporal holds a BundleWorkflow with its
    number, the source of truth from the moment the case opens, or the notebook holds its
    case record, which outlives Temporal's retention of closed cases. A number the
    register holds already (a walk-in's, or a case registered before) is taken as well: a
    repeated registration returns the first one."""
    try:
        described = await temporal.get_workflow_handle(case_id).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise from_temporal(case_id, exc) from exc
    else:
        if described.workflow_type == "BundleWorkflow":
            # Set when the gateway opens the case; else the notebook's record may say.
            known = described.typed_search_attributes.get(_BUNDLE) or await asyncio.to_thread(
                store.case_bundle, case_id)
            if known is not None and known != bundle:
                raise invalid_field("bundle", f"case {case_id} is of bundle {known}")
            return
    found, registered = await asyncio.gather(
        asyncio.to_thread(store.case_bundle, case_id),
        asyncio.to_thread(store.cant_get_it_done_case, case_id),
    )
    if found is not None and found != bundle:
        raise invalid_field("bundle", f"case {case_id} is of bundle {found}")
    if found is None and registered is None:
        raise invalid_field(
            "case_id", f"no case {case_id}: give the number of an existing case, or "
            "register a walk-in with no case yet as a walk-in")


async def register_case(
    temporal: Client,
    calendar: WorkingCalendar,
    task_queue: str,
    *,
    case_id: str,
    bundle: str,
    step: str | None,
    centre: str,
    department: str,
    cause: str,
    origin: Origin = "clerk",
) -> tuple[CantGetItDoneRecord, bool]:
    """Register a case: the register's row, and whether this call registered it (False
    for a case registered already, which keeps its first registration)."""
    start = RegisterStart(
        case_id=case_id, bundle=bundle, step=step, centre=centre, department=department,
        cause=cause, calendar=calendar, origin=origin,
    )
    if (refusal := refusal_of(start)) is not None:
        raise invalid_field(*refusal)  # the register's rules, before anything starts
    started = await _start(temporal, task_queue, start)
    handle = _handle(temporal, case_id)
    progress: RegisterProgress
    try:
        progress = await handle.execute_update(REGISTRATION, result_type=RegisterProgress)
    except WorkflowUpdateFailedError as exc:
        raise from_temporal(case_id, exc) from exc
    except RPCError as exc:
        if not _closed(exc):
            raise from_temporal(case_id, exc) from exc
        progress = await register_progress(temporal, case_id)  # answered already
    if progress.record is None:
        raise problem(409, "Not registered", f"case {case_id} was not registered",
                      case_id=case_id)
    return progress.record, started and not progress.adopted


async def register_progress(temporal: Client, case_id: str) -> RegisterProgress:
    try:
        progress: RegisterProgress = await _handle(temporal, case_id).query(
            REGISTER_PROGRESS, result_type=RegisterProgress
        )
    except RPCError as exc:
        raise from_temporal(case_id, exc) from exc
    return progress


@dataclass(frozen=True)
class Desk:
    """What an update may need besides the workflow: a case the register held before
    cases ran as workflows gets its workflow on its first update."""

    temporal: Client
    store: FrictionStore
    calendar: WorkingCalendar
    task_queue: str


async def _update(desk: Desk, case_id: str, name: str, arg: object) -> RegisterProgress:
    temporal = desk.temporal
    handle = _handle(temporal, case_id)
    progress: RegisterProgress
    try:
        progress = await handle.execute_update(name, arg, result_type=RegisterProgress)
    except WorkflowUpdateFailedError as exc:
        raise from_temporal(case_id, exc) from exc
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND or _closed(exc):
            raise from_temporal(case_id, exc) from exc
        missing = exc
    else:
        return progress
    # No workflow: a case the register held before cases ran as workflows gets one now,
    # which adopts its row (registration time, deadline, answer) as it stands.
    record = await asyncio.to_thread(_registered, desk.store, case_id)
    if record is None:
        raise from_temporal(case_id, missing) from missing
    await _start(temporal, desk.task_queue, _start_of(record, desk.calendar))
    try:
        progress = await handle.execute_update(name, arg, result_type=RegisterProgress)
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise from_temporal(case_id, exc) from exc
    return progress


def _registered(store: FrictionStore, case_id: str) -> CantGetItDoneRecord | None:
    return store.cant_get_it_done_case(case_id)


def _start_of(record: CantGetItDoneRecord, calendar: WorkingCalendar) -> RegisterStart:
    return RegisterStart(
        case_id=record.case_id, bundle=record.bundle, step=record.step, centre=record.centre,
        department=record.department, cause=record.cause, calendar=calendar,
    )


async def assign_task_force(desk: Desk, case_id: str, entry: TaskForceEntry) -> RegisterProgress:
    return await _update(desk, case_id, ASSIGN_TASK_FORCE, entry)


async def resolve_case(desk: Desk, case_id: str, entry: ResolutionEntry) -> CantGetItDoneRecord:
    """Answer a case; the register's row as answered. The explanation's ID and mobile
    numbers are masked before it reaches the workflow's history."""
    masked = msgspec.structs.replace(entry, explanation=mask(entry.explanation))
    progress = await _update(desk, case_id, RESOLVE, masked)
    assert progress.record is not None
    return progress.record

