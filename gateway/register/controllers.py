"""The can't-get-it-done register over HTTP. The register's cases run as workflows
(gateway.register.service); the list reads the register in the notebook's store, which
those workflows write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from friction.register import CantGetItDoneRecord
from gateway.auth import caller_key, current_account, requires
from gateway.cases.schemas import IdempotencyKey
from gateway.cases.service import KnownCentres
from gateway.centres import centre_policy
from gateway.errors import check_name, invalid_field
from gateway.register.schemas import (
    CASE_NUMBER,
    MAX_BODY_BYTES,
    Register,
    RegisterBody,
    RegisterCaseId,
    ResolutionBody,
    TaskForceBody,
)
from gateway.register.service import Registry
from workflows.register_case import RegisterProgress, ResolutionEntry


class CantGetItDoneController(Controller):
    path = "/api/cant-get-it-done"
    tags = ("notebook",)
    request_max_body_size = MAX_BODY_BYTES
    # The register is the city's, worked across centres and departments, and holds no
    # personal value: a case number, bundle, step, centre, department and cause.
    opt = centre_policy("none")

    @post("/", summary="Register a case that cannot get done (办不成事)",
          description="`case_id` must name an existing case (422 naming `case_id` "
          "otherwise). A walk-in with no case yet is registered with `walk_in: true` and "
          "no `case_id`, under a `WALKIN-<date>-<eight>` number the register makes (the "
          "same one for a repeated request with the same `Idempotency-Key`).",
          guards=[requires("clerk")])
    async def register(
        self,
        data: JSONBody[RegisterBody],
        register_service: Registry,
        request: Request[Any, Any, Any],
        centres: NamedDependency[KnownCentres],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[CantGetItDoneRecord]:
        if data.walk_in and data.case_id:
            raise invalid_field("case_id", "a walk-in has no case number yet: leave it out")
        if not data.walk_in and not CASE_NUMBER.fullmatch(data.case_id):
            raise invalid_field("case_id", "a case number: letters, digits and '-' (or "
                                "walk_in: true for a walk-in with no case yet)")
        for field in ("bundle", "centre", "department"):
            check_name(field, getattr(data, field))
        check_name("step", data.step, required=False)
        if data.centre not in centres:
            raise invalid_field("centre", f"no service centre {data.centre!r} here")
        key = caller_key("api", current_account(request), idempotency_key)
        record, created = await register_service.register(
            walk_in=data.walk_in, case_id=data.case_id, bundle=data.bundle, step=data.step,
            centre=data.centre, department=data.department, cause=data.cause,
            idempotency_key=key,
        )
        # 201 for a new registration, 200 for a repeated one (same record back).
        return Response(content=record, status_code=201 if created else 200)

    @get("/{case_id:str}", summary="A registered case: status, deadline, task force, "
         "escalations, answer", guards=[requires("clerk", "analyst")])
    async def case(self, case_id: RegisterCaseId, register_service: Registry) -> RegisterProgress:
        return await register_service.progress(case_id)

    @post("/{case_id:str}/task-force", status_code=200,
          summary="Assign the task force that finds the cause and answers",
          guards=[requires("clerk")])
    async def assign_task_force(
        self, case_id: RegisterCaseId, data: JSONBody[TaskForceBody],
        register_service: Registry,
    ) -> RegisterProgress:
        return await register_service.assign_task_force(case_id, data)

    @post("/{case_id:str}/resolution", status_code=200,
          summary="Answer a registered case: resolved, or documented as not possible",
          guards=[requires("clerk")])
    async def resolve(
        self, request: Request[Any, Any, Any], case_id: RegisterCaseId,
        data: JSONBody[ResolutionBody], register_service: Registry,
    ) -> CantGetItDoneRecord:
        entry = ResolutionEntry(
            resolution=data.resolution, explanation=data.explanation,
            actor=current_account(request).username,
        )
        return await register_service.resolve(case_id, entry)

    @get("/", summary="The register, oldest first, with each case's age in working days",
         guards=[requires("clerk", "analyst")])
    async def register_list(
        self,
        register_service: Registry,
        open_only: Annotated[bool, Parameter(description="only cases not yet answered")] = False,
    ) -> Register:
        entries = await register_service.entries(open_only, datetime.now(UTC))
        return Register(cases=tuple(entries))
