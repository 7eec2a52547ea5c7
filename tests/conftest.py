"""Shared fixtures: a real Temporal dev server, the agency simulator, a friction store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.api.common.v1 import Payload
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.worker import create_worker
from deploy.local import free_port, installed_binary
from deploy.settings import AGENCIES
from deploy.sim import clerk
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.clerk import ClerkHabits, TemporalDesk, serve_case
from deploy.sim.population import Citizen, generate, lookup_values
from deploy.temporal import dev_server_search_attributes, indexed_value_types
from friction.sqlite_store import SqliteFrictionStore
from friction.store import FrictionStore
from gateway.accounts import EVERY_CENTRE, AccountBook
from gateway.app import create_app
from gateway.auth import GatewaySecurity
from kernel.china_time import local_date
from kernel.converter import DATA_CONVERTER
from workflows.calendar import WorkingCalendar
from workflows.calendar_source import load_calendar
from workflows.case import CaseProgress, CaseStart
from workflows.definition import LOOKUP_SOURCES, BundleDefinition, Catalogue

_ROOT_CONFTEST = sys.modules[__name__]


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    # Test modules do `from conftest import ...`, meaning this file; pytest loads each
    # folder's conftest.py under the same module name, so give the name back to this one.
    if plugin is not _ROOT_CONFTEST and getattr(plugin, "__name__", None) == "conftest":
        sys.modules["conftest"] = _ROOT_CONFTEST


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_extra_args=dev_server_search_attributes(),
        data_converter=DATA_CONVERTER,
    )
    yield env
    await env.shutdown()


# The suite's one clock: ONETHING_TEST_CLOCK (ISO 8601 with offset) or a fixed Monday
# morning in China. The time-skipping server starts at the real now and only moves
# forward, so it is advanced to the anchor shifted by 28 years, which keeps weekdays,
# month days and leap years (1901-2099) and stays in the future for decades.
TEST_CLOCK = datetime.fromisoformat(os.environ.get("ONETHING_TEST_CLOCK",
                                                   "2026-12-07T09:00+08:00"))
CLOCK_SHIFT_YEARS = 28


def time_skipping_moment(anchor: datetime = TEST_CLOCK) -> datetime:
    return anchor.replace(year=anchor.year + CLOCK_SHIFT_YEARS)


def time_skipping_calendar() -> WorkingCalendar:
    """The working calendar for cases on the time-skipping server: the years around the
    shifted test clock, not around the real today. Lunar holidays do not keep their dates
    across the shift, so a time-skipping test computes its expectations with this calendar
    (or the one its case carries), never with load_calendar()."""
    return load_calendar(local_date(time_skipping_moment()))


async def pin_clock(env: WorkflowEnvironment, moment: datetime | None = None) -> None:
    """Advance a time-skipping server to a fixed moment (the shifted test clock)."""
    target = moment or time_skipping_moment()
    await env.sleep(target - await env.get_current_time())


@pytest.fixture
async def time_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    # One server per test: its clock only moves forward and a case left waiting in one
    # test would let the next test's skips wake it, so tests sharing one interfere.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    # The test server knows no custom search attributes until told, unlike start-dev.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes=indexed_value_types(),
        )
    )
    # A test that names its own fixed moment (marked own_clock) pins it itself; the others
    # start at the suite's clock.
    if request.node.get_closest_marker("own_clock") is None:
        await pin_clock(env)
    yield env
    await env.shutdown()


class ServedApp:
    def __init__(self, app: object, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            # As deploy.cli serves it: the gateway, not uvicorn, decides whom to believe.
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                           proxy_headers=False)
        )

    async def __aenter__(self) -> ServedApp:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await self.task


@pytest.fixture(scope="session")
def population() -> list[Citizen]:
    return generate(seed=7, size=80)


@pytest.fixture(scope="session")
async def agency_sim(population: list[Citizen]) -> AsyncIterator[ServedApp]:
    async with ServedApp(create_agency_sim(population), free_port()) as served:
        yield served


@pytest.fixture
def agency_urls(agency_sim: ServedApp) -> dict[str, str]:
    return {a: f"{agency_sim.url}/{a}" for a in AGENCIES}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteFrictionStore]:
    opened = SqliteFrictionStore(tmp_path / "friction.db")
    yield opened
    opened.close()


@pytest.fixture
def task_queue(request: pytest.FixtureRequest) -> str:
    # One queue per test, so no test's worker picks up another test's cases.
    return f"test-{request.node.name}-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def running_worker(
    client: Client, agency_urls: dict[str, str], store: FrictionStore, task_queue: str
) -> AsyncIterator[Worker]:
    async with httpx.AsyncClient(timeout=10) as http:
        worker = create_worker(
            client, agency_urls=agency_urls, store=store, http=http, task_queue=task_queue
        )
        async with worker:
            yield worker


def citizen_where(population: list[Citizen], **wanted: bool) -> Citizen:
    """The first synthetic citizen with the wanted properties."""

    def has(citizen: Citizen, prop: str) -> bool:
        if prop == "ecerts":
            return "resident_id_card" in citizen.certificates
        if prop == "low_income":
            return citizen.low_income
        return citizen.bank_account is not None  # "bank"

    for citizen in population:
        if all(has(citizen, k) is v for k, v in wanted.items()):
            return citizen
    raise LookupError(f"no citizen with {wanted} in the test population")


def known_values(citizen: Citizen) -> dict[str, str]:
    """Everything the agencies hold about a citizen, by concept: what a clerk reads off
    the citizen's documents when a form makes them type it."""
    values: dict[str, str] = {}
    for source in LOOKUP_SOURCES:
        values.update(lookup_values(citizen, source) or {})
    return values


