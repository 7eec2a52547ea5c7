"""Clerk API for cases: open one, read its progress, give it what it lacks, close it.

Each handler declares its centre policy (gateway.centres): a clerk reads and acts on the
cases of the centres they work at, or serves another centre's case after saying why."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, Parameter, QueryParameter

from gateway.audit.recorder import access, audited_case
from gateway.auth import caller_key, current_account, requires
from gateway.cases.schemas import (
    MAX_BODY_BYTES,
    WORKLIST_AWAITING,
    CaseId,
    CaseOpened,
    CrossCentreBody,
    FieldsBody,
    FindByIdNumber,
    FindCases,
    Found,
    IdempotencyKey,
    MaterialBody,
    MilestoneBody,
    NameQuery,
    NotEligibleBody,
    OpenCase,
    TripBody,
    WithdrawalBody,
    Worklist,
    WorklistOrder,
)
from gateway.cases.service import Cases, actor_of
from gateway.centres import centre_policy, listed_centres, remember_home
from workflows.case import (
    CaseAccess,
    CaseProgress,
    CrossCentreEntry,
    MilestoneEntry,
    TripEntry,
)

CASE = centre_policy("case")
ACTOR_NOTE = ("Who did it is the logged-in account; an `actor` in the body is ignored. A "
              "service account acting for a person names them in `on_behalf_of`, recorded "
              "as `<person> via <service>`.")


class CasesController(Controller):
    path = "/api/cases"
    tags = ["cases"]
    guards = [requires("clerk")]
    request_max_body_size = MAX_BODY_BYTES

    @post("/", status_code=201, summary="Open a case of a bundle for a citizen",
          description="`centre` must be one the account works at (403 naming `centre`). "
          "A citizen's second open case of the same bundle is 409 naming the open one in "
          "`existing_case` (field `confirm_duplicate`), unless `confirm_duplicate` is true.",
          opt=centre_policy("opening") | access("open_case"))
    async def open_case(
        self,
        data: JSONBody[OpenCase],
        case_service: Cases,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey = None,
    ) -> CaseOpened:
        account = current_account(request)
        key = caller_key("api", account, idempotency_key)
        opened = await case_service.open(data, key, account)
        audited_case(request, opened.case_id)
        if idempotency_key is None:
            # Surely the case just started at data.centre (a key's retry may name the
            # case an earlier request opened, wherever that one said).
            remember_home(request, opened.case_id, data.centre)
        return opened

    @post("/search", status_code=200, summary="Find cases by case number or ID number",
          description="`{\"by\": \"case_number\", \"case_id\"}`: a case number, whole or "
          "from its start (at least its year); or `{\"by\": \"id_number\", "
          "\"citizen_id_number\"}`: the citizen's cases, found by a keyed reference "
          "(the number itself never reaches Temporal). Cases of the account's centres only, "
          "newest first, at most 50 (`more` when there are more). Every search is recorded "
          "in the access log.",
          opt=centre_policy("own_centres") | access("search"))
    async def search(
        self, data: JSONBody[FindCases], case_service: Cases, request: Request[Any, Any, Any],
    ) -> Found:
        centres = listed_centres(current_account(request), None)
        if isinstance(data, FindByIdNumber):
            found = await case_service.find(centres=centres,
                                            citizen_id_number=data.citizen_id_number)
        else:
            found = await case_service.find(centres=centres, case_number=data.case_id)
        if len(found.cases) == 1:
            audited_case(request, found.cases[0].case_id)
        return found

    @get("/{case_id:str}", summary="A case's progress: steps, what it waits on, friction",
         description="Only for a clerk of the case's home centre or one serving it from "
         "elsewhere (403 naming `centre`).", opt=CASE | access("read_case"))
    async def progress(self, case_id: CaseId, case_service: Cases) -> CaseProgress:
        return await case_service.progress(case_id)

    @post("/{case_id:str}/fields", status_code=200, summary="Values a clerk typed for a step",
          opt=CASE | access("submit_fields"))
    async def submit_fields(
        self, case_id: CaseId, data: JSONBody[FieldsBody], case_service: Cases
    ) -> CaseProgress:
        return await case_service.submit_fields(case_id, data)

    @post("/{case_id:str}/materials", status_code=200,
          summary="A material requested or received", opt=CASE | access("record_material"))
    async def record_material(
        self, case_id: CaseId, data: JSONBody[MaterialBody], case_service: Cases
    ) -> CaseProgress:
        return await case_service.record_material(case_id, data)

    @post("/{case_id:str}/trips", status_code=200, summary="The citizen came back",
          description=ACTOR_NOTE, opt=CASE | access("record_trip"))
    async def record_trip(
        self, case_id: CaseId, data: JSONBody[TripBody], case_service: Cases,
        request: Request[Any, Any, Any],
    ) -> CaseProgress:
        actor = actor_of(current_account(request), data.on_behalf_of)
        entry = TripEntry(reasons=data.reasons, again_today=data.again_today,
                          again_today_reason=data.again_today_reason, actor=actor)
        return await case_service.record_trip(case_id, entry)

    @post(
        "/{case_id:str}/milestones",
        status_code=200,
        summary="A field worker reached a milestone of a task step: who, and the evidence",
        description="Field workers (grid workers, repair officers, mediators) use clerk "
        "accounts for now. A milestone whose evidence is a photo or minutes needs "
        "`evidence_ref`; the workflow records when. " + ACTOR_NOTE,
        opt=CASE | access("record_milestone"),
    )
    async def record_milestone(
        self, case_id: CaseId, data: JSONBody[MilestoneBody], case_service: Cases,
        request: Request[Any, Any, Any],
    ) -> CaseProgress:
        entry = MilestoneEntry(
            step=data.step, milestone=data.milestone, evidence_ref=data.evidence_ref,
            actor=actor_of(current_account(request), data.on_behalf_of))
        return await case_service.record_milestone(case_id, entry)

    @post(
        "/{case_id:str}/cross-centre",
        status_code=200,
        summary="Serve a case of another centre (通办), saying why",
        description="For a clerk whose account may serve elsewhere (403 naming "
        "`serves_elsewhere` otherwise; 409 naming `centre` on the clerk's own centre's "
        "case). The case records who, from which centre (the account's first), when and "
        "why, for its home centre to see (`served_elsewhere` in the progress); from then "
        "on this account may read and act on the case. " + ACTOR_NOTE,
        opt=centre_policy("cross_centre") | access("serve_elsewhere"),
    )
    async def serve_elsewhere(
        self, case_id: CaseId, data: JSONBody[CrossCentreBody], case_service: Cases,
        request: Request[Any, Any, Any],
    ) -> CaseAccess:
        account = current_account(request)
        entry = CrossCentreEntry(actor=account.username, centre=account.centre or "",
                                 reason=data.reason)
        return await case_service.serve_elsewhere(case_id, entry)

    @post(
        "/{case_id:str}/not-eligible",
        status_code=200,
        summary="Close the case as not eligible: a material rule the citizen cannot meet today",
        description="Taken while the current step waits on the clerk with failed rules "
        "(the one-time notice's `rule:` items, or an agency's rejection by a rule); the "
        "failed rules are recorded on the case and told to the citizen, and the case "
        "ends. The closing clerk is the logged-in account. 409 when the step fails no "
        "rule or the case is closed.",
        opt=CASE | access("close_case"),
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
        opt=CASE | access("close_case"),
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

    @get("/", summary="Cases waiting, by default on a clerk, from search attributes",
         description="Cases of the account's centres only: `centre` names one of them "
         "(403 naming `centre` otherwise); without it, all of them. One page of `limit` "
         "cases (`page`, from 1), with the `total` listed (`complete` false: more than "
         "1000, narrow with a filter); each open case with since when it waits "
         "(`waiting_since`, null for cases opened before it was recorded) and its "
         "current step's promised date (`due_at`, `overdue`); `overdue=true`: only those "
         "past it. Read from search attributes alone, no case is asked: `due_on` is "
         "null and `due_provisional` false here (the case's progress says them).",
         opt=centre_policy("own_centres"))
    async def worklist(
        self,
        case_service: Cases,
        request: Request[Any, Any, Any],
        centre: NameQuery = None,
        bundle: NameQuery = None,
        awaiting: Annotated[
            str, Parameter(pattern=f"^({'|'.join(WORKLIST_AWAITING)})$")
        ] = "clerk",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        page: Annotated[int, Parameter(ge=1, le=1000)] = 1,
        overdue: Annotated[bool, QueryParameter()] = False,
        order: Annotated[WorklistOrder, Parameter(
            description="`opened`: open cases oldest first; `due`: nearest promised date "
            "(`due_at`) first")] = "opened",
    ) -> Worklist:
        centres = listed_centres(current_account(request), centre)
        return await case_service.worklist(
            centres=centres, bundle=bundle, awaiting=awaiting, limit=limit, page=page,
            overdue_only=overdue, order=order,
        )
