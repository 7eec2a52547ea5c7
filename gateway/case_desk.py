"""What the gateway does with a case, whoever asks: the API's controllers and the clerk's
console pages both open cases, read their progress, send them a clerk's input and list
the worklist through these functions, so the two never drift apart."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from gateway.errors import from_temporal, invalid_field, problem
from gateway.online_channel import OnlineEntries
from gateway.schemas import CaseOpened, OpenCase, Worklist, WorklistItem
from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar, local_date
from workflows.case import (
    PROGRESS,
    SA_AWAITING,
    SA_BUNDLE,
    SA_CENTRE,
    SA_STEP,
    CaseProgress,
    CaseStart,
)
from workflows.case_number import CASE_ALPHABET, case_number, case_tail
from workflows.case_number import CASE_ID_PATTERN as CASE_ID_PATTERN  # re-exported
from workflows.definition import Catalogue
from workflows.fields import check_id_number

_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)
_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)
_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
_STEP = SearchAttributeKey.for_keyword(SA_STEP)


def new_case_id(now: datetime, idempotency_key: str | None) -> str:
    """A case number a citizen can read out: date plus eight characters. With an
    idempotency key the same request always names the same case."""
    if idempotency_key:
        tail = case_tail(hashlib.sha256(idempotency_key.encode()).digest())
    else:
        tail = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return case_number(local_date(now), tail)


async def open_case(
    temporal: Client,
    catalogue: Catalogue,
    calendar: WorkingCalendar,
    task_queue: str,
    data: OpenCase,
    idempotency_key: str | None,
    entries: OnlineEntries | None = None,
) -> CaseOpened:
    """Open a case. An online start's entry is checked against the channel's service
    catalogue (`entries`), and what it tells the notebook recorded once the case exists."""
    if data.bundle not in catalogue.ids():
        raise invalid_field("bundle", f"no bundle {data.bundle!r}")
    now = datetime.now(UTC)
    if (wrong := check_id_number(data.citizen_id_number, local_date(now))) is not None:
        raise invalid_field("citizen_id_number", wrong)
    if not data.centre.strip() or len(data.centre) > 64:
        raise invalid_field("centre", "must name the service centre in 1-64 characters")
    if data.bundle_version is None:
        definition = catalogue.default(data.bundle)
    elif data.bundle_version in catalogue.versions(data.bundle):
        definition = catalogue.get(data.bundle, data.bundle_version)
    else:
        raise invalid_field(
            "bundle_version", f"{data.bundle} has versions {catalogue.versions(data.bundle)}"
        )
    if data.entry is not None:
        if entries is None:
            raise invalid_field("entry", "this desk takes no entry: it is not an online channel")
        entries.check(data)
    case_id = new_case_id(now, idempotency_key)
    try:
        await temporal.start_workflow(
            BundleWorkflow.run,
            CaseStart(
                case_id=case_id,
                bundle=definition,
                calendar=calendar,
                citizen_id_number=data.citizen_id_number.upper(),
                centre=data.centre,
                channel=data.channel,
            ),
            id=case_id,
            # A case number names one case for good: a retried request arriving after the
            # case closed (an online case can close within a second) must not open it again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(_BUNDLE, definition.id),
                    SearchAttributePair(_CENTRE, data.centre),
                    SearchAttributePair(_AWAITING, "lookup"),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        if idempotency_key is None:
            raise
        # The same request again: the case already exists, answer with it.
    if entries is not None and data.entry is not None:
        await entries.record(case_id, definition, data, now)  # idempotent: one per case
    return CaseOpened(case_id=case_id, bundle=definition.id, bundle_version=definition.version)


async def case_progress(temporal: Client, case_id: str) -> CaseProgress:
    try:
        progress: CaseProgress = await temporal.get_workflow_handle(case_id).query(
            PROGRESS, result_type=CaseProgress
        )
    except RPCError as exc:
        raise from_temporal(case_id, exc) from exc
    return progress


async def update_case(temporal: Client, case_id: str, name: str, arg: object) -> CaseProgress:
    try:
        progress: CaseProgress = await temporal.get_workflow_handle(case_id).execute_update(
            name, arg, result_type=CaseProgress
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise from_temporal(case_id, exc) from exc
    return progress


async def case_centre(temporal: Client, case_id: str) -> str | None:
    try:
        described = await temporal.get_workflow_handle(case_id).describe()
    except RPCError as exc:
        raise from_temporal(case_id, exc) from exc
    return described.typed_search_attributes.get(_CENTRE)


async def worklist(
    temporal: Client,
    *,
    centre: str | None,
    bundle: str | None,
    awaiting: str = "clerk",
    limit: int = 100,
) -> Worklist:
    clauses = ["ExecutionStatus = 'Running'", f"{SA_AWAITING} = '{awaiting}'"]
    # Values are quoted for the visibility query; reject quotes rather than escape them.
    for name, value in ((SA_CENTRE, centre), (SA_BUNDLE, bundle)):
        if value is not None:
            if "'" in value or '"' in value:
                raise problem(422, "Invalid field", "quotes are not allowed", field=name)
            clauses.append(f"{name} = '{value}'")
    items: list[WorklistItem] = []
    async for execution in temporal.list_workflows(" AND ".join(clauses), limit=limit):
        attrs = execution.typed_search_attributes
        items.append(
            WorklistItem(
                case_id=execution.id,
                bundle=attrs.get(_BUNDLE),
                centre=attrs.get(_CENTRE),
                awaiting=attrs.get(_AWAITING),
                step=attrs.get(_STEP),
                opened_at=execution.start_time,
            )
        )
    return Worklist(cases=tuple(items))
