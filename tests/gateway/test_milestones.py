"""Field workers record a task step's milestones: over the API (POST
/api/cases/{case}/milestones, clerk accounts for now) and in the console's case page,
whose form posts to /console/desk/cases/{case}/milestones with CSRF. Who did it is the
logged-in account; a service account says whom it acts for; a body's `actor` is ignored.
The case page and the citizen's tracking page list the progress messages sent to the
citizen."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from conftest import (
    TEST_SECRET,
    ServedApp,
    bearer,
    citizen_where,
    known_values,
    served_gateway,
    track,
)
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case, wait_for
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.console.notice import tracking_code
from gateway.i18n import date_words, local_deadline
from kernel.china_time import end_of_day
from workflows.case import CaseProgress, FieldEntry

PASSWORD = "field-worker-2026"
CENTRE = "liangxi-chongan"
WORKER = "网格员周"
PROBLEM = "application/problem+json"
CLERK = bearer("clerk")
SERVICE = "service:tests"  # the subject of the tests' bearer tokens


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("zhou", PASSWORD, ("clerk",), display_name=WORKER, centres=(CENTRE,))
    book.add("analyst", PASSWORD, ("analyst",))
    return book


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
    accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, agency_urls,
                              accounts=accounts, headers={}) as client:
        yield client


@pytest.fixture
async def api(gateway: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a clerk's token on every call, beside the console's session."""
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=CLERK, timeout=60) as c:
        yield c


