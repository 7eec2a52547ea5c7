"""A case that ends in failure is shown as failed everywhere, with its cause (issue 12):
the API's progress, the worklist, the clerk's desk and case page, the citizen's tracking
page and the notebook's row. No view says open once the workflow has ended.

Two ends on the real dev server: the medical insurance bureau refusing the request
itself (the case fails in its own code and records itself), and an operator terminating
a case that waits on the clerk (its code never runs again: the gateway reads the end
from Temporal and its sweep closes the notebook row).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from conftest import (
    TEST_SECRET,
    ServedApp,
    bearer,
    citizen_where,
    served_gateway,
    track,
    wait_for,
)
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.cases.ended import close_ended_cases
from gateway.console.notice import tracking_code
from kernel.events import CaseRecord

CENTRE = "liangxi-chongan"
PASSWORD = "failed-cases-2026"
ZH = {"Accept-Language": "zh"}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    """Poll `check` until it returns something truthy: Temporal's visibility (the
    worklist, the sweep's list) catches up with a closed run within a moment."""
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.2)
    return found


def notebook_row(store: SqliteFrictionStore, case_id: str) -> CaseRecord:
    return next(c for c in store.iter_cases() if c.case_id == case_id)


async def open_case(api: httpx.AsyncClient, bundle: str, citizen: Citizen) -> str:
    opened = await api.post("/api/cases", headers=bearer("clerk"), json={
        "bundle": bundle, "citizen_id_number": citizen.id_number, "centre": CENTRE})
    assert opened.status_code == 201, opened.text
    case_id: str = opened.json()["case_id"]
    return case_id


async def test_a_failed_case_is_failed_with_its_cause_in_every_view(
    dev_env: WorkflowEnvironment, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str, tmp_path: Path,
) -> None:
    # The bureau answers 404 to every submission: a refusal no retry can fix.
    urls = {**agency_urls, "medical-insurance": f"{fresh_agencies.url}/no-such-agency"}
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=(CENTRE,))
    citizen = citizen_where(population, ecerts=True)
    async with served_gateway(dev_env.client, store, task_queue, agency_urls=urls,
                              accounts=book, headers={}) as client:
        refused = await open_case(client, "medical-insurance-enrollment", citizen)
        refused_run = await dev_env.client.get_workflow_handle(refused).result()
        stopped = await open_case(client, "employment-hardship", citizen)
        handle = dev_env.client.get_workflow_handle(stopped)
        await wait_for(handle, lambda p: p.awaiting == "clerk")
        await handle.terminate(reason="operator stopped a stuck case")

        # The API: failed, the cause, nothing awaited; a terminated run's current step
        # is failed too.
        api = {case_id: (await client.get(f"/api/cases/{case_id}", headers=bearer("clerk")))
               for case_id in (refused, stopped)}
        assert all(r.status_code == 200 for r in api.values()), api
        shown = {case_id: r.json() for case_id, r in api.items()}
        assert shown[refused]["status"] == "failed" and shown[refused]["awaiting"] == "nobody"
        assert shown[refused]["failure"]["cause"] == "agency_refused"
        assert shown[refused]["failure"]["agency"] == "medical-insurance"
        assert refused_run["status"] == "failed"
        assert shown[stopped]["status"] == "failed" and shown[stopped]["awaiting"] == "nobody"
        assert shown[stopped]["failure"]["cause"] == "terminated"
        first = shown[stopped]["failure"]["step"]
        assert first == "unemployment-registration"
        assert [s["status"] for s in shown[stopped]["steps"] if s["id"] == first] == ["failed"]
        trip = await client.post(f"/api/cases/{stopped}/trips", headers=bearer("clerk"),
                                 json={"reasons": ["asked"]})
        assert trip.status_code in (404, 409), trip.text

        # The worklist keeps both, as failed and why, after the cases still open.
        async def both_listed() -> dict[str, dict[str, Any]] | None:
            listed = (await client.get("/api/worklist", headers=bearer("clerk"),
                                       params={"centre": CENTRE, "limit": 500})).json()
            found = {c["case_id"]: c for c in listed["cases"]
                     if c["case_id"] in (refused, stopped)}
            return found if len(found) == 2 else None

        listed = await eventually(both_listed)
        assert (listed[refused]["status"], listed[refused]["cause"]) == (
            "failed", "agency_refused")
        assert (listed[stopped]["status"], listed[stopped]["cause"]) == (
            "failed", "terminated")
        only_failed = (await client.get("/api/worklist", headers=bearer("clerk"), params={
            "centre": CENTRE, "awaiting": "failed", "limit": 500})).json()["cases"]
        assert {refused, stopped} <= {c["case_id"] for c in only_failed}
        assert all(c["status"] == "failed" for c in only_failed)

        # The citizen's tracking page.
        for case_id, why in ((refused, "部门系统拒绝了办理请求"), (stopped, "已被运维人员终止")):
            page = unescape((await track(client, case_id, tracking_code(TEST_SECRET, case_id),
                                         headers=ZH)).text)
            status = re.search(r'<span id="case-status">(.*?)</span>', page, re.S)
            assert status and status.group(1) == "未能办成", status
            assert 'id="failure-cause"' in page and why in page
            assert "尚需您提供" not in page and citizen.name not in page

        # The clerk's desk and case page.
        form = await client.get("/login")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        assert csrf
        logged = await client.post("/login", data={
            "username": "clerk", "password": PASSWORD, "_csrf_token": csrf.group(1)})
        assert logged.status_code == 303, logged.text
        desk = unescape((await client.get("/console/desk", headers=ZH)).text)
        failed_list = re.search(r'<ul id="failed-cases">(.*?)</ul>', desk, re.S)
        assert failed_list and refused in failed_list.group(1) and stopped in failed_list.group(1)
        assert "未能办成，请联系群众" in desk
        page = unescape((await client.get(f"/console/desk/cases/{stopped}", headers=ZH)).text)
        assert re.search(r'id="case-status">未能办成<', page)
        assert 'id="failure-cause"' in page and "已被运维人员终止" in page

        # The notebook: the refused case recorded itself; the terminated one is closed by
        # the sweep (once, however often it runs).
        row = notebook_row(store, refused)
        assert row.status == "failed" and row.closed_at is not None
        assert [s.status for s in row.steps] == ["failed"]
        since = datetime.now(UTC) - timedelta(hours=1)

        async def swept() -> bool:
            await close_ended_cases(dev_env.client, store, since)
            return notebook_row(store, stopped).status == "failed"

        await eventually(swept)
        assert await close_ended_cases(dev_env.client, store, since) == 0
        assert notebook_row(store, stopped).closed_at is not None
