"""Operators read a case in Temporal's UI: a case opened through the gateway carries a
static summary and details (bundle and steps), a memo with the bundle and the centre; its
activities and timers say which agency and which SLA, due when; OtDueDate holds the next
promised date (the worklist sorts by it with order=due); a case that ends has neither
step nor due date in its search attributes. None of it holds a personal value."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    known_values,
    pin_clock,
    running_worker,
    served_gateway,
    set_behaviour,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.china_time import CHINA_TZ, end_of_day
from workflows.bundle import BundleWorkflow
from workflows.calendar_source import build_calendar
from workflows.case import SA_AWAITING, SA_DUE_DATE, SA_STEP, CaseProgress
from workflows.definition import BundleDefinition, Catalogue, StepSpec
from workflows.operator_view import case_memo, case_summary

CENTRE = "xishan-dongting"
EMPLOYMENT = "employment-hardship"
RESIDENCE = "residence-certificate"  # its first step's SLA is 60 minutes on the clock
_STEP = SearchAttributeKey.for_keyword(SA_STEP)
_DUE = SearchAttributeKey.for_datetime(SA_DUE_DATE)
_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)


async def open_case(gateway: httpx.AsyncClient, bundle: str, citizen: Citizen) -> str:
    opened = await gateway.post("/api/cases", json={
        "bundle": bundle, "citizen_id_number": citizen.id_number, "centre": CENTRE})
    assert opened.status_code == 201, opened.text
    case_id: str = opened.json()["case_id"]
    return case_id


async def waiting_on_clerk(gateway: httpx.AsyncClient, case_id: str) -> CaseProgress:
    for _ in range(300):
        answer = await gateway.get(f"/api/cases/{case_id}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        current = next((s for s in body["steps"] if s["id"] == body["current_step"]), None)
        if current is not None and current["awaiting"] == "clerk":
            return msgspec.convert(body, CaseProgress, strict=False)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} never waited on the clerk")


async def summaries(client: Client, handle: WorkflowHandle[Any, Any]) -> dict[str, list[str]]:
    """Each activity's and timer's summary in the case's history, by kind."""
    found: dict[str, list[str]] = {"activity": [], "timer": []}
    async for event in handle.fetch_history_events():
        kind = {EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
                EventType.EVENT_TYPE_TIMER_STARTED: "timer"}.get(event.event_type)
        if kind is not None and event.user_metadata.HasField("summary"):
            [text] = await client.data_converter.decode([event.user_metadata.summary], [str])
            found[kind].append(text)
    return found


async def worklist_ids(gateway: httpx.AsyncClient, order: str, cases: set[str]) -> list[str]:
    """Our cases in the worklist's order, once visibility lists both."""
    for _ in range(100):
        answer = await gateway.get("/api/worklist", params={"centre": CENTRE, "order": order})
        assert answer.status_code == 200, answer.text
        listed = [i["case_id"] for i in answer.json()["cases"] if i["case_id"] in cases]
        if set(listed) == cases:
            return listed
        await asyncio.sleep(0.2)
    raise AssertionError(f"worklist never listed {cases}")


