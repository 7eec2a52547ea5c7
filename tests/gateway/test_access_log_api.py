"""Every look at a resident's data is recorded: a clerk's console view of a case, its
notice and its opening land in the access log of the real store (SQLite and PostgreSQL),
which auditors read through the API and the console and nobody can edit through the
product; a read that cannot be recorded is not served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import TEST_SECRET, citizen_where, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from friction.store import AccessEntry
from friction.store.sql import SqlFrictionStore
from gateway.accounts import AccountBook
from gateway.app import create_app
from gateway.audit.retention import AccessLogRetention
from tests.friction.conftest import Backend, SqliteBackend, postgres_schema
from workflows.calendar_source import load_calendar
from workflows.definition import Catalogue

PASSWORD = "audit-the-desk-2026"
CENTRE = "liangxi-chongan"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield SqliteBackend(tmp_path / "friction.db")
    else:
        with postgres_schema() as pg:
            yield pg


@pytest.fixture
def audited_store(backend: Backend) -> Iterator[SqlFrictionStore]:
    opened = backend.open()
    yield opened
    opened.close()


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=(CENTRE,))
    book.add("auditor", PASSWORD, ("auditor",))
    book.add("analyst", PASSWORD, ("analyst",))
    return book


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment, fresh_agencies: object, agency_urls: dict[str, str],
    audited_store: SqlFrictionStore, task_queue: str, accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, audited_store, task_queue, agency_urls,
                              accounts=accounts, headers={}) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def log_in(gateway: httpx.AsyncClient, username: str) -> None:
    gateway.cookies.clear()
    form = await gateway.get("/login")
    done = await gateway.post("/login", data={
        "username": username, "password": PASSWORD, "_csrf_token": csrf_of(form)})
    assert done.status_code == 303, done.text


async def token_of(gateway: httpx.AsyncClient, username: str) -> dict[str, str]:
    issued = await gateway.post("/api/auth/token",
                                json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


async def clerk_opens_and_views_a_case(gateway: httpx.AsyncClient, citizen: Citizen) -> str:
    await log_in(gateway, "clerk")
    desk = await gateway.get("/console/desk")
    key = re.search(r'name="request_key" value="([^"]+)"', desk.text)
    assert key
    opened = await gateway.post("/console/desk/cases", data={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "request_key": key.group(1), "_csrf_token": csrf_of(desk)})
    assert opened.status_code == 303, opened.text
    case_id = opened.headers["location"].rsplit("/", 1)[1]
    page = await gateway.get(f"/console/desk/cases/{case_id}")
    assert page.status_code == 200 and case_id in page.text
    notice = await gateway.get(f"/console/desk/cases/{case_id}/notice")
    assert notice.status_code == 200
    return case_id


async def test_a_clerks_page_view_appears_in_the_access_log(
    gateway: httpx.AsyncClient, population: list[Citizen],
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    case_id = await clerk_opens_and_views_a_case(gateway, citizen)

    auditor = await token_of(gateway, "auditor")
    answer = await gateway.get("/api/access-log", params={"case_id": case_id},
                               headers=auditor)
    assert answer.status_code == 200, answer.text
    entries = answer.json()["entries"]
    assert [e["action"] for e in entries] == ["read_notice", "read_case", "open_case"]
    for entry in entries:
        assert entry["username"] == "clerk" and entry["roles"] == ["clerk"]
        assert entry["centre"] == CENTRE and entry["case_id"] == case_id
        assert entry["client"] == "127.0.0.1" and entry["status"] in (200, 303)
        at = datetime.fromisoformat(entry["at"])
        assert at.utcoffset() == timedelta(0)
    # The log holds no personal value: not the ID number, not the name.
    assert citizen.id_number not in answer.text and citizen.name not in answer.text
    by_user = await gateway.get("/api/access-log", params={"username": "clerk", "limit": 1},
                                headers=auditor)
    assert [e["action"] for e in by_user.json()["entries"]] == ["read_notice"]
    wrong = await gateway.get("/api/access-log", params={"since": "yesterday"},
                              headers=auditor)
    assert wrong.status_code == 422 and wrong.json()["field"] == "since"

    # The auditor's console page, in Chinese.
    await log_in(gateway, "auditor")
    shown = await gateway.get("/console/access-log", params={"case_id": case_id})
    assert shown.status_code == 200
    assert "访问日志" in shown.text and "查看办件" in shown.text and case_id in shown.text
    assert (await gateway.get("/console/access-log", params={"until": "x"})).status_code == 422


async def test_only_auditors_and_admins_read_the_log(
    gateway: httpx.AsyncClient, accounts: AccountBook, dev_env: WorkflowEnvironment,
    audited_store: SqlFrictionStore,
) -> None:
    accounts.add("admin", PASSWORD, ("admin",))
    assert (await gateway.get("/api/access-log")).status_code == 401
    for username in ("clerk", "analyst"):
        refused = await gateway.get("/api/access-log", headers=await token_of(gateway, username))
        assert refused.status_code == 403, username
        await log_in(gateway, username)
        assert (await gateway.get("/console/access-log")).status_code == 403, username
    admin = await gateway.get("/api/access-log", headers=await token_of(gateway, "admin"))
    assert admin.status_code == 200
    # No way to change or remove an entry: the route table has reads only.
    app = create_app(temporal=dev_env.client, store=audited_store, catalogue=Catalogue.load(),
                     calendar=load_calendar(), secret=TEST_SECRET, accounts=accounts)
    logs = [r for r in app.routes if "access-log" in r.path]
    assert logs, "no access-log route found"
    for route in logs:
        assert set(route.methods) <= {"GET", "HEAD", "OPTIONS"}, route.path
    auditor = await token_of(gateway, "auditor")
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        tried = await gateway.request(method, "/api/access-log", headers=auditor)
        assert tried.status_code == 405, method


async def test_a_read_that_cannot_be_recorded_is_not_served(
    gateway: httpx.AsyncClient, backend: Backend, population: list[Citizen],
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    case_id = await clerk_opens_and_views_a_case(gateway, citizen)
    backend.fail_inserts("access_log")
    try:
        refused = await gateway.get(f"/console/desk/cases/{case_id}")
        assert refused.status_code == 503
        assert case_id not in refused.text and citizen.id_number not in refused.text
    finally:
        backend.allow_inserts("access_log")
    assert (await gateway.get(f"/console/desk/cases/{case_id}")).status_code == 200


async def test_entries_past_retention_are_pruned(audited_store: SqlFrictionStore) -> None:
    now = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    for age in (timedelta(days=1200), timedelta(days=10)):
        audited_store.record_access(AccessEntry(
            at=now - age, username="clerk", roles=("clerk",), centre=CENTRE,
            action="read_case", case_id="20231207-AAAA0001", client="10.0.0.1"))
    retention = AccessLogRetention(audited_store, timedelta(days=1096), clock=lambda: now)
    assert await retention.prune_once() == 1
    assert [e.at for e in audited_store.access_entries()] == [now - timedelta(days=10)]
