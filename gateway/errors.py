"""Refusals as RFC 9457 problem details that name what is wrong: Temporal's answers, and
names the notebook's fingerprints could not hold."""

from __future__ import annotations

import re
from typing import Any

from litestar.plugins.problem_details import ProblemDetailsException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

# The workflow's ApplicationError types and what they are over HTTP.
_STATUS_OF = {"InvalidField": 422, "NotCurrentStep": 409, "CaseClosed": 409,
              "TripRecordedToday": 409}


def problem(status: int, title: str, detail: str, **extra: Any) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status, title=title, detail=detail, extra=extra or None
    )


def invalid_field(field: str, detail: str) -> ProblemDetailsException:
    return problem(422, "Invalid field", f"{field}: {detail}", field=field)


def from_temporal(case_id: str, exc: Exception) -> ProblemDetailsException:
    if isinstance(exc, WorkflowUpdateFailedError) and isinstance(exc.cause, ApplicationError):
        cause = exc.cause
        details = cause.details[0] if cause.details else {}
        field = details.get("field") if isinstance(details, dict) else None
        status = _STATUS_OF.get(cause.type or "", 422)
        title = "Invalid field" if status == 422 else "Not possible now"
        return problem(status, title, cause.message, field=field, case_id=case_id)
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        if "completed" in exc.message:
            return problem(409, "Case closed", f"case {case_id} is closed", case_id=case_id)
        return problem(404, "No such case", f"no case {case_id}", case_id=case_id)
    if isinstance(exc, RPCError) and exc.status in (
        RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED
    ):
        # No worker answered in time, or Temporal is down: try again, nothing was changed.
        return problem(503, "Case service unavailable", f"case {case_id} did not answer in "
                       "time; try again", case_id=case_id)
    raise exc


# A name that ends up inside a fingerprint ("kind|bundle|step|subject") and in URL paths.
NAME_PATTERN = r"^[^|/]{1,64}$"


def check_name(field: str, value: str | None, required: bool = True) -> None:
    """Refuse (422 naming `field`) a name a fingerprint or a URL path could not hold."""
    if value is None and not required:
        return
    if value is None or not re.fullmatch(NAME_PATTERN, value) or not value.strip():
        raise invalid_field(field, "1-64 characters, without '|' or '/'")
