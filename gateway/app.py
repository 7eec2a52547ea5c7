"""The gateway application: clerk and notebook APIs, /metrics, OpenAPI, problem details."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import REGISTRY
from temporalio.client import Client

from friction.store import FrictionStore
from gateway.cases import CasesController, WorklistController
from gateway.friction_api import FrictionController
from gateway.metrics import NotebookCollector
from workflows.calendar import WorkingCalendar
from workflows.case import TASK_QUEUE
from workflows.definition import Catalogue


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(
    *,
    temporal: Client,
    store: FrictionStore,
    catalogue: Catalogue,
    calendar: WorkingCalendar,
    task_queue: str = TASK_QUEUE,
) -> Litestar:
    collector = NotebookCollector(store)

    def register() -> None:
        REGISTRY.register(collector)

    def unregister() -> None:
        REGISTRY.unregister(collector)

    prometheus = PrometheusConfig(app_name="onething", prefix="onething_http", group_path=True)
    return Litestar(
        route_handlers=[
            CasesController,
            WorklistController,
            FrictionController,
            PrometheusController,
            healthz,
        ],
        dependencies={
            "temporal": Provide(lambda: temporal, sync_to_thread=False),
            "store": Provide(lambda: store, sync_to_thread=False),
            "catalogue": Provide(lambda: catalogue, sync_to_thread=False),
            "calendar": Provide(lambda: calendar, sync_to_thread=False),
            "task_queue": Provide(lambda: task_queue, sync_to_thread=False),
        },
        middleware=[prometheus.middleware],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True))],
        openapi_config=OpenAPIConfig(
            title="onething",
            version="0.1.0",
            description="Clerk, citizen and notebook API of onething (一件事)",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        on_startup=[register],
        on_shutdown=[unregister],
    )
