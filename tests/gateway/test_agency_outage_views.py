"""What the clerk sees while an agency is down, before the case escalates (issue 12): the
API and the case page say the agency call is failing and being retried, the case stays
open with the agency, and it goes on by itself once the agency answers, submitted once.
On the real dev server, with the agency simulator answering 503."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from conftest import ServedApp, bearer, citizen_where, served_gateway, set_behaviour
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook

CENTRE = "liangxi-chongan"
PASSWORD = "agency-outage-2026"
BUREAU = "medical-insurance"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.2)
    return found


async def test_the_clerk_sees_an_agency_failing_and_the_case_go_on_when_it_answers(
    dev_env: WorkflowEnvironment, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, population: list[Citizen], task_queue: str, tmp_path: Path,
) -> None:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=(CENTRE,))
    citizen = citizen_where(population, ecerts=True)
    await set_behaviour(fresh_agencies, BUREAU, failure_rate=1.0)
    try:
        async with served_gateway(dev_env.client, store, task_queue, agency_urls=agency_urls,
                                  accounts=book, headers={}) as client:
            opened = await client.post("/api/cases", headers=bearer("clerk"), json={
                "bundle": "medical-insurance-enrollment",
                "citizen_id_number": citizen.id_number, "centre": CENTRE})
            assert opened.status_code == 201, opened.text
            case_id = opened.json()["case_id"]

            async def retrying() -> dict[str, Any] | None:
                shown = (await client.get(f"/api/cases/{case_id}",
                                          headers=bearer("clerk"))).json()
                wait = shown.get("agency_retrying")
                return shown if wait and wait["failed_attempts"] >= 2 else None

            shown = await eventually(retrying)
            assert (shown["status"], shown["awaiting"]) == ("open", "agency")
            assert shown["agency_retrying"]["agency"] == BUREAU
            assert shown["agency_retrying"]["last_failed_at"] is not None
            assert shown["outages"] == [] and shown["failure"] is None

            form = await client.get("/login")
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
            assert csrf
            logged = await client.post("/login", data={
                "username": "clerk", "password": PASSWORD, "_csrf_token": csrf.group(1)})
            assert logged.status_code == 303, logged.text
            page = unescape((await client.get(f"/console/desk/cases/{case_id}",
                                              headers={"Accept-Language": "zh"})).text)
            notice = re.search(r'<p class="flash" role="status" id="agency-retrying">(.*?)</p>',
                               page, re.S)
            # The agency by its name, not its id.
            assert notice and "医保" in notice.group(1) and "自动重试" in notice.group(1)
            assert BUREAU not in notice.group(1)
            assert citizen.name not in notice.group(1)

            await set_behaviour(fresh_agencies, BUREAU, failure_rate=0.0)
            final = await asyncio.wait_for(
                dev_env.client.get_workflow_handle(case_id).result(), 120)
            assert final["status"] == "completed"
            after = (await client.get(f"/api/cases/{case_id}", headers=bearer("clerk"))).json()
            assert after["status"] == "completed" and after["agency_retrying"] is None
    finally:
        await set_behaviour(fresh_agencies, BUREAU, failure_rate=0.0)
    async with httpx.AsyncClient() as http:
        rows = (await http.get(f"{fresh_agencies.url}/admin/submissions",
                               params={"case_id": case_id})).json()
    assert [r["registrations"] for r in rows if r["agency"] == BUREAU] == [1]
