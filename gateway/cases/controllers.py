"""Clerk API for cases: open one, read its progress, give it what it lacks, close it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, Parameter

from gateway.audit.recorder import access, audited_case
from gateway.auth import caller_key, current_account, requires
from gateway.cases.schemas import (
    WORKLIST_AWAITING,
    CaseId,
    CaseOpened,
    IdempotencyKey,
    NotEligibleBody,
    OpenCase,
    WithdrawalBody,
    Worklist,
)
from gateway.cases.service import Cases
from workflows.case import CaseProgress, FieldEntry, MaterialEntry, MilestoneEntry, TripEntry


class CasesController(Controller):
    path = "/api/cases"
    tags = ["cases"]
    guards = [requires("clerk")]

    @post("/", status_code=201, summary="Open a case of a bundle for a citizen",
          opt=access("open_case"))
    async def open_case(
        self,
        data: JSONBody[OpenCase],
        case_service: Cases,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey = None,
    ) -> CaseOpened:
        key = caller_key("api", current_account(request), idempotency_key)
        opened = await case_service.open(data, key)
        audited_case(request, opened.case_id)
        return opened

    @get("/{case_id:str}", summary="A case's progress: steps, what it waits on, friction",
         opt=access("read_case"))
    async def progress(self, case_id: CaseId, case_service: Cases) -> CaseProgress:
        return await case_service.progress(case_id)

    @post("/{case_id:str}/fields", status_code=200, summary="Values a clerk typed for a step",
          opt=access("submit_fields"))
    async def submit_fields(
        self, case_id: CaseId, data: JSONBody[FieldEntry], case_service: Cases
    ) -> CaseProgress:
        return await case_service.submit_fields(case_id, data)

    @post("/{case_id:str}/materials", status_code=200, summary="A material requested or received",
          opt=access("record_material"))
    async def record_material(
        self, case_id: CaseId, data: JSONBody[MaterialEntry], case_service: Cases
    ) -> CaseProgress:
        return await case_service.record_material(case_id, data)

    @post("/{case_id:str}/trips", status_code=200, summary="The citizen came back",
          opt=access("record_trip"))
    async def record_trip(
        self, case_id: CaseId, data: JSONBody[TripEntry], case_service: Cases
    ) -> CaseProgress:
        return await case_service.record_trip(case_id, data)

    @post(
        "/{case_id:str}/milestones",
        status_code=200,
        summary="A field worker reached a milestone of a task step: who, and the evidence",
        description="Field workers (grid workers, repair officers, mediators) use clerk "
        "accounts for now. A milestone whose evidence is a photo or minutes needs "
        "`evidence_ref`; the workflow records when.",
        opt=access("record_milestone"),
    )
    async def record_milestone(
        self, case_id: CaseId, data: JSONBody[MilestoneEntry], case_service: Cases
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
        opt=access("close_case"),
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
        opt=access("close_case"),
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
        centre: Annotated[str | None, Parameter(max_length=64)] = None,
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
        awaiting: Annotated[
            str, Parameter(pattern=f"^({'|'.join(WORKLIST_AWAITING)})$")
        ] = "clerk",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> Worklist:
        return await case_service.worklist(
            centre=centre, bundle=bundle, awaiting=awaiting, limit=limit
        )
