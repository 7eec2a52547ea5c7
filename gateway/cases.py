"""Clerk API for cases: open one, read its progress, give it what it lacks."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, Parameter
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from gateway.errors import from_temporal, invalid_field, problem
from gateway.schemas import CaseOpened, OpenCase, Worklist, WorklistItem
from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar, local_date
from workflows.case import (
    PROGRESS,
    RECORD_MATERIAL,
    RECORD_TRIP,
    SA_AWAITING,
    SA_BUNDLE,
    SA_CENTRE,
    SA_STEP,
    SUBMIT_FIELDS,
    CaseProgress,
    CaseStart,
    FieldEntry,
    MaterialEntry,
    TripEntry,
)
from workflows.definition import Catalogue
from workflows.fields import check_id_number

_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)
_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)
_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
_STEP = SearchAttributeKey.for_keyword(SA_STEP)
_CASE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out at a window


def new_case_id(now: datetime, idempotency_key: str | None) -> str:
    """A case number a citizen can read out: date plus eight characters. With an
    idempotency key the same request always names the same case."""
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).digest()
        tail = "".join(_CASE_ALPHABET[b % len(_CASE_ALPHABET)] for b in digest[:8])
    else:
        tail = "".join(secrets.choice(_CASE_ALPHABET) for _ in range(8))
    return f"{local_date(now):%Y%m%d}-{tail}"


IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]
CaseId = Annotated[str, Parameter(pattern=r"^\d{8}-[2-9A-Z]{8}$", max_length=17)]


class CasesController(Controller):
    path = "/api/cases"
    tags = ["cases"]

    @post("/", status_code=201, summary="Open a case of a bundle for a citizen")
    async def open_case(
        self,
        data: JSONBody[OpenCase],
        temporal: NamedDependency[Client],
        catalogue: NamedDependency[Catalogue],
        calendar: NamedDependency[WorkingCalendar],
        task_queue: NamedDependency[str],
        idempotency_key: IdempotencyKey = None,
    ) -> CaseOpened:
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
        return CaseOpened(case_id=case_id, bundle=definition.id, bundle_version=definition.version)

    @get("/{case_id:str}", summary="A case's progress: steps, what it waits on, friction")
    async def progress(self, case_id: CaseId, temporal: NamedDependency[Client]) -> CaseProgress:
        try:
            progress: CaseProgress = await temporal.get_workflow_handle(case_id).query(
                PROGRESS, result_type=CaseProgress
            )
        except RPCError as exc:
            raise from_temporal(case_id, exc) from exc
        return progress

    async def _update(
        self, temporal: NamedDependency[Client], case_id: str, name: str, arg: object
    ) -> CaseProgress:
        try:
            progress: CaseProgress = await temporal.get_workflow_handle(case_id).execute_update(
                name, arg, result_type=CaseProgress
            )
        except (WorkflowUpdateFailedError, RPCError) as exc:
            raise from_temporal(case_id, exc) from exc
        return progress

    @post("/{case_id:str}/fields", status_code=200, summary="Values a clerk typed for a step")
    async def submit_fields(
        self, case_id: CaseId, data: JSONBody[FieldEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await self._update(temporal, case_id, SUBMIT_FIELDS, data)

    @post("/{case_id:str}/materials", status_code=200, summary="A material requested or received")
    async def record_material(
        self, case_id: CaseId, data: JSONBody[MaterialEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await self._update(temporal, case_id, RECORD_MATERIAL, data)

    @post("/{case_id:str}/trips", status_code=200, summary="The citizen came back")
    async def record_trip(
        self, case_id: CaseId, data: JSONBody[TripEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await self._update(temporal, case_id, RECORD_TRIP, data)


class WorklistController(Controller):
    path = "/api/worklist"
    tags = ["cases"]

    @get("/", summary="Cases waiting, by default on a clerk, from search attributes")
    async def worklist(
        self,
        temporal: NamedDependency[Client],
        centre: Annotated[str | None, Parameter(max_length=64)] = None,
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
        awaiting: Annotated[str, Parameter(pattern="^(clerk|agency|lookup)$")] = "clerk",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
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
