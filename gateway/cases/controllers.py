"""Clerk API for cases: open one, read its progress, give it what it lacks, close it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, Parameter

from gateway.auth import caller_key, current_account, requires
from gateway.cases.schemas import (
    MAX_BODY_BYTES,
    WORKLIST_AWAITING,
    CaseId,
    CaseOpened,
    FieldsBody,
    IdempotencyKey,
    MaterialBody,
    MilestoneBody,
    NameQuery,
    NotEligibleBody,
    OpenCase,
    TripBody,
    WithdrawalBody,
    Worklist,
)
from gateway.cases.service import Cases
from workflows.case import CaseProgress


class CasesController(Controller):
    path = "/api/cases"
    tags = ["cases"]
    guards = [requires("clerk")]
    request_max_body_size = MAX_BODY_BYTES

    @post("/", status_code=201, summary="Open a case of a bundle for a citizen")
    async def open_case(
        self,
        data: JSONBody[OpenCase],
        case_service: Cases,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey = None,
    ) -> CaseOpened:
        key = caller_key("api", current_account(request), idempotency_key)
        return await case_service.open(data, key)

    @get("/{case_id:str}", summary="A case's progress: steps, what it waits on, friction")
    async def progress(self, case_id: CaseId, case_service: Cases) -> CaseProgress:
        return await case_service.progress(case_id)

    @post("/{case_id:str}/fields", status_code=200, summary="Values a clerk typed for a step")
    async def submit_fields(
        self, case_id: CaseId, data: JSONBody[FieldsBody], case_service: Cases
    ) -> CaseProgress:
        return await case_service.submit_fields(case_id, data)

    @post("/{case_id:str}/materials", status_code=200, summary="A material requested or received")
    async def record_material(
        self, case_id: CaseId, data: JSONBody[MaterialBody], case_service: Cases
    ) -> CaseProgress:
        return await case_service.record_material(case_id, data)

    @post("/{case_id:str}/trips", status_code=200, summary="The citizen came back")
    async def record_trip(
        self, case_id: CaseId, data: JSONBody[TripBody], case_service: Cases
    ) -> CaseProgress:
        return await case_service.record_trip(case_id, data)

    @post(
        "/{case_id:str}/milestones",
        status_code=200,
        summary="A field worker reached a milestone of a task step: who, and the evidence",
        description="Field workers (grid workers, repair officers, mediators) use clerk "
        "accounts for now. A milestone whose evidence is a photo or minutes needs "
        "`evidence_ref`; the workflow records when.",
    )
    async def record_milestone(
        self, case_id: CaseId, data: JSONBody[MilestoneBody], case_service: Cases
    ) -> CaseProgress:
        return await case_service.record_milestone(case_id, data)

    @post(
        "/{case_id:str}/not-eligible",
        status_code=200,
        summary="Close the case as not eligible: a material rule the citizen cannot meet today",
        description="Taken while the current step waits on the clerk with failed rules "
        "(the one-time notice's `rule:` items, or an agency's rejection by a rule); the "
        "failed rules are recorded on the case and told to the citizen, and the case "
        "ends. The closing clerk is the logged-in account. 409 when the step fails no "
        "rule or the case is closed.",
    )
    async def close_not_eligible(
        self,
        case_id: CaseId,
        data: JSONBody[NotEligibleBody],
        case_service: Cases,
        request: Request[Any, Any, Any],
    ) -> CaseProgress:
        actor = current_account(request).username
        return await case_service.close(case_id, "not_eligible", actor, data.reason)

    @post(
        "/{case_id:str}/withdrawal",
        status_code=200,
        summary="The citizen withdraws the application; the case ends",
        description="Recorded by the logged-in clerk on the citizen's behalf, while the "
        "case waits on the clerk or a field worker. 409 when the case is closed or an "
        "agency is deciding.",
    )
    async def withdraw(
        self,
        case_id: CaseId,
        data: JSONBody[WithdrawalBody],
        case_service: Cases,
        request: Request[Any, Any, Any],
    ) -> CaseProgress:
        actor = current_account(request).username
        return await case_service.close(case_id, "withdrawn", actor, data.reason)


class WorklistController(Controller):
    path = "/api/worklist"
    tags = ["cases"]
    guards = [requires("clerk")]

    @get("/", summary="Cases waiting, by default on a clerk, from search attributes")
    async def worklist(
        self,
        case_service: Cases,
        centre: NameQuery = None,
        bundle: NameQuery = None,
        awaiting: Annotated[
            str, Parameter(pattern=f"^({'|'.join(WORKLIST_AWAITING)})$")
        ] = "clerk",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> Worklist:
        return await case_service.worklist(
            centre=centre, bundle=bundle, awaiting=awaiting, limit=limit
        )
