"""The can't-get-it-done register takes a case that exists, and a walk-in as a walk-in.

A made-up case number (NOPE-123) is refused with a 422 naming `case_id`, and nothing is
registered; a case Temporal holds, or one the notebook knows, is taken; a case of
another bundle is refused by `bundle`. A walk-in with no case yet is registered under a
WALKIN- number the register makes, once per request, and counted apart.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from conftest import bundle_start, running_worker, served_gateway
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.dashboard import DashboardFilter
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.cases.service import new_case_id
from kernel.events import CaseRecord
from workflows.bundle import BundleWorkflow
from workflows.case import SA_BUNDLE
from workflows.definition import Catalogue
from workflows.register_case import register_workflow_id

BASE = "/api/cant-get-it-done"
BUNDLE = "employment-hardship"
PASSWORD = "register-walk-ins-2026"
CENTRE = "liangxi-chongan"
BODY = {"bundle": BUNDLE, "centre": CENTRE, "department": "social-insurance",
        "cause": "system"}


def field_of(response: httpx.Response, status: int = 422) -> str | None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    field: str | None = response.json().get("field")
    return field


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def test_the_api_refuses_a_case_that_does_not_exist_and_registers_walk_ins(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    population: list[Citizen],
) -> None:
    # A case running in Temporal (no worker serves this queue: it only has to exist).
    running = bundle_start(Catalogue.load().default(BUNDLE), population[0],
                           new_case_id(datetime.now(UTC), None))
    handle = await dev_env.client.start_workflow(
        BundleWorkflow.run, running, id=running.case_id, task_queue=f"{task_queue}-idle",
        search_attributes=TypedSearchAttributes([SearchAttributePair(
            SearchAttributeKey.for_keyword(SA_BUNDLE), BUNDLE)]))
    # A case the notebook knows, closed long ago (Temporal may have let it go).
    old = f"20250302-{uuid.uuid4().hex[:8].upper()}"
    opened = datetime(2025, 3, 2, 1, 0, tzinfo=UTC)
    store.upsert_case(CaseRecord(case_id=old, bundle=BUNDLE, bundle_version=1, centre=CENTRE,
                                 channel="window", status="failed", opened_at=opened,
                                 closed_at=opened + timedelta(hours=1)))
    try:
        async with (
            running_worker(dev_env.client, {}, store, task_queue),
            served_gateway(dev_env.client, store, task_queue) as api,
        ):
            for case_id in ("NOPE-123", "20260302-NOTTHERE", register_workflow_id(old)):
                refused = await api.post(BASE, json={**BODY, "case_id": case_id})
                assert field_of(refused) == "case_id", case_id
                assert "no case" in refused.json()["detail"]
            assert field_of(await api.post(BASE, json=BODY)) == "case_id"  # neither
            assert store.cant_get_it_done_cases() == []
            with pytest.raises(RPCError):
                await dev_env.client.get_workflow_handle(
                    register_workflow_id("NOPE-123")).describe()

            other = await api.post(BASE, json={**BODY, "case_id": running.case_id,
                                               "bundle": "elderly-allowance"})
            assert field_of(other) == "bundle"
            for case_id in (running.case_id, old):
                taken = await api.post(BASE, json={**BODY, "case_id": case_id})
                assert taken.status_code == 201, taken.text
                assert taken.json()["walk_in"] is False

            # A walk-in: no case number, a WALKIN- one made, the same one on a retry.
            both = await api.post(BASE, json={**BODY, "case_id": old, "walk_in": True})
            assert field_of(both) == "case_id"
            key = {"Idempotency-Key": "walk-in-1"}
            walk_in = await api.post(BASE, json={**BODY, "walk_in": True}, headers=key)
            assert walk_in.status_code == 201, walk_in.text
            number = walk_in.json()["case_id"]
            assert re.fullmatch(r"WALKIN-\d{8}-[2-9A-Z]{8}", number)
            assert walk_in.json()["walk_in"] is True
            again = await api.post(BASE, json={**BODY, "walk_in": True}, headers=key)
            assert (again.status_code, again.json()) == (200, walk_in.json())
            another = await api.post(BASE, json={**BODY, "walk_in": True})
            assert another.status_code == 201 and another.json()["case_id"] != number
            # A walk-in's own number names a registered case: a repeat returns it.
            repeat = await api.post(BASE, json={**BODY, "case_id": number})
            assert (repeat.status_code, repeat.json()) == (200, walk_in.json())

            listed = (await api.get(BASE)).json()["cases"]
            assert sorted(e["record"]["walk_in"] for e in listed) == [False, False, True, True]
    finally:
        await handle.terminate()
    (counts,) = store.register_counts(DashboardFilter())
    assert (counts.cause, counts.open, counts.walk_ins) == ("system", 4, 2)


async def test_the_console_form_refuses_a_made_up_number_and_registers_a_walk_in(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str, tmp_path: Path,
) -> None:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=(CENTRE,))
    form = {"bundle": BUNDLE, "step": "", "department": "hrss", "cause": "policy"}
    async with (
        running_worker(dev_env.client, {}, store, task_queue),
        served_gateway(dev_env.client, store, task_queue, accounts=book, headers={}) as client,
    ):
        login = await client.get("/login")
        logged = await client.post("/login", data={
            "username": "clerk", "password": PASSWORD, "_csrf_token": csrf_of(login)})
        assert logged.status_code == 303, logged.text
        shown = await client.get("/console/register")
        assert 'id="walk_in"' in shown.text
        key = re.search(r'name="request_key" value="([^"]+)"', shown.text)
        assert key
        token = csrf_of(shown)

        made_up = await client.post("/console/register", data={
            **form, "case_id": "NOPE-123", "_csrf_token": token})
        assert made_up.status_code == 422, made_up.text
        assert 'id="err-case_id"' in made_up.text and "没有这个办件编号" in unescape(made_up.text)
        assert store.cant_get_it_done_cases() == []

        sent = {**form, "case_id": "", "walk_in": "1", "request_key": key.group(1),
                "_csrf_token": token}
        registered = await client.post("/console/register", data=sent)
        assert registered.status_code == 303, registered.text
        number = registered.headers["location"].rsplit("/", 1)[1]
        assert number.startswith("WALKIN-")
        twice = await client.post("/console/register", data=sent)  # a double submit
        assert twice.headers["location"] == registered.headers["location"]
        (record,) = store.cant_get_it_done_cases()
        assert record.case_id == number and record.walk_in and record.centre == CENTRE

        listed = unescape((await client.get("/console/register")).text)
        row = re.search(rf'<tr id="row-{number}">(.*?)</tr>', listed, re.S)
        assert row and "无办件来访" in row.group(1)
