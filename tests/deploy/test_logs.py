"""The gateway's and the worker's logs as JSON lines: a real case served through the real
gateway (served as `onething gateway` serves it) and worker, every line parsed, the
request's and the activities' lines carrying the case number and the trace, and no
personal value anywhere though the clerk typed them all."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from conftest import TEST_SECRET, ServedApp, bearer, citizen_where, known_values
from personal_scan import PersonalValues
from temporalio import activity
from temporalio import workflow as temporal_workflow
from temporalio.testing import WorkflowEnvironment

from activities.worker import create_worker
from deploy.cli import gateway_server_config
from deploy.local import free_port
from deploy.logs import configure_logging, log_format
from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case
from deploy.sim.population import Citizen
from deploy.telemetry import GATEWAY_SERVICE, WORKER_SERVICE, tracer_provider
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.app import create_app
from kernel.privacy import ID_LABEL, PHONE_LABEL
from workflows.calendar_source import load_calendar
from workflows.definition import Catalogue


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logging configured as a part configures it, into memory; what
    pytest and the other tests had is put back after."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("onething-test", stream=stream, fmt="json")
    yield stream
    root.handlers[:] = before[0]
    root.setLevel(before[1])
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    structlog.reset_defaults()
    temporal_workflow.logger.workflow_info_on_message = True
    activity.logger.activity_info_on_message = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
async def gateway(
    captured: io.StringIO,
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        temporal=dev_env.client, store=store, catalogue=Catalogue.load(),
        calendar=load_calendar(), task_queue=task_queue,
        tracer_provider=tracer_provider(GATEWAY_SERVICE), secret=TEST_SECRET,
        accounts=AccountBook(store), secure_cookies=False,
    )
    server = uvicorn.Server(gateway_server_config(app, "127.0.0.1", free_port()))
    async with httpx.AsyncClient(timeout=10) as agencies:
        worker = create_worker(
            dev_env.client, agency_urls=agency_urls, store=store, http=agencies,
            task_queue=task_queue, tracer_provider=tracer_provider(WORKER_SERVICE),
        )
        async with worker:
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.02)
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{server.config.port}", timeout=30,
                    headers=bearer(),
                ) as client:
                    yield client
            finally:
                server.should_exit = True
                await serving


async def test_a_served_case_logs_json_lines_with_its_number_and_trace_and_no_person(
    gateway: httpx.AsyncClient,
    captured: io.StringIO,
    dev_env: WorkflowEnvironment,
    population: list[Citizen],
) -> None:
    # Agency calls are logged per request only when someone debugging asks for them.
    logging.getLogger("httpx").setLevel(logging.INFO)
    citizen = citizen_where(population, ecerts=True, bank=True)
    opened = await gateway.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": "liangxi-chongan"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    # The clerk types the citizen's name, ID number and phone at one step.
    final = await serve_case(HttpDesk(gateway, case_id), known_values(citizen), ClerkHabits())
    assert final.status == "completed"
    await dev_env.client.get_workflow_handle(case_id).result()
    # A line that names personal values outright, as a careless caller might.
    logging.getLogger("onething.careless").warning(
        "looked up %s, phone %s", citizen.id_number, citizen.phone)
    structlog.get_logger("onething.careless").info(
        "citizen", citizen_name=citizen.name, address=citizen.address, case_id=case_id)

    logged = lines(captured)  # every line is one JSON object
    access = [line for line in logged if line["logger"] == "uvicorn.access"]
    [open_line] = [line for line in access
                   if line["method"] == "POST" and line["path"] == "/api/cases"]
    assert open_line["status"] == 201 and open_line["case_id"] == case_id
    case_trace = open_line["trace_id"]
    assert len(case_trace) == 32
    # Each request on the case names it, each under its own trace.
    on_case = [line for line in access if line["path"].startswith(f"/api/cases/{case_id}")]
    assert on_case and all(line["case_id"] == case_id and len(line["trace_id"]) == 32
                           for line in on_case)
    # The worker's agency calls (httpx's request lines, inside the activities) carry the
    # case and the trace the case was opened under.
    calls = [line for line in logged if line["logger"] == "httpx"
             and "/lookup/" in line["event"]]
    assert calls and all(line["case_id"] == case_id for line in calls)
    assert {line["trace_id"] for line in calls} == {case_trace}
    assert {line["service"] for line in logged} == {"onething-test"}

    # No personal value in any line; the careless ones masked and dropped.
    found = PersonalValues([citizen]).count(captured.getvalue().encode())
    assert +found == {}, found
    [careless, fields] = [line for line in logged if line["logger"] == "onething.careless"]
    assert careless["event"] == f"looked up {ID_LABEL}, phone {PHONE_LABEL}"
    assert fields["citizen_name"] == fields["address"] == "[dropped]"


def test_agency_requests_are_not_logged_at_info(captured: io.StringIO) -> None:
    """httpx's line per request stays off unless the process logs at DEBUG."""
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    configure_logging("onething-test", stream=captured, fmt="json", level=logging.DEBUG)
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)


def test_json_unless_a_terminal_or_asked() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert log_format({}, io.StringIO()) == "json"
    assert log_format({}, Terminal()) == "console"
    assert log_format({"ONETHING_LOG_FORMAT": "json"}, Terminal()) == "json"
    with pytest.raises(ValueError, match="ONETHING_LOG_FORMAT"):
        log_format({"ONETHING_LOG_FORMAT": "xml"}, io.StringIO())


def test_a_traceback_is_one_line_of_json_with_its_numbers_masked(captured: io.StringIO) -> None:
    try:
        raise ValueError("no record for 320211197309134047")
    except ValueError:
        logging.getLogger("onething.failing").exception("look-up failed")
    [line] = lines(captured)
    assert line["level"] == "error" and line["event"] == "look-up failed"
    assert line["exception"].endswith(f"ValueError: no record for {ID_LABEL}")
    assert "320211197309134047" not in captured.getvalue()


def test_a_workflow_line_names_its_case(captured: io.StringIO) -> None:
    # What Temporal's workflow logger attaches to a record of a register workflow.
    logging.getLogger("temporalio.workflow").warning("escalated", extra={"temporal_workflow": {
        "workflow_id": "cgid-20261207-ABCDEFGH", "workflow_type": "CantGetItDoneWorkflow"}})
    logging.getLogger("temporalio.workflow").warning("matched", extra={"temporal_workflow": {
        "workflow_id": "allowance-match-2026-12", "workflow_type": "AllowanceMatch"}})
    escalated, matched = lines(captured)
    assert escalated["case_id"] == "20261207-ABCDEFGH"
    assert escalated["temporal_workflow"]["workflow_type"] == "CantGetItDoneWorkflow"
    assert "case_id" not in matched
