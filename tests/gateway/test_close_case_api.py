"""Closing a case that cannot be completed today, through the gateway: the API's
not-eligible close and withdrawal (problem details naming the field, 409 once closed),
the worklist, the citizen's tracking page, and the clerk's case page with its forms.

The cases are started on the real dev server without the window's hours and with
records relative to the server's processing date, so nothing depends on the day or the
hour the test runs (they never reach a submission).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from conftest import TEST_SECRET, ServedApp, bundle_start, served_gateway, track, wait_for
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from deploy.local import free_port
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.population import Citizen, generate, work_and_lease
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.cases.service import new_case_id
from gateway.console.notice import tracking_code
from kernel.china_time import local_date
from workflows.bundle import BundleWorkflow
from workflows.case import CaseProgress
from workflows.definition import Catalogue
from workflows.material_rules import RULES, add_months, latest_month

PERMIT = msgspec.structs.replace(Catalogue.load().default("residence-permit"), window=None)
PROBLEM = "application/problem+json"
PASSWORD = "close-the-case-2026"


def applicant(day: date, n: int, contract_months: int) -> Citizen:
    base = generate(seed=911, size=n + 1, today=day)[n]
    person = msgspec.structs.replace(
        base, last_employer="无锡示例科技有限公司", last_contribution_month=latest_month(day),
        certificates=("resident_id_card", "household_register", "social_insurance_record"))
    return work_and_lease(
        person, contract_start=add_months(day, -contract_months).replace(day=1),
        contract_end=add_months(day, 24), employer_code="913202000000000042",
        latest_insured_not_credited=False, transferred_months=0,
        lease=(add_months(day, -1), add_months(day, 11)))


@pytest.fixture
async def sim() -> AsyncIterator[tuple[dict[str, str], list[Citizen]]]:
    day = local_date(datetime.now(UTC))  # the processing date the dev server's cases see
    people = [applicant(day, n, months) for n, months in enumerate((3, 30, 3))]
    async with ServedApp(create_agency_sim(people), free_port()) as served:
        yield {a: f"{served.url}/{a}" for a in AGENCIES}, people


async def start(dev_env: WorkflowEnvironment, citizen: Citizen,
                task_queue: str) -> WorkflowHandle[Any, Any]:
    case = bundle_start(PERMIT, citizen, new_case_id(datetime.now(UTC), None))
    handle = await dev_env.client.start_workflow(
        BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue)
    await wait_for(handle, lambda p: p.status != "open" or p.awaiting == "clerk")
    return handle


def field_of(response: httpx.Response, status: int) -> str | None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    field: str | None = response.json().get("field")
    return field


async def test_the_api_closes_a_case_as_not_eligible_and_records_a_withdrawal(
    dev_env: WorkflowEnvironment, sim: tuple[dict[str, str], list[Citizen]],
    store: SqliteFrictionStore, task_queue: str,
) -> None:
    urls, people = sim
    async with served_gateway(dev_env.client, store, task_queue, agency_urls=urls) as api:
        short = await start(dev_env, people[0], task_queue)
        eligible = await start(dev_env, people[1], task_queue)
        cases = f"/api/cases/{short.id}"

        # Bad input names its field; a case failing no rule is not "not eligible".
        assert field_of(await api.post(f"{cases}/not-eligible", json={}), 422) == "reason"
        long_reason = {"reason": "长" * 201}
        assert field_of(await api.post(f"{cases}/not-eligible", json=long_reason), 422) \
            == "reason"
        assert field_of(await api.post(f"/api/cases/{eligible.id}/not-eligible",
                                       json={"reason": "不符合"}), 409) == "step"
        # A wrong type is malformed (400), and still names its field.
        assert field_of(await api.post(f"{cases}/withdrawal", json={"reason": 5}), 400) \
            == "reason"

        closed = await api.post(f"{cases}/not-eligible", json={"reason": "合同未满一年"})
        assert closed.status_code == 200, closed.text
        progress = msgspec.json.decode(closed.content, type=CaseProgress)
        assert progress.closure is not None
        assert progress.closure.actor == "service:tests"  # the caller, not the body
        final: CaseProgress = await short.result()
        assert final.status == "not_eligible"

        # Closed: nothing more is taken, the worklist no longer lists it.
        again = await api.post(f"{cases}/withdrawal", json={})
        assert again.status_code == 409 and again.json()["title"] == "Case closed"
        withdrawn = await api.post(f"/api/cases/{eligible.id}/withdrawal", json={})
        assert withdrawn.status_code == 200, withdrawn.text
        assert (await eligible.result()).status == "withdrawn"
        listed = (await api.get("/api/worklist", params={"limit": 500})).json()["cases"]
        assert not {short.id, eligible.id} & {c["case_id"] for c in listed}
        assert (await api.get(cases)).json()["status"] == "not_eligible"

        # The citizen's tracking page names the outcome, the rules in their words.
        for case_id, words in ((short.id, "不符合办理条件："), (eligible.id, "已撤回")):
            code = tracking_code(TEST_SECRET, case_id)
            shown = await track(api, case_id, code, headers={"Accept-Language": "zh"})
            assert shown.status_code == 200, shown.text
            status = re.search(r'<span id="case-status">(.*?)</span>', unescape(shown.text), re.S)
            assert status and status.group(1).startswith(words), status
        code = tracking_code(TEST_SECRET, short.id)
        shown = unescape((await track(api, short.id, code)).text)
        assert RULES["contract_covers_12_months"].wording_zh.rstrip("。") in shown
        assert people[0].name not in shown


async def test_the_clerk_closes_a_case_from_its_page(
    dev_env: WorkflowEnvironment, sim: tuple[dict[str, str], list[Citizen]],
    store: SqliteFrictionStore, task_queue: str, tmp_path: Path,
) -> None:
    urls, people = sim
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    async with served_gateway(dev_env.client, store, task_queue, agency_urls=urls,
                              accounts=book, headers={}) as client:
        handle = await start(dev_env, people[2], task_queue)
        form = await client.get("/login")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        assert csrf
        logged = await client.post("/login", data={
            "username": "clerk", "password": PASSWORD, "_csrf_token": csrf.group(1)})
        assert logged.status_code == 303, logged.text
        page_path = f"/console/desk/cases/{handle.id}"
        shown = await client.get(page_path)
        assert 'id="not-eligible-form"' in shown.text and 'id="withdrawal-form"' in shown.text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', shown.text)
        assert token
        action = f"{page_path}/not-eligible"
        # Without its CSRF token the form is refused and nothing changes.
        assert (await client.post(action, data={"reason": "x"})).status_code == 403
        blank = await client.post(action, data={"reason": " ", "_csrf_token": token.group(1)})
        assert blank.status_code == 422 and 'id="err-not-eligible-reason"' in blank.text
        done = await client.post(action, data={"reason": "合同未满一年",
                                               "_csrf_token": token.group(1)})
        assert done.status_code == 303, done.text
        assert (await handle.result()).status == "not_eligible"
        closed = unescape((await client.get(page_path)).text)
        assert 'id="closure"' in closed and "合同未满一年" in closed
        assert 'id="not-eligible-form"' not in closed and 'id="withdrawal-form"' not in closed
        assert "不符合办理条件" in closed
