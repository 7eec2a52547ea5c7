"""The can't-get-it-done register over HTTP, each case a workflow: register (idempotent),
assign the task force, read the case, answer it; bad input named by field; a case the
register held before cases ran as workflows is adopted on its first update."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from conftest import bearer, running_worker, served_gateway
from temporalio.testing import WorkflowEnvironment

from friction import notebook
from friction.sqlite_store import SqliteFrictionStore
from kernel.china_time import local_date
from kernel.events import CaseRecord
from workflows.calendar_source import load_calendar
from workflows.register_case import register_workflow_id

PROBLEM = "application/problem+json"
BASE = "/api/cant-get-it-done"


def problem_field(response: httpx.Response, status: int = 422) -> str | None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    field: str | None = response.json().get("field")
    return field


def new_case() -> str:
    return f"20260302-{uuid.uuid4().hex[:8].upper()}"


def known_case(store: SqliteFrictionStore, bundle: str = "employment-hardship") -> str:
    """A case the notebook knows (it failed at a window): the register takes only cases
    that exist."""
    case_id = new_case()
    opened = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    store.upsert_case(CaseRecord(
        case_id=case_id, bundle=bundle, bundle_version=1, centre="liangxi-chongan",
        channel="window", status="failed", opened_at=opened,
        closed_at=opened + timedelta(hours=1)))
    return case_id


async def test_a_registered_case_runs_as_a_workflow_from_registration_to_its_answer(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    calendar = load_calendar()
    case_id = known_case(store)
    body = {"case_id": case_id, "bundle": "employment-hardship", "centre": "liangxi-chongan",
            "step": "flexible-insurance-enrollment", "department": "social-insurance",
            "cause": "system"}
    async with (
        running_worker(dev_env.client, {}, store, task_queue),
        served_gateway(dev_env.client, store, task_queue) as api,
    ):
        created = await api.post(BASE, json=body)
        assert created.status_code == 201, created.text
        record = created.json()
        # Counted from the moment the register's workflow took it (the dev server's clock).
        registered_on = local_date(datetime.fromisoformat(record["registered_at"]))
        assert record["deadline"] == calendar.add_working_days(registered_on, 5).isoformat()
        again = await api.post(BASE, json={**body, "cause": "policy"})
        assert (again.status_code, again.json()) == (200, record)
        described = await dev_env.client.get_workflow_handle(
            register_workflow_id(case_id)).describe()
        assert described.workflow_type == "CantGetItDoneWorkflow"

        shown = (await api.get(f"{BASE}/{case_id}")).json()
        assert (shown["status"], shown["record"], shown["escalated"]) == (
            "registered", record, False)
        assert shown["deadline"] == record["deadline"] and shown["origin"] == "clerk"

        path = f"{BASE}/{case_id}/task-force"
        assert problem_field(await api.post(path, json={"lead": "tf-1", "departments": []})) \
            == "departments"
        assert problem_field(await api.post(path, json={"lead": "a/b", "departments": ["x"]})) \
            == "lead"
        assigned = await api.post(path, json={"lead": "tf-1",
                                              "departments": ["social-insurance", "hrss"]})
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["status"] == "task_force_assigned"
        assert assigned.json()["task_force"]["departments"] == ["social-insurance", "hrss"]

        answer = f"{BASE}/{case_id}/resolution"
        vague = await api.post(answer, json={"resolution": "cannot_be_done",
                                             "explanation": " ", "actor": "tf-1"})
        assert problem_field(vague) == "explanation"
        answered = await api.post(answer, json={
            "resolution": "cannot_be_done", "actor": "tf-1",
            "explanation": "no insurance record, so no pension; told by phone 13912345678"})
        assert answered.status_code == 200, answered.text
        assert "13912345678" not in answered.text
        assert answered.json()["resolution"] == "cannot_be_done"
        assert "[手机号]" in answered.json()["explanation"]
        # Masked before the workflow's history, not only in the register.
        history = await dev_env.client.get_workflow_handle(
            register_workflow_id(case_id)).fetch_history()
        assert not any(b"13912345678" in e.SerializeToString() for e in history.events)
        twice = await api.post(answer, json={"resolution": "resolved", "explanation": "x",
                                             "actor": "tf-1"})
        assert twice.status_code == 409, twice.text
        late = await api.post(path, json={"lead": "tf-2", "departments": ["hrss"]})
        assert late.status_code == 409, late.text

        final = (await api.get(f"{BASE}/{case_id}")).json()
        # Who answered is the caller's account, whatever `actor` the body named.
        assert final["status"] == "cannot_be_done" and final["resolved_by"] == "service:tests"
        assert final["explanation"] == answered.json()["explanation"]
        assert final["task_force"]["lead"] == "tf-1"
        listed = (await api.get(BASE)).json()["cases"]
        assert [e["record"] for e in listed] == [answered.json()]
        # Registering an answered case again returns its row as it stands.
        closed = await api.post(BASE, json=body)
        assert (closed.status_code, closed.json()) == (200, answered.json())

        # Refused before anything starts: an applicant's own failure is no such case.
        other = known_case(store)
        applicant = await api.post(BASE, json={**body, "case_id": other, "cause": "applicant"})
        assert problem_field(applicant) == "cause"
        assert "applicant's own failure" in applicant.json()["detail"]
        assert problem_field(await api.get(f"{BASE}/{other}"), 404) is None
        nobody = await api.post(f"{BASE}/{other}/task-force",
                                json={"lead": "tf-1", "departments": ["hrss"]})
        assert nobody.status_code == 404
        # Reading a case is for clerks and analysts; registering it is for clerks.
        analyst = {"headers": bearer("analyst")}
        assert (await api.get(f"{BASE}/{case_id}", **analyst)).status_code == 200
        assert (await api.post(BASE, json=body, **analyst)).status_code == 403


async def test_a_case_registered_before_cases_ran_as_workflows_is_adopted(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    calendar = load_calendar()
    case_id = new_case()
    earlier, _ = notebook.register_cant_get_it_done(
        store, case_id=case_id, bundle="employment-hardship", step=None,
        centre="binhu-hehu", department="civil-affairs", cause="consultation",
        calendar=calendar, now=datetime.now(UTC) - timedelta(hours=2),
    )
    async with (
        running_worker(dev_env.client, {}, store, task_queue),
        served_gateway(dev_env.client, store, task_queue) as api,
    ):
        assert (await api.get(f"{BASE}/{case_id}")).status_code == 404  # no workflow yet
        assigned = await api.post(f"{BASE}/{case_id}/task-force",
                                  json={"lead": "tf-3", "departments": ["civil-affairs"]})
        assert assigned.status_code == 200, assigned.text
        shown = assigned.json()
        assert shown["adopted"] is True and shown["status"] == "task_force_assigned"
        assert shown["registered_at"] == earlier.registered_at.isoformat().replace(
            "+00:00", "Z")
        assert shown["deadline"] == earlier.deadline.isoformat()
        answered = await api.post(f"{BASE}/{case_id}/resolution", json={
            "resolution": "resolved", "explanation": "routed to the civil affairs window",
            "actor": "tf-3"})
        assert answered.status_code == 200, answered.text
    (entry,) = notebook.cant_get_it_done_cases(store, calendar, datetime.now(UTC))
    assert entry.record.resolution == "resolved"
    assert entry.record.registered_at == earlier.registered_at