async def set_behaviour(sim: ServedApp, agency: str, **behaviour: object) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.put(f"{sim.url}/admin/behaviour/{agency}", json=behaviour)
        response.raise_for_status()


@pytest.fixture
async def fresh_agencies(agency_sim: ServedApp) -> ServedApp:
    async with httpx.AsyncClient() as http:
        (await http.post(f"{agency_sim.url}/admin/reset")).raise_for_status()
    return agency_sim


def bundle_start(
    definition: BundleDefinition, citizen: Citizen, case_id: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> CaseStart:
    """A case's start; its calendar is today's (the dev server's clock is the real one)
    unless given, as a time-skipping test gives time_skipping_calendar()."""
    return CaseStart(
        case_id=case_id or f"T-{uuid.uuid4().hex[:10]}",
        bundle=definition,
        calendar=calendar or load_calendar(),
        citizen_id_number=citizen.id_number,
        centre="liangxi-chongan",
    )



async def clerk_completes(
    handle: WorkflowHandle[Any, Any], citizen: Citizen, paper_for_held: bool = False
) -> CaseProgress:
    """A simulated clerk serves the case to its end through Temporal directly."""
    return await serve_case(
        TemporalDesk(handle), known_values(citizen), ClerkHabits(paper_for_held=paper_for_held)
    )


async def wait_for(
    handle: WorkflowHandle[Any, Any], ready: Callable[[CaseProgress], bool], timeout: float = 30
) -> CaseProgress:
    return await clerk.wait_for(TemporalDesk(handle), ready, timeout=timeout)


TEST_SECRET = b"onething-test-secret-not-for-production"


def api_token(
    *roles: str, subject: str = "service:tests", centres: tuple[str, ...] = (EVERY_CENTRE,)
) -> str:
    """A bearer token for the test gateway's API, as a service with `roles`, working for
    `centres` (every centre unless a test says which)."""
    security = GatewaySecurity(TEST_SECRET, AccountBook(SqliteFrictionStore(":memory:")))
    return security.mint_token(subject, roles or ("admin",), centres=centres)  # type: ignore[arg-type]


def bearer(*roles: str, centres: tuple[str, ...] = (EVERY_CENTRE,)) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(*roles, centres=centres)}"}


@contextlib.asynccontextmanager
async def served_gateway(
    client: Client,
    store: FrictionStore,
    task_queue: str,
    agency_urls: dict[str, str] | None = None,
    accounts: AccountBook | None = None,
    headers: dict[str, str] | None = None,
    calendar: WorkingCalendar | Callable[[], WorkingCalendar] | None = None,
    **app_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app served by uvicorn on the test's own loop, with an in-process
    worker when agency_urls are given. Litestar's test client would block that loop while
    a request waits on the worker. The client calls the API as an admin service unless
    `headers` say otherwise."""
    app = create_app(
        temporal=client,
        store=store,
        catalogue=Catalogue.load(),
        calendar=calendar or load_calendar(),
        task_queue=task_queue,
        secret=TEST_SECRET,
        accounts=accounts or AccountBook(SqliteFrictionStore(":memory:")),
        **{"secure_cookies": False, **app_options},  # served over plain HTTP
    )
    async with contextlib.AsyncExitStack() as stack:
        if agency_urls is not None:
            await stack.enter_async_context(
                running_worker(client, agency_urls, store, task_queue)
            )
        served = await stack.enter_async_context(ServedApp(app, free_port()))
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=served.url, timeout=60, headers=bearer() if headers is None else headers
            )
        )
        yield http


async def track(client: httpx.AsyncClient, case_id: str, code: str,
                headers: dict[str, str] | None = None) -> httpx.Response:
    """The citizen's tracking page for a case: the form's CSRF token, then the POST."""
    form = await client.get("/track", headers=headers)
    found = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert found, "the tracking form carries no CSRF token"
    return await client.post("/track/case", headers=headers, data={
        "case_id": case_id, "code": code, "_csrf_token": found.group(1)})


def payloads_in(message: object) -> list[Payload]:
    """Every Payload nested anywhere in a history event: what Temporal stores."""
    found: list[Payload] = []

    def walk(m: object) -> None:
        if isinstance(m, Payload):
            found.append(m)
            return
        for field, value in m.ListFields():  # type: ignore[attr-defined]
            if field.message_type is None:
                continue  # a scalar
            if hasattr(value, "ListFields"):
                walk(value)
            else:  # repeated, or a map (its values)
                for item in value.values() if hasattr(value, "values") else value:
                    if hasattr(item, "ListFields"):
                        walk(item)

    walk(message)
    return found
