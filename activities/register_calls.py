"""Activities that write the can't-get-it-done register for its workflow, through the
notebook's own functions, so the register stays the single source its list, dashboard,
metrics and reports read.

Both are safe to retry: the registration is keyed by case and stamped with the
workflow's time, and an answer already in the register is returned, not written again.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from friction import notebook
from friction.register import CantGetItDoneRecord, RegisterError
from friction.store import ConflictError, FrictionStore
from workflows import ports
from workflows.register_case import RegisterRequest, Registration, ResolveRequest


def _refused(exc: RegisterError) -> ApplicationError:
    field = notebook.field_of(exc) or "case_id"
    return ApplicationError(str(exc), {"field": field}, type="InvalidField", non_retryable=True)


class RegisterCalls:
    def __init__(self, store: FrictionStore) -> None:
        self._store = store

    @activity.defn(name=ports.REGISTER_CANT_GET_IT_DONE)
    async def register_cant_get_it_done(self, request: RegisterRequest) -> Registration:
        def write() -> Registration:
            record, created = notebook.register_cant_get_it_done(
                self._store,
                case_id=request.case_id,
                bundle=request.bundle,
                step=request.step,
                centre=request.centre,
                department=request.department,
                cause=request.cause,
                calendar=request.calendar,
                now=request.registered_at,
                deadline_working_days=request.deadline_working_days,
            )
            # A retry after a lost answer finds the row this registration wrote: the same
            # registration time, which only this workflow's clock gave it.
            ours = created or record.registered_at == request.registered_at
            return Registration(record=record, created=ours)

        try:
            return await asyncio.to_thread(write)
        except RegisterError as exc:
            raise _refused(exc) from exc

    @activity.defn(name=ports.RESOLVE_CANT_GET_IT_DONE)
    async def resolve_cant_get_it_done(self, request: ResolveRequest) -> CantGetItDoneRecord:
        def write() -> CantGetItDoneRecord:
            try:
                return notebook.resolve_cant_get_it_done(
                    self._store, request.case_id, request.resolution, request.explanation,
                    request.at,
                )
            except ConflictError:
                # Answered already: by an earlier attempt of this call, or elsewhere first.
                # Either way the register's answer is the answer.
                answered = self._store.cant_get_it_done_case(request.case_id)
                if answered is None:
                    raise
                return answered

        try:
            return await asyncio.to_thread(write)
        except RegisterError as exc:
            raise _refused(exc) from exc
        except KeyError as exc:
            raise ApplicationError(
                f"case {request.case_id} is not in the register", {"field": "case_id"},
                type="NotRegistered", non_retryable=True,
            ) from exc
