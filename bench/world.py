"""A whole installation in one process for the benchmarks: a Temporal dev server with the
product's search attributes, the simulated agencies, a worker for the bundle cases (and
one for the benchmark's bare workflows), and the real gateway app served by uvicorn on a
free port, as `tests/conftest.py` `served_gateway` and `bench/bundle_throughput.py` run
them. The product never imports this."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.worker import create_worker, workflow_runner
from deploy.local import free_port, installed_binary
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.population import Citizen
from deploy.temporal import dev_server_search_attributes
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.app import create_app
from gateway.auth import GatewaySecurity
from gateway.cases.schemas import DEFAULT_CENTRES
from kernel.converter import DATA_CONVERTER
from workflows.calendar_source import load_calendar
from workflows.definition import Catalogue

SECRET = b"onething-bench-secret-not-for-production"
CLERK = "bench-clerk"
PASSWORD = "bench-password-123"


@dataclass(frozen=True)
class World:
    client: Client  # the minimal client: straight to Temporal
    gateway: httpx.AsyncClient  # the gateway's API, as the bench's clerk (bearer token)
    centre: str  # the clerk's own centre: the worklist's cases are the run's alone
    bundle_queue: str
    bare_queue: str
    store: SqliteFrictionStore


async def _serve(app: object, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
        proxy_headers=False, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


@contextlib.asynccontextmanager
async def running_world(
    citizens: list[Citizen], bare_workflows: Sequence[type] = ()
) -> AsyncIterator[World]:
    """Everything up, torn down in reverse on exit. The gateway's account store and
    friction store are files in a temporary folder, as an installation keeps them."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_extra_args=dev_server_search_attributes(),
        data_converter=DATA_CONVERTER,
    )
    tag = uuid.uuid4().hex[:8]
    centre = f"bench-{tag}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(env.shutdown)
        state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sim_port = free_port()
        sim, sim_task = await _serve(create_agency_sim(citizens), sim_port)

        async def stop_sim() -> None:
            sim.should_exit = True
            await sim_task

        stack.push_async_callback(stop_sim)
        store = SqliteFrictionStore(state / "friction.db")
        stack.callback(store.close)
        book = AccountBook(SqliteFrictionStore(state / "accounts.db"))
        book.add(CLERK, PASSWORD, ("clerk",), display_name="基准窗口", centres=(centre,))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        agency_urls = {a: f"http://127.0.0.1:{sim_port}/{a}" for a in AGENCIES}
        bundle_queue, bare_queue = f"bench-bundle-{tag}", f"bench-bare-{tag}"
        worker = create_worker(env.client, agency_urls=agency_urls, store=store, http=http,
                               task_queue=bundle_queue)
        await stack.enter_async_context(worker)
        if bare_workflows:
            bare = Worker(env.client, task_queue=bare_queue, workflows=list(bare_workflows),
                          workflow_runner=workflow_runner())
            await stack.enter_async_context(bare)
        app = create_app(
            temporal=env.client, store=store, catalogue=Catalogue.load(),
            calendar=load_calendar(), task_queue=bundle_queue, secret=SECRET,
            accounts=book, secure_cookies=False, centres=(*DEFAULT_CENTRES, centre),
        )
        port = free_port()
        server, server_task = await _serve(app, port)

        async def stop_gateway() -> None:
            server.should_exit = True
            await server_task

        stack.push_async_callback(stop_gateway)
        token = GatewaySecurity(SECRET, book).mint_token(CLERK)
        gateway = await stack.enter_async_context(httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60,
            headers={"Authorization": f"Bearer {token}"}))
        yield World(client=env.client, gateway=gateway, centre=centre,
                    bundle_queue=bundle_queue, bare_queue=bare_queue, store=store)
