"""Logs of one process: one JSON object a line, or lines for a person at a terminal.

Every record of the process (the product's own loggers, uvicorn's, Temporal's, httpx's,
Litestar's) goes through the root logger's one handler and the same processors, which
add the service, the current OpenTelemetry trace and span ids and the case number when
one is known (bound for a request by the gateway, or the workflow an activity or a
workflow log line belongs to), then take every personal value out: keys that name one
are dropped, and ID and mobile numbers in any text are masked (kernel.privacy.mask).

Format: `ONETHING_LOG_FORMAT=json|console`; by default console when stderr is a
terminal, JSON otherwise (the parts under `onething up` write to .state/logs/).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity
from temporalio import workflow as temporal_workflow

from kernel.privacy import mask

FORMATS = ("json", "console")
FORMAT_VARIABLE = "ONETHING_LOG_FORMAT"
# Keys whose value is a person's: never written, whoever passes them to a logger.
PERSONAL_KEYS = frozenset({
    "citizen_id_number", "id_number", "citizen_name", "name", "phone", "mobile",
    "address", "dossier", "values", "bank_account", "password", "token", "tracking_code",
})
DROPPED = "[dropped]"
# A case number (or a walk-in's) inside a workflow id: the case's own, or cgid-<case>.
_CASE_IN_ID = re.compile(r"(?:WALKIN-)?\d{8}-[2-9A-Z]{8}")
# What Temporal's loggers attach to a record: the workflow it belongs to.
_TEMPORAL_EXTRAS = ("temporal_activity", "temporal_workflow")
_REPEATS = ("color_message", "temporal_log")


def log_format(environ: Mapping[str, str], stream: IO[str]) -> str:
    """The format asked for in the environment, else console for a terminal, JSON
    otherwise."""
    asked = environ.get(FORMAT_VARIABLE, "").strip().lower()
    if asked:
        if asked not in FORMATS:
            raise ValueError(f"{FORMAT_VARIABLE}={asked!r} is not one of {', '.join(FORMATS)}")
        return asked
    return "console" if stream.isatty() else "json"


def add_trace(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The ids of the OpenTelemetry span current where the line was logged."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def case_of_workflow(workflow_id: object) -> str | None:
    found = _CASE_IN_ID.search(workflow_id) if isinstance(workflow_id, str) else None
    return found.group() if found else None


def add_case(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The case number, when none was bound: that of the workflow a Temporal log record
    names (its extras, added by ExtraAdder), or of the activity running where the line
    was logged."""
    if event.get("case_id"):
        return event
    for extra in _TEMPORAL_EXTRAS:
        info = event.get(extra)
        if isinstance(info, dict):
            if case := case_of_workflow(info.get("workflow_id")):
                event["case_id"] = case
                return event
    if activity.in_activity():
        if case := case_of_workflow(activity.info().workflow_id):
            event["case_id"] = case
    return event


def _without_personal(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: DROPPED if k in PERSONAL_KEYS else _without_personal(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_personal(v) for v in value]
    return value


def drop_personal(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """No personal value leaves the process: keys naming one are dropped, ID and mobile
    numbers in every text (the message, an exception's traceback) are masked."""
    for key in list(event):
        if key.startswith("_"):
            continue  # the formatter's own (the stdlib record), never rendered
        event[key] = DROPPED if key in PERSONAL_KEYS else _without_personal(event[key])
    return event


def tidy(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's access line as fields too: method, path (already redacted), status;
    what only repeats the message left out (uvicorn's coloured copy, the Temporal core's
    entry object)."""
    for repeat in _REPEATS:
        event.pop(repeat, None)
    args = event.pop("positional_args", None)  # the record's, already in the message
    record = event.get("_record")
    if record is not None and record.name == "uvicorn.access":
        if isinstance(args, tuple) and len(args) == 5:
            event.update(client=args[0], method=args[1], path=args[2], status=args[4])
    return event


def _shared(service: str) -> list[Processor]:
    def add_service(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        add_trace,
    ]


def configure_logging(
    service: str,
    *,
    stream: IO[str] | None = None,
    fmt: str | None = None,
    level: int = logging.INFO,
) -> logging.Handler:
    """Route every logger of the process to `stream` (stderr) in `fmt` (from the
    environment); returns the one handler, installed on the root logger."""
    out = stream or sys.stderr
    chosen = fmt or log_format(os.environ, out)
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared = _shared(service)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        pass_foreign_args=True,
        processors=[
            add_case,
            tidy,
            structlog.processors.format_exc_info,
            drop_personal,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Litestar's and uvicorn's own handlers would write around this one.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # httpx writes a line at INFO for every request: for the worker that is every agency
    # call of every case, formatted by the processors above (a visible share of a case's
    # cost in the throughput benchmark's profile). An agency's trouble is counted by the
    # activities' metrics and raised as their error; the request lines are for debugging.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level <= logging.DEBUG
                                        else logging.WARNING)
    # The workflow and activity are fields of the line (add_case), not a suffix of it.
    temporal_workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
