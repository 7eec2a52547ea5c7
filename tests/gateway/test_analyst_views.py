"""An analyst's and a developer's views hold no personal values: after real cases ran
through the gateway and the worker (friction, a return visit, a clerk's note with an ID
number in its text), neither can read a case's dossier, and every answer of the backlog,
the stuck points, the reports, the event log, the register, the dashboard and the
backlog pages is free of the citizens' ID numbers, names, phones and addresses."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import ServedApp, bearer, known_values, served_gateway

from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook

PASSWORD = "no-personal-2026"
BUNDLE = "employment-hardship"
CASES = 6  # over the reports' smallest group, so their numbers show
CLERK = bearer("clerk")


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("analyst", PASSWORD, ("analyst",))
    book.add("developer", PASSWORD, ("developer",))
    return book


@pytest.fixture
async def gateway(
    dev_env: Any, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, task_queue: str, accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, agency_urls,
                              accounts=accounts, headers=CLERK) as client:
        yield client


async def served(gateway: httpx.AsyncClient, citizens: list[Citizen]) -> list[str]:
    async def one(citizen: Citizen) -> str:
        opened = await gateway.post("/api/cases", json={
            "bundle": BUNDLE, "citizen_id_number": citizen.id_number,
            "centre": "liangxi-chongan", "bundle_version": 1})
        assert opened.status_code == 201, opened.text
        case_id: str = opened.json()["case_id"]
        trip = await gateway.post(f"/api/cases/{case_id}/trips", json={"reasons": []})
        assert trip.status_code == 200, trip.text
        note = await gateway.post(f"/api/cases/{case_id}/notes", json={
            "category": "form", "text": f"申请人 {citizen.id_number} 电话 {citizen.phone} "
            "说保险表又要重填"})
        assert note.status_code == 201, note.text
        final = await serve_case(HttpDesk(gateway, case_id), known_values(citizen),
                                 ClerkHabits(), timeout=90)
        assert final.status == "completed", final
        return case_id

    return list(await asyncio.gather(*(one(c) for c in citizens)))


async def logged_in(gateway: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=gateway.base_url, timeout=60)
    form = await client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert token
    done = await client.post("/login", data={
        "username": username, "password": PASSWORD, "_csrf_token": token.group(1)})
    assert done.status_code == 303, done.text
    return client


async def test_analysts_and_developers_see_no_personal_value(
    gateway: httpx.AsyncClient, population: list[Citizen]
) -> None:
    citizens = [c for c in population
                if "resident_id_card" in c.certificates and c.bank_account is not None][:CASES]
    case_ids = await served(gateway, citizens)
    personal = {v for c in citizens for v in (c.id_number, c.name, c.phone, c.address)}
    # The values are there to find: a clerk's progress holds them.
    dossier = await gateway.get(f"/api/cases/{case_ids[0]}")
    assert citizens[0].id_number in dossier.text

    answers: list[tuple[str, str]] = []
    for role in ("analyst", "developer"):
        issued = await gateway.post("/api/auth/token",
                                    json={"username": role, "password": PASSWORD})
        api = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        for case_id in case_ids:
            refused = await gateway.get(f"/api/cases/{case_id}", headers=api)
            assert refused.status_code == 403, refused.text
            assert citizens[0].name not in refused.text
        backlog = await gateway.get("/api/friction/backlog", headers=api,
                                    params={"limit": 500})
        assert backlog.status_code == 200
        entries = backlog.json()["entries"]
        assert entries, "the cases made friction to rank"
        paths = ["/api/friction/backlog", "/api/friction/ocel", "/api/cant-get-it-done",
                 *(f"/api/reports?group_by={g}&min_group=5"
                   for g in ("bundle", "step", "centre")),
                 *(f"/api/friction/stuck-points/{quote(e['point']['fingerprint'], safe='')}"
                   for e in entries)]
        for path in paths:
            answer = await gateway.get(path, headers=api)
            if path == "/api/cant-get-it-done" and role == "developer":
                assert answer.status_code == 403  # the register is the clerks' and analysts'
                continue
            assert answer.status_code == 200, (role, path, answer.text)
            answers.append((f"{role} {path}", answer.text))
        console = await logged_in(gateway, role)
        try:
            pages = ["/console/dashboard", "/console/backlog",
                     *(f"/console/backlog/{quote(e['point']['fingerprint'], safe='')}"
                       for e in entries)]
            for path in pages:
                page = await console.get(path)
                if page.status_code == 403:  # the dashboard is the analysts'
                    assert role == "developer" and path == "/console/dashboard"
                    continue
                assert page.status_code == 200, (role, path, page.text[:300])
                answers.append((f"{role} {path}", page.text))
            for case_id in case_ids[:2]:
                desk = await console.get(f"/console/desk/cases/{case_id}")
                assert desk.status_code == 403
                answers.append((f"{role} desk {case_id}", desk.text))
        finally:
            await console.aclose()
    leaks = [(where, value) for where, text in answers for value in personal if value in text]
    assert leaks == [], leaks
    assert len(answers) > 20