async def test_an_operator_reads_a_case_in_temporals_ui(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    client = dev_env.client
    catalogue = Catalogue.load()
    citizen = citizen_where(population, ecerts=True, bank=True)
    other = next(c for c in population if c is not citizen)
    personal = (citizen.id_number, citizen.name, citizen.phone, other.id_number, other.name)
    async with served_gateway(client, store, task_queue, agency_urls) as gateway:
        case_id = await open_case(gateway, EMPLOYMENT, citizen)
        progress = await waiting_on_clerk(gateway, case_id)
        handle = client.get_workflow_handle(case_id)
        described = await handle.describe()

        definition = catalogue.default(EMPLOYMENT)
        assert described.workflow_type == "BundleWorkflow"
        assert await described.static_summary() == case_summary(definition, CENTRE)
        details = await described.static_details()
        assert details is not None
        for step in definition.steps:
            assert f"{step.name_zh} ({step.name_en}; `{step.id}`): {step.agency}" in details
        assert await described.memo() == case_memo(definition, CENTRE)

        current = next(s for s in progress.steps if s.id == progress.current_step)
        attributes = described.typed_search_attributes
        assert attributes.get(_STEP) == current.id
        due = attributes.get(_DUE)
        assert isinstance(due, datetime) and due == current.due_at

        seen = await summaries(client, handle)
        lookups = [s for s in seen["activity"] if ": look up " in s]
        assert {s.split(":")[0] for s in lookups} == {lk.agency for lk in definition.lookups}
        spec = definition.step(current.id)
        assert current.due_on is not None
        assert (f"SLA of {spec.id} ({spec.name_zh}, {spec.sla_working_days} working days): "
                f"due {current.due_on.isoformat()}") in seen["timer"]
        assert any(s.startswith("notebook: record the case") for s in seen["activity"])

        # order=due: the residence certificate due within the hour comes before the
        # employment case opened earlier and due at the end of a working day.
        later = await open_case(gateway, RESIDENCE, other)
        await waiting_on_clerk(gateway, later)
        assert await worklist_ids(gateway, "opened", {case_id, later}) == [case_id, later]
        assert await worklist_ids(gateway, "due", {case_id, later}) == [later, case_id]
        wrong = await gateway.get("/api/worklist", params={"order": "soonest"})
        assert wrong.status_code == 422 and wrong.json().get("field") == "order", wrong.text

        final = await serve_case(HttpDesk(gateway, case_id), known_values(citizen),
                                 ClerkHabits(), timeout=90)
        assert final.status == "completed", final
        ended = await handle.describe()
        assert ended.typed_search_attributes.get(_AWAITING) == "nobody"
        assert ended.typed_search_attributes.get(_STEP) is None  # unset, not "-"
        assert ended.typed_search_attributes.get(_DUE) is None
        names = {p.key.name for p in ended.typed_search_attributes}
        assert SA_STEP not in names and SA_DUE_DATE not in names

    shown = repr([await described.static_summary(), details, await described.memo(),
                  seen, [p.value for p in described.typed_search_attributes]])
    for value in personal:
        assert value not in shown


# On the time-skipping server (the suite's clock 28 years ahead): Monday 2054-12-28, and
# 2055-01-01 a Friday off.
ACCEPTED = datetime.combine(date(2054, 12, 28), time(9, 0), CHINA_TZ)


def five_day_step() -> BundleDefinition:
    employment = Catalogue.load().default(EMPLOYMENT)
    step = employment.step("unemployment-registration")
    known = tuple(f for f in step.fields if f.concept and not f.concept.startswith("employment."))
    slow = StepSpec(id="registration-review", name_zh="失业登记复核",
                    name_en="Registration review", agency="hrss", sla_working_days=5,
                    fields=known, materials=step.materials)
    return msgspec.structs.replace(employment, id="review-only", steps=(slow,))


async def due_date_becomes(handle: WorkflowHandle[Any, Any], wanted: datetime) -> None:
    seen = None
    for _ in range(200):
        seen = (await handle.describe()).typed_search_attributes.get(_DUE)
        if seen == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"OtDueDate is {seen}, not {wanted}")


async def test_a_published_calendar_moves_the_due_date_search_attribute(
    time_env: WorkflowEnvironment, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str, tmp_path: Path,
) -> None:
    await pin_clock(time_env, ACCEPTED)
    await set_behaviour(fresh_agencies, "hrss", pending_polls=400)  # the step stays open
    start = msgspec.structs.replace(bundle_start(five_day_step(), citizen_where(
        population, ecerts=True)), calendar=build_calendar([2054, 2055]))
    (tmp_path / "2054.toml").write_text(
        'year = 2054\nofficial = true\nnotice = "test notice 2054"\nholidays = [2054-12-31]\n')
    (tmp_path / "2055.toml").write_text(
        'year = 2055\nofficial = true\nnotice = "test notice 2055"\nholidays = [2055-01-04]\n')
    async with running_worker(time_env.client, agency_urls, store, task_queue):
        handle = await time_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue,
            execution_timeout=timedelta(days=60))
        # 29, 30, 31 December, (1 January off), 4 and 5 January.
        await due_date_becomes(handle, end_of_day(date(2055, 1, 5)))
        await handle.signal(BundleWorkflow.calendar_published,
                            build_calendar([2054, 2055], tmp_path))
        # Two more days off: 29, 30 December, 5, 6, 7 January.
        await due_date_becomes(handle, end_of_day(date(2055, 1, 7)))
        await handle.terminate("test over")