async def urgent_repair_waiting_on_worker(
    api: httpx.AsyncClient, citizen: Citizen
) -> tuple[str, HttpDesk, CaseProgress]:
    opened = await api.post("/api/cases", json={
        "bundle": "public-repair", "citizen_id_number": citizen.id_number, "centre": CENTRE,
        "channel": "qr"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    desk = HttpDesk(api, case_id)
    await wait_for(desk, lambda p: p.awaiting == "clerk")
    await desk.submit_fields(FieldEntry(step="repair-report", values={
        "location": "3栋2单元楼梯间", "problem": "水管爆裂", "urgency": "紧急"}))
    waiting = await wait_for(desk, lambda p: p.awaiting == "worker")
    assert waiting.current_step == "urgent-repair"
    return case_id, desk, waiting


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the form carries no CSRF token"
    return found.group(1)


async def test_the_api_records_milestones_and_refuses_what_the_case_cannot_take(
    gateway: httpx.AsyncClient, api: httpx.AsyncClient, population: list[Citizen]
) -> None:
    case_id, desk, _ = await urgent_repair_waiting_on_worker(
        api, citizen_where(population, ecerts=True))
    path = f"/api/cases/{case_id}/milestones"
    # Field workers use clerk accounts; other roles may not record for them.
    for headers, status in (({}, 401), (bearer("analyst"), 403)):
        refused = await gateway.post(path, headers=headers, json={
            "step": "urgent-repair", "milestone": "contacted", "actor": WORKER})
        assert refused.status_code == status
    for body, status, field in (
        ({"step": "urgent-repair", "milestone": "on_site"}, 422, "evidence_ref"),
        ({"step": "urgent-repair", "milestone": "fixed"}, 422, "milestone"),
        ({"step": "urgent-repair", "milestone": "contacted", "on_behalf_of": "周" * 30}, 422,
         "on_behalf_of"),
        ({"step": "general-repair", "milestone": "repaired",
          "evidence_ref": "photo://x.jpg"}, 409, "step"),
    ):
        answer = await gateway.post(path, headers=CLERK, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.json()["field"] == field
    # The worklist of cases with field workers finds it.
    for _ in range(100):
        listed = (await gateway.get("/api/worklist", headers=CLERK,
                                    params={"centre": CENTRE, "awaiting": "worker"})).json()
        if case_id in [c["case_id"] for c in listed["cases"]]:
            break
        await asyncio.sleep(0.1)
    assert case_id in [c["case_id"] for c in listed["cases"]]

    # A person's account speaks for nobody else.
    issued = await gateway.post("/api/auth/token", json={"username": "zhou",
                                                          "password": PASSWORD})
    zhou = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    speaking = await gateway.post(path, headers=zhou, json={
        "step": "urgent-repair", "milestone": "contacted", "on_behalf_of": "别人"})
    assert speaking.status_code == 422 and speaking.json()["field"] == "on_behalf_of"
    # The service account says whom it acts for; the body's actor is not believed.
    done = await gateway.post(path, headers=CLERK, json={
        "step": "urgent-repair", "milestone": "contacted", "actor": "冒名者",
        "on_behalf_of": WORKER})
    assert done.status_code == 200, done.text
    step = next(s for s in done.json()["steps"] if s["id"] == "urgent-repair")
    contacted = next(m for m in step["milestones"] if m["id"] == "contacted")
    assert contacted["actor"] == f"{WORKER} via {SERVICE}" and contacted["done_at"]
    again = await gateway.post(path, headers=CLERK, json={
        "step": "urgent-repair", "milestone": "contacted"})
    assert again.status_code == 422 and again.json()["field"] == "milestone"
    photo = f"photo://{case_id}/on_site.jpg"
    last = await gateway.post(path, headers=zhou, json={
        "step": "urgent-repair", "milestone": "on_site", "actor": "维修工李",
        "evidence_ref": photo})
    assert last.status_code == 200, last.text
    final = await wait_for(desk, lambda p: p.status != "open")
    assert final.status == "completed"
    on_site = next(m for s in final.steps for m in s.milestones if m.id == "on_site")
    assert (on_site.actor, on_site.evidence_ref) == ("zhou", photo)


async def test_one_simulated_clerk_serves_a_mediation_through_the_gateway(
    api: httpx.AsyncClient, population: list[Citizen]
) -> None:
    citizen = citizen_where(population, ecerts=False)
    opened = await api.post("/api/cases", json={
        "bundle": "property-mediation", "citizen_id_number": citizen.id_number,
        "centre": CENTRE, "channel": "online"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    final = await serve_case(HttpDesk(api, case_id),
                             known_values(citizen) | {"mediation.complexity": "复杂"},
                             ClerkHabits(worker="调解员"))
    assert final.status == "completed"
    meeting = next(s for s in final.steps if s.id == "three-party-meeting")
    assert meeting.status == "approved"
    assert {m.id: (m.actor, m.evidence_ref) for m in meeting.milestones} == {
        "meeting_held": (f"调解员 via {SERVICE}", f"minutes://{case_id}/meeting_held"),
        "result_told": (f"调解员 via {SERVICE}", None),
    }


async def test_the_console_shows_milestones_and_records_them_with_csrf(
    gateway: httpx.AsyncClient, api: httpx.AsyncClient, population: list[Citizen]
) -> None:
    citizen = citizen_where(population, ecerts=True)
    case_id, desk, _ = await urgent_repair_waiting_on_worker(api, citizen)
    form = await gateway.get("/login")
    logged = await gateway.post("/login", data={
        "username": "zhou", "password": PASSWORD, "_csrf_token": csrf_of(form)})
    assert logged.status_code == 303

    # The desk lists the case among those with field workers.
    for _ in range(100):
        desk_page = await gateway.get("/console/desk")
        if case_id in desk_page.text:
            break
        await asyncio.sleep(0.1)
    assert 'id="with-worker"' in desk_page.text and case_id in desk_page.text

    page = await gateway.get(f"/console/desk/cases/{case_id}")
    assert page.status_code == 200
    html = page.text
    # Each milestone with its due time, and a form per pending one: the actor is the
    # logged-in account, not a typed name; the photo milestone asks for its reference.
    assert 'id="milestone-urgent-repair-contacted"' in html
    assert 'id="milestone-urgent-repair-on_site"' in html
    assert "联系维保单位" in html and "到场维修" in html and "需现场照片" in html
    assert html.count('action="/console/desk/cases/' + case_id + '/milestones"') == 2
    assert re.search(r'id="actor-contacted"[^<]*zhou', html)
    assert 'name="actor"' not in html
    assert 'id="evidence-on_site"' in html and 'id="evidence-contacted"' not in html
    # The messages the citizen was sent.
    assert 'id="notifications"' in html and "“紧急维修”已开始办理" in html

    url = f"/console/desk/cases/{case_id}/milestones"
    forged = await gateway.post(url, data={"step": "urgent-repair", "milestone": "contacted",
                                           "actor": WORKER})
    assert forged.status_code == 403
    token = csrf_of(page)
    # No photo reference: the page comes back with the refusal beside the input.
    refused = await gateway.post(url, data={
        "_csrf_token": token, "step": "urgent-repair", "milestone": "on_site",
        "evidence_ref": " "})
    assert refused.status_code == 422
    assert 'id="err-evidence-on_site"' in refused.text

    # A typed actor is not believed: the logged-in account is recorded.
    recorded = await gateway.post(url, data={
        "_csrf_token": token, "step": "urgent-repair", "milestone": "contacted",
        "actor": "冒名者"})
    assert recorded.status_code == 303
    after = await gateway.get(f"/console/desk/cases/{case_id}")
    assert "节点已记录" in after.text
    assert 'id="milestone-form-contacted"' not in after.text
    progress = await desk.progress()
    contacted = next(m for s in progress.steps for m in s.milestones if m.id == "contacted")
    assert contacted.actor == "zhou" and contacted.done_at is not None

    photo = f"photo://{case_id}/on_site.jpg"
    recorded = await gateway.post(url, data={
        "_csrf_token": token, "step": "urgent-repair", "milestone": "on_site",
        "actor": "维修工李", "evidence_ref": photo})
    assert recorded.status_code == 303
    final = await wait_for(desk, lambda p: p.status != "open")
    assert final.status == "completed"
    closed = await gateway.get(f"/console/desk/cases/{case_id}")
    assert photo in closed.text and "维修工李" not in closed.text
    assert "已全部办结" in closed.text

    # The citizen's tracking page lists the same messages, and nothing personal: not the
    # citizen's values, nor the names of the staff who did the work.
    gateway.cookies.clear()
    tracked = await track(gateway, case_id, tracking_code(TEST_SECRET, case_id))
    assert tracked.status_code == 200
    assert 'id="notifications"' in tracked.text
    assert "“紧急维修”已办结" in tracked.text and "已全部办结" in tracked.text
    for personal in (citizen.name, citizen.id_number, citizen.address, citizen.phone,
                     WORKER, "zhou", photo):
        assert personal not in tracked.text


def test_a_deadline_reads_as_its_last_day_or_its_time() -> None:
    # A working-day SLA ends at local midnight: the page names the last day, not 00:00 of
    # the next. One on the clock shows its time, in China's time zone.
    zh = {"lang": "zh"}
    assert local_deadline(zh, end_of_day(date(2026, 11, 26))) == date_words(zh, date(2026, 11, 26))
    assert local_deadline(zh, datetime(2026, 11, 23, 13, 46, tzinfo=UTC)) == "2026/11/23 21:46"
    assert local_deadline(zh, None) == "—"
