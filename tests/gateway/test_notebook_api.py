"""The notebook's HTTP API around a store with cases already recorded: reports with small
groups withheld, the can't-get-it-done register with its deadline in working days and
its gauges on /metrics, the event log as OCEL 2.0, and bad input named by field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import running_worker, served_gateway
from temporalio.testing import WorkflowEnvironment

from friction.sqlite_store import SqliteFrictionStore
from kernel.china_time import local_date
from kernel.events import CaseRecord, ManualReentry, Provenance, StepRecord
from workflows.calendar_source import load_calendar

BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
PROBLEM = "application/problem+json"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway without a worker: these endpoints read and write the notebook only."""
    async with served_gateway(dev_env.client, store, task_queue) as client:
        yield client


@pytest.fixture
async def register_worker(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> AsyncIterator[None]:
    """Each registered case runs as a CantGetItDoneWorkflow, which needs a worker."""
    async with running_worker(dev_env.client, {}, store, task_queue):
        yield


def record(case_id: str, centre: str, prefilled: int, trips: int = 1) -> CaseRecord:
    return CaseRecord(
        case_id=case_id, bundle=BUNDLE, bundle_version=1, centre=centre, channel="window",
        status="completed", opened_at=T0, closed_at=T0 + timedelta(hours=1), trips=trips,
        fields_total=25, fields_prefilled=prefilled, working_days=1, clerk_minutes=25.0,
        steps=(StepRecord(step=FORM, status="approved", started_at=T0,
                          finished_at=T0 + timedelta(minutes=20), working_days=0,
                          fields_total=25, fields_prefilled=prefilled),),
    )


def problem_field(response: httpx.Response) -> str | None:
    assert response.status_code in (400, 404, 409, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    field: str | None = response.json().get("field")
    return field


async def test_reports_withhold_small_groups_and_show_the_prefilled_share(
    api: httpx.AsyncClient, store: SqliteFrictionStore
) -> None:
    for i in range(5):
        store.upsert_case(record(f"A{i}", "liangxi-chongan", 23, trips=2 if i == 0 else 1))
    for i in range(2):
        store.upsert_case(record(f"B{i}", "binhu-hehu", 25))
    store.ingest([ManualReentry(event_id="A0/1", occurred_at=T0, case_id="A0", bundle=BUNDLE,
                                step=FORM, field="phone",
                                known_from=Provenance(kind="agency", source="public-security"))])
    response = await api.get("/api/reports", params={
        "group_by": "centre", "since": "2026-03-01", "until": "2026-03-03T00:00:00+08:00"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["group_by"], report["min_group"]) == ("centre", 5)
    binhu, liangxi = report["rows"]
    assert binhu == {"group": "binhu-hehu", "cases": None, "suppressed": True,
                     "completion_rate": None, "one_trip_rate": None,
                     "working_days_to_done": None, "clerk_minutes_per_case": None,
                     "friction_minutes_per_case": None, "prefilled_share": None,
                     "prefill_benchmark_met": None, "closed_rate": None,
                     "not_eligible": None, "withdrawn": None}
    assert liangxi["cases"] == 5 and liangxi["one_trip_rate"] == 0.8
    assert liangxi["prefilled_share"] == 0.92 and liangxi["prefill_benchmark_met"] is True
    assert liangxi["friction_minutes_per_case"] == pytest.approx(2.45 / 5)

    steps = (await api.get("/api/reports", params={"group_by": "step"})).json()["rows"]
    assert [(r["group"], r["cases"]) for r in steps] == [(f"{BUNDLE}/{FORM}", 7)]
    outside = (await api.get("/api/reports", params={"since": "2026-03-03"})).json()
    assert outside["rows"] == []

    for params, field in (
        ({"group_by": "street"}, "group_by"),
        ({"min_group": "2"}, "min_group"),  # below the floor: small groups would show
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-03-03T00:00:00"}, "until"),  # no offset
        ({"since": "2026-03-03", "until": "2026-03-02"}, "until"),
    ):
        assert problem_field(await api.get("/api/reports", params=params)) == field, params


async def test_the_cant_get_it_done_register_over_http(
    api: httpx.AsyncClient, store: SqliteFrictionStore, register_worker: None
) -> None:
    calendar = load_calendar()
    body = {"case_id": "20260302-ABCDEFGH", "bundle": BUNDLE, "step": FORM,
            "centre": "liangxi-chongan", "department": "social-insurance", "cause": "system"}
    # The register takes cases that exist: these the notebook knows.
    for known in (body["case_id"], "20260302-XXXXXXXX"):
        store.upsert_case(record(known, "liangxi-chongan", 0))
    created = await api.post("/api/cant-get-it-done", json=body)
    assert created.status_code == 201, created.text
    registered = created.json()
    # Counted from the moment the register took it, as the product counted it.
    registered_on = local_date(datetime.fromisoformat(registered["registered_at"]))
    assert registered["deadline"] == calendar.add_working_days(registered_on, 5).isoformat()
    assert registered["resolved_at"] is None
    again = await api.post("/api/cant-get-it-done", json={**body, "cause": "policy"})
    assert again.status_code == 200 and again.json() == registered
    assert [e.event_id for e in store.events_for_case(body["case_id"])] == [
        "cgid/20260302-ABCDEFGH"]

    applicant = await api.post("/api/cant-get-it-done",
                               json={**body, "case_id": "20260302-XXXXXXXX", "cause": "applicant"})
    assert problem_field(applicant) == "cause"
    assert "applicant's own failure" in applicant.json()["detail"]
    for change, field in (({"bundle": "a/b"}, "bundle"), ({"case_id": "x y"}, "case_id"),
                          ({"department": "13912345678"}, "department")):
        refused = await api.post("/api/cant-get-it-done", json={**body, **change})
        assert problem_field(refused) == field, refused.text
    missing = await api.post("/api/cant-get-it-done", json={"case_id": "X"})
    assert missing.status_code == 400 and "bundle" in missing.text

    listed = (await api.get("/api/cant-get-it-done", params={"open_only": "true"})).json()
    (entry,) = listed["cases"]
    assert entry["record"]["case_id"] == body["case_id"]
    assert (entry["age_working_days"], entry["overdue"]) == (0, False)
    metrics = (await api.get("/metrics")).text
    assert 'onething_cant_get_it_done_open{cause="system"} 1.0' in metrics
    assert 'onething_cant_get_it_done_open{cause="policy"} 0.0' in metrics
    assert 'onething_cant_get_it_done_oldest_age_working_days{cause="system"} 0.0' in metrics

    path = f"/api/cant-get-it-done/{body['case_id']}/resolution"
    vague = await api.post(path, json={"resolution": "cannot_be_done", "explanation": " ",
                                       "actor": "task-force-2"})
    assert problem_field(vague) == "explanation"
    answered = await api.post(path, json={
        "resolution": "cannot_be_done", "actor": "task-force-2",
        "explanation": "no social insurance record, so no retirement; told by phone 13912345678"})
    assert answered.status_code == 200, answered.text
    assert "13912345678" not in answered.text and "[手机号]" in answered.json()["explanation"]
    twice = await api.post(path, json={"resolution": "resolved", "explanation": "x",
                                       "actor": "task-force-2"})
    assert twice.status_code == 409
    nobody = await api.post("/api/cant-get-it-done/20260302-NOTTHERE/resolution",
                            json={"resolution": "resolved", "explanation": "x", "actor": "a"})
    assert nobody.status_code == 404
    assert (await api.get("/api/cant-get-it-done?open_only=true")).json() == {"cases": []}
    assert len((await api.get("/api/cant-get-it-done")).json()["cases"]) == 1
    metrics = (await api.get("/metrics")).text
    assert 'onething_cant_get_it_done_open{cause="system"} 0.0' in metrics


async def test_the_event_log_as_ocel(
    api: httpx.AsyncClient, store: SqliteFrictionStore, tmp_path: Path
) -> None:
    pm4py = pytest.importorskip("pm4py")
    store.upsert_case(record("C1", "liangxi-chongan", 20))
    store.ingest([ManualReentry(event_id="C1/1", occurred_at=T0 + timedelta(minutes=5),
                                case_id="C1", bundle=BUNDLE, step=FORM, field="phone",
                                known_from=Provenance(kind="agency", source="public-security"))])
    response = await api.get("/api/friction/ocel", params={"since": "2026-03-02"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/json")
    path = tmp_path / "log.jsonocel"
    path.write_bytes(response.content)
    ocel = pm4py.read_ocel2_json(str(path))
    assert list(ocel.events["ocel:activity"]) == [
        "case_opened", "step_started", "manual_reentry", "step_finished", "case_closed"]
    empty = (await api.get("/api/friction/ocel", params={"until": "2026-03-01"})).json()
    assert empty["objects"] == [] and empty["events"] == []
    assert problem_field(await api.get("/api/friction/ocel", params={"since": "soon"})) == "since"
    schema = (await api.get("/schema/openapi.json")).json()["paths"]
    assert {"/api/friction/backlog", "/api/reports", "/api/cant-get-it-done",
            "/api/friction/ocel"} <= set(schema)
