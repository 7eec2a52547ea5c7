"""The full path through the gateway, on the real dev server with a real worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import ServedApp, api_token, citizen_where, known_values, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.cases.schemas import DEFAULT_CENTRES
from workflows.calendar_source import PublishedCalendar

PROBLEM = "application/problem+json"
# This run's own centre, so that the worklist on the shared dev server is this test's.
CENTRE = f"centre-{datetime.now(UTC):%H%M%S%f}"


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, agency_urls,
                              centres=(*DEFAULT_CENTRES, CENTRE)) as client:
        yield client


def open_body(citizen: Citizen, centre: str = "liangxi-chongan") -> dict[str, str]:
    return {"bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
            "centre": centre}


async def test_clerk_completes_a_case_through_the_gateway(
    gateway: httpx.AsyncClient, population: list[Citizen], store: SqliteFrictionStore
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    centre = CENTRE
    opened = await gateway.post("/api/cases", json=open_body(citizen, centre))
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    desk = HttpDesk(gateway, case_id)
    first = await wait_for(desk, waiting_on_clerk)
    assert first.current_step == "unemployment-registration"

    # The worklist of cases waiting on a clerk at this centre finds it.
    for _ in range(100):
        listed = (await gateway.get("/api/worklist", params={"centre": centre})).json()
        if listed["cases"]:
            break
        await asyncio.sleep(0.1)
    assert [c["case_id"] for c in listed["cases"]] == [case_id]
    assert listed["cases"][0]["step"] == "unemployment-registration"

    # A value the validator refuses is a 422 naming the field, and changes nothing.
    bad = await gateway.post(
        f"/api/cases/{case_id}/fields",
        json={"step": "unemployment-registration", "values": {"left_on": "2999-01-01"}},
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["field"] == "left_on"
    wrong_step = await gateway.post(
        f"/api/cases/{case_id}/fields", json={"step": "subsidy-claim", "values": {}}
    )
    assert wrong_step.status_code == 409

    final = await serve_case(desk, known_values(citizen), ClerkHabits(seconds_per_field=(4, 9)))
    assert final.status == "completed"
    assert final.fields_total > final.fields_prefilled > 0

    backlog = (await gateway.get("/api/friction/backlog")).json()["entries"]
    top = backlog[0]["point"]
    assert (top["kind"], top["step"]) == ("manual_reentry", "flexible-insurance-enrollment")
    assert backlog[0]["item"]["status"] == "new"

    metrics = (await gateway.get("/metrics")).text
    assert 'onething_cases_opened_total{bundle="employment-hardship"} 1.0' in metrics
    assert 'onething_cases_completed_total{bundle="employment-hardship"} 1.0' in metrics
    assert 'onething_friction_events_total{kind="manual_reentry"} 8.0' in metrics
    assert "onething_http_requests_total" in metrics
    assert citizen.id_number not in metrics


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"citizen_id_number": "320211198001011230"}, "citizen_id_number"),
        ({"bundle": "no-such-bundle"}, "bundle"),
        ({"centre": " "}, "centre"),
    ],
)
async def test_opening_a_case_with_bad_input_is_refused_naming_the_field(
    gateway: httpx.AsyncClient, population: list[Citizen], change: dict[str, str], field: str,
    store: SqliteFrictionStore,
) -> None:
    body = {**open_body(population[0]), **change}
    response = await gateway.post("/api/cases", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["field"] == field
    assert store.case_counts() == {}  # no half-opened case


async def test_malformed_bodies_and_unknown_cases_are_problems(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.post("/api/cases", json={"bundle": "employment-hardship"})
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert "citizen_id_number" in missing.text
    unknown = await gateway.get("/api/cases/20260101-ABCDEFGH")
    assert unknown.status_code == 404 and unknown.json()["title"] == "No such case"
    malformed = await gateway.get("/api/cases/not-a-case")
    assert malformed.status_code == 400


async def test_retried_open_with_the_same_idempotency_key_names_the_same_case(
    gateway: httpx.AsyncClient, population: list[Citizen]
) -> None:
    headers = {"Idempotency-Key": f"window-7-{datetime.now(UTC).timestamp()}"}
    body = open_body(population[1])
    first = await gateway.post("/api/cases", json=body, headers=headers)
    again = await gateway.post("/api/cases", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["case_id"] == again.json()["case_id"]
    # Another caller's request with the same key is its own case, not a way into this one.
    other = await gateway.post("/api/cases", json=open_body(population[2]),
                               headers={**headers, "Authorization":
                                        f"Bearer {api_token('clerk', subject='service:app')}"})
    assert other.status_code == 201
    assert other.json()["case_id"] != first.json()["case_id"]


async def test_friction_batch_from_another_channel_keeps_the_good_events(
    gateway: httpx.AsyncClient, store: SqliteFrictionStore
) -> None:
    now = datetime.now(UTC).isoformat()
    good = {"kind": "search_only_entry", "event_id": "app-1", "occurred_at": now,
            "bundle": "population-certificate", "channel": "app",
            "service": "population-certificate", "entry_path": "search"}
    batch = {"events": [good, {"kind": "no_such_kind", "event_id": "app-2"},
                        {**good, "event_id": "app-3", "service": "13912345678"}]}
    response = await gateway.post("/api/friction/events", json=batch)
    assert response.status_code == 200, response.text
    result = response.json()
    # Stored in the sending account's namespace.
    assert result["stored"] == ["channel:service:tests:app-1"]
    assert [r["index"] for r in result["rejected"]] == [1, 2]
    again = (await gateway.post("/api/friction/events", json={"events": [good]})).json()
    assert again["stored"] == [] and again["duplicates"] == ["channel:service:tests:app-1"]
    counts = store.counts_by_kind()
    assert counts["search_only_entry"] == sum(counts.values()) == 1
    bad = await gateway.post("/api/friction/events", content=b"[not json")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(PROBLEM)


async def test_openapi_is_served(gateway: httpx.AsyncClient) -> None:
    schema = (await gateway.get("/schema/openapi.json")).json()
    assert "/api/cases" in schema["paths"]
    assert "/api/friction/events" in schema["paths"]


async def test_health_and_metrics_name_the_years_without_an_official_schedule(
    gateway: httpx.AsyncClient,
) -> None:
    health = (await gateway.get("/healthz")).json()
    assert health["status"] == "ok" and health["calendar"].startswith("cn-mainland@")
    metrics = (await gateway.get("/metrics")).text
    years = [line for line in metrics.splitlines()
             if line.startswith("onething_calendar_official{")]
    assert len(years) == 2  # this year and the next
    for line in years:
        year = int(line.split('"')[1])
        official = line.endswith(" 1.0")
        # Whatever the day: a year is listed by /healthz exactly when /metrics says 0.
        assert (year in health["calendar_years_unofficial"]) is not official


async def test_a_schedule_published_reaches_the_running_gateway_without_a_restart(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str, tmp_path: Path,
) -> None:
    published = tmp_path / "calendars"
    source = PublishedCalendar(published)
    async with served_gateway(dev_env.client, store, task_queue, calendar=source) as gateway:
        before = (await gateway.get("/healthz")).json()
        missing = before["calendar_years_unofficial"]
        if not missing:
            pytest.skip("this year and the next both have an official schedule already")
        year = missing[-1]
        published.mkdir()
        (published / f"{year}.toml").write_text(
            f'year = {year}\nofficial = true\nnotice = "test notice {year}"\n')
        after = (await gateway.get("/healthz")).json()
        assert year not in after["calendar_years_unofficial"]
        assert after["calendar"] != before["calendar"]
        metrics = (await gateway.get("/metrics")).text
        assert f'onething_calendar_official{{year="{year}"}} 1.0' in metrics
