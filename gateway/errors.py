"""Refusals as RFC 9457 problem details that name what is wrong: Temporal's answers, names
the notebook's fingerprints could not hold, requests that do not decode, Temporal being
away (503 with Retry-After), and the failures nobody foresaw (500, logged with the
request's trace id)."""

from __future__ import annotations

import logging
import re
import traceback
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.plugins.problem_details import ProblemDetailsException
from msgspec import Meta
from opentelemetry import trace
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from gateway.shared_state import is_away
from kernel.privacy import mask

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# How long a client should wait before retrying while Temporal or its workers restart:
# a worker comes back within seconds, the embedded server within about ten.
RETRY_AFTER_SECONDS = 5

# The workflow's ApplicationError types and what they are over HTTP.
_STATUS_OF = {"InvalidField": 422, "NotCurrentStep": 409, "CaseClosed": 409,
              "TripRecordedToday": 409}
# Temporal's answers that mean "not now": the server is down or restarting, a worker did
# not answer in time, or the call was cut off ("context canceled") by a restart.
_UNAVAILABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                RPCStatusCode.CANCELLED, RPCStatusCode.RESOURCE_EXHAUSTED,
                RPCStatusCode.ABORTED)


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """An RFC 9457 problem: what went wrong and, for bad input, the field at fault."""

    status: int
    title: str
    detail: str | None = None
    field: str | None = None  # the request field at fault (body, query, path or header)
    case_id: str | None = None
    trace_id: str | None = None  # of a 500: what the operator finds the traceback by


def problem(status: int, title: str, detail: str, **extra: Any) -> ProblemDetailsException:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return ProblemDetailsException(
        status_code=status, title=title, detail=detail, extra=extra or None, headers=headers
    )


def invalid_field(field: str, detail: str) -> ProblemDetailsException:
    return problem(422, "Invalid field", f"{field}: {detail}", field=field)


def unavailable(case_id: str | None = None) -> ProblemDetailsException:
    """Temporal or its workers are away for now: nothing was changed, try again."""
    what = f"case {case_id}" if case_id else "the case service"
    extra = {"case_id": case_id} if case_id else {}
    return problem(503, "Case service unavailable",
                   f"{what} did not answer in time; try again", **extra)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, RPCTimeoutOrCancelledError):
        return True
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return True  # a lazy client's first call with the server away (temporalio's bridge)
    return isinstance(exc, RPCError) and (
        exc.status in _UNAVAILABLE or "context canceled" in exc.message
    )


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
    if is_unavailable(exc):
        return unavailable(case_id)
    raise exc


# A name that ends up inside a fingerprint ("kind|bundle|step|subject"), in URL paths and
# in Temporal's visibility queries: no separator, no quote, no control character (a NUL
# or a backslash breaks the query), and at least one visible character.
# Written with \xHH escapes only, so that Python's re and a JSON Schema (ECMA) regex read
# it alike: | / \ " ' and the control characters are out; one visible character is in.
_OUT = r"\x7c\x2f\x5c\x22\x27\x7f"
NAME_CHARS = rf"[^{_OUT}\x00-\x1f]"
# (?!\x0a) because msgspec's pattern is Python's re.search, whose $ also matches before
# a final newline.
NAME_PATTERN = rf"^{NAME_CHARS}*[^{_OUT}\x00-\x20]{NAME_CHARS}*(?!\x0a)$"
NAME_MAX = 64
# A name in a request body or a query: its pattern and length in the OpenAPI document.
Name = Annotated[str, Meta(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]


def check_name(field: str, value: str | None, required: bool = True) -> None:
    """Refuse (422 naming `field`) a name a fingerprint or a URL path could not hold."""
    if value is None and not required:
        return
    if value is None or len(value) > NAME_MAX or not re.fullmatch(NAME_PATTERN, value):
        raise invalid_field(field, f"1-{NAME_MAX} characters, without '|', '/', '\\', "
                            "quotes or control characters")


# Requests that do not decode: msgspec's constraints (lengths, patterns, ranges, enums)
# say what is wrong (422); a wrong type or a missing field is a malformed request (400).
_CONSTRAINT = re.compile(r"of length|matching regex|[<>]=?|Invalid enum value|"
                         r"must be|Invalid (?:date|datetime)|out of range", re.IGNORECASE)
_MISSING = re.compile(r"missing required field `([^`]+)`|parameter '([^']+)'")


def from_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's refusal of a body or parameter, as a problem naming the field."""
    first = exc.extra[0] if isinstance(exc.extra, list) and exc.extra else {}
    message = str(first.get("message") or exc.detail) if isinstance(first, dict) else exc.detail
    key = first.get("key") if isinstance(first, dict) else None
    source = first.get("source") if isinstance(first, dict) else None
    missing = _MISSING.search(message)
    if missing:
        field: str | None = missing.group(1) or missing.group(2)
    elif isinstance(key, str) and key != "data":
        field = re.split(r"[.\[]", key.removeprefix("$."), maxsplit=1)[0]
    else:
        field = None
    constrained = not missing and source != "path" and _CONSTRAINT.search(message)
    status = 422 if constrained else 400
    title = "Invalid field" if constrained else "Malformed request"
    detail = f"{field}: {message}" if field else message
    return problem(status, title, detail, field=field).to_response(request)


def trace_id_now() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Temporal or the shared state away (a 503), or a failure nobody foresaw: 500, and
    its traceback in the log under the request's trace id. Neither the body nor the query
    is logged; the traceback's text is masked, since an exception's message may quote
    what a resident gave."""
    if is_unavailable(exc):
        return unavailable().to_response(request)
    if is_away(exc):
        return problem(503, "Service unavailable", "the gateways' shared state (sessions, "
                       "limits, idempotency keys) did not answer; try again",
                       ).to_response(request)
    trace_id = trace_id_now()
    route = request.scope.get("path_template") or "?"
    text = "".join(traceback.format_exception(exc))
    log.error("500 on %s %s (trace %s): %s", request.method, route, trace_id, mask(text))
    return problem(500, "Internal error", "the service could not answer; the operator "
                   "can find what happened by the trace id", trace_id=trace_id,
                   ).to_response(request)


# Litestar's exception handlers for the API (the console has its own pages).
API_EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationException: from_validation,
    Exception: internal_error,
}
