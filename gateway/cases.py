"""Clerk API for cases: open one, read its progress, give it what it lacks."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, Parameter
from temporalio.client import Client

from gateway import case_desk
from gateway.auth import current_account, requires
from gateway.case_desk import CASE_ID_PATTERN
from gateway.online_channel import OnlineEntries
from gateway.schemas import CaseOpened, NotEligibleBody, OpenCase, WithdrawalBody, Worklist
from workflows.calendar import WorkingCalendar
from workflows.case import (
    CLOSE_NOT_ELIGIBLE,
    RECORD_MATERIAL,
    RECORD_MILESTONE,
    RECORD_TRIP,
    SUBMIT_FIELDS,
    WITHDRAW,
    CaseProgress,
    FieldEntry,
    MaterialEntry,
    MilestoneEntry,
    NotEligibleEntry,
    TripEntry,
    WithdrawalEntry,
)
from workflows.definition import Catalogue

IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]
CaseId = Annotated[str, Parameter(pattern=CASE_ID_PATTERN, max_length=17)]


class CasesController(Controller):
    path = "/api/cases"
    tags = ["cases"]
    guards = [requires("clerk")]

    @post("/", status_code=201, summary="Open a case of a bundle for a citizen")
    async def open_case(
        self,
        data: JSONBody[OpenCase],
        temporal: NamedDependency[Client],
        catalogue: NamedDependency[Catalogue],
        calendar: NamedDependency[WorkingCalendar],
        task_queue: NamedDependency[str],
        request: Request[Any, Any, Any],
        online_entries: NamedDependency[OnlineEntries],
        idempotency_key: IdempotencyKey = None,
    ) -> CaseOpened:
        # A key names a request of one caller: another caller's same key is another case.
        scoped = f"api:{current_account(request).username}:{idempotency_key}" \
            if idempotency_key else None
        return await case_desk.open_case(
            temporal, catalogue, calendar, task_queue, data, scoped, online_entries
        )

    @get("/{case_id:str}", summary="A case's progress: steps, what it waits on, friction")
    async def progress(self, case_id: CaseId, temporal: NamedDependency[Client]) -> CaseProgress:
        return await case_desk.case_progress(temporal, case_id)

    @post("/{case_id:str}/fields", status_code=200, summary="Values a clerk typed for a step")
    async def submit_fields(
        self, case_id: CaseId, data: JSONBody[FieldEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await case_desk.update_case(temporal, case_id, SUBMIT_FIELDS, data)

    @post("/{case_id:str}/materials", status_code=200, summary="A material requested or received")
    async def record_material(
        self, case_id: CaseId, data: JSONBody[MaterialEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await case_desk.update_case(temporal, case_id, RECORD_MATERIAL, data)

    @post("/{case_id:str}/trips", status_code=200, summary="The citizen came back")
    async def record_trip(
        self, case_id: CaseId, data: JSONBody[TripEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await case_desk.update_case(temporal, case_id, RECORD_TRIP, data)

    @post(
        "/{case_id:str}/milestones",
        status_code=200,
        summary="A field worker reached a milestone of a task step: who, and the evidence",
        description="Field workers (grid workers, repair officers, mediators) use clerk "
        "accounts for now. A milestone whose evidence is a photo or minutes needs "
        "`evidence_ref`; the workflow records when.",
    )
    async def record_milestone(
        self, case_id: CaseId, data: JSONBody[MilestoneEntry], temporal: NamedDependency[Client]
    ) -> CaseProgress:
        return await case_desk.update_case(temporal, case_id, RECORD_MILESTONE, data)

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
        temporal: NamedDependency[Client],
        request: Request[Any, Any, Any],
    ) -> CaseProgress:
        entry = NotEligibleEntry(actor=current_account(request).username, reason=data.reason)
        return await case_desk.update_case(temporal, case_id, CLOSE_NOT_ELIGIBLE, entry)

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
        temporal: NamedDependency[Client],
        request: Request[Any, Any, Any],
    ) -> CaseProgress:
        entry = WithdrawalEntry(actor=current_account(request).username, reason=data.reason)
        return await case_desk.update_case(temporal, case_id, WITHDRAW, entry)


class WorklistController(Controller):
    path = "/api/worklist"
    tags = ["cases"]
    guards = [requires("clerk")]

    @get("/", summary="Cases waiting, by default on a clerk, from search attributes")
    async def worklist(
        self,
        temporal: NamedDependency[Client],
        centre: Annotated[str | None, Parameter(max_length=64)] = None,
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
        awaiting: Annotated[str, Parameter(pattern="^(clerk|agency|lookup|worker)$")] = "clerk",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> Worklist:
        return await case_desk.worklist(
            temporal, centre=centre, bundle=bundle, awaiting=awaiting, limit=limit
        )
