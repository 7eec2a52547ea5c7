"""The gateway application: clerk and notebook APIs, /metrics, traces, OpenAPI, problem
details."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar, Request, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.stores.base import NamespacedStore
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import TracerProvider
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import PayloadCodec

from friction.notebook import NOTE_CATEGORIES, NOTE_KINDS
from friction.ratings import RatingPolicy
from friction.register import CAUSES, EXCLUDED_CAUSES, RESOLUTIONS
from friction.store import FrictionStore
from friction.verification import VerificationPolicy
from gateway.accounts import AccountBook
from gateway.audit.controllers import AccessLogController
from gateway.audit.recorder import AccessLogMiddleware
from gateway.audit.retention import DEFAULT_RETENTION, AccessLogRetention
from gateway.audit.service import provide_access_log_service
from gateway.auth import (
    CODEC_PREFIX,
    TRUSTED_PROXIES_STATE,
    GatewaySecurity,
    proxy_networks,
)
from gateway.cases.controllers import CasesController, WorklistController
from gateway.cases.ended import SWEEP_EVERY_SECONDS, EndedCasesSweep
from gateway.cases.schemas import (
    CHANNELS,
    DEFAULT_CENTRES,
    CrossCentreBody,
    FieldsBody,
    MaterialBody,
    MilestoneBody,
    NotEligibleBody,
    OpenCase,
    TripBody,
    WithdrawalBody,
)
from gateway.cases.service import (
    CaseService,
    KnownCentres,
    case_access,
    provide_case_service,
)
from gateway.centres import CASE_ACCESS_STATE, CaseAccessLookup, centre_guard, centre_policy
from gateway.channels.schemas import ServiceCatalogue
from gateway.channels.service import OnlineEntries, service_catalogue
from gateway.codec.controllers import CodecController
from gateway.codec.cors import CodecCorsMiddleware, codec_cors
from gateway.codec.service import CodecService
from gateway.console import console_handlers, template_config
from gateway.console.backlog import TRACE_URL_STATE
from gateway.console.pages import negotiated_error
from gateway.errors import API_EXCEPTION_HANDLERS
from gateway.issued_documents import DocumentRegister, NoDocuments
from gateway.log_context import CaseLogContextMiddleware
from gateway.metrics import CalendarCoverage, NotebookCollector
from gateway.notebook.controllers import (
    BacklogController,
    FrictionController,
    NotesController,
    ReportsController,
)
from gateway.notebook.schemas import (
    MAX_BATCH_BYTES,
    FrictionBatch,
    NoteBody,
    OcelLog,
    TransitionBody,
)
from gateway.notebook.service import provide_notebook_service
from gateway.openapi import AmendedJsonRenderPlugin
from gateway.ratings.controllers import RatingsController
from gateway.ratings.service import provide_rating_service
from gateway.register.controllers import CantGetItDoneController
from gateway.register.schemas import RegisterBody, ResolutionBody, TaskForceBody
from gateway.register.service import provide_register_service
from gateway.shared_state import IDEMPOTENCY_STORE, IdempotencyKeys, gateway_stores
from kernel.china_time import local_date
from workflows.calendar import WorkingCalendar
from workflows.calendar_source import missing_official
from workflows.case import TASK_QUEUE
from workflows.definition import Catalogue


@get("/healthz", include_in_schema=False, opt=centre_policy("none"))
async def healthz(calendar: NamedDependency[WorkingCalendar]) -> dict[str, object]:
    # Operators learn here (and from /metrics) which years still lack the State
    # Council's schedule: promised dates in them are provisional until it is published.
    today = local_date(datetime.now(UTC))
    return {"status": "ok", "calendar": calendar.id,
            "calendar_years_unofficial": missing_official(calendar, today)}


class MetricsController(PrometheusController):
    """Prometheus's text format for scrapers: not part of the API's document."""

    include_in_schema = False


def name_span_by_route(request: Request[Any, Any, Any]) -> None:
    """Name the request's span by its route, as OTel's HTTP conventions want. Litestar's
    plugin names it before routing, by the raw path: one name per case number, which
    no dashboard can group."""
    route = request.scope.get("path_template")
    if route:
        span = trace.get_current_span()
        span.update_name(f"{request.method} {route}")
        span.set_attribute(HTTP_ROUTE, route)


def traced_client(client: Client, provider: TracerProvider) -> Client:
    """The same connection with Temporal's tracing interceptor: starting a case or sending
    it an update continues the HTTP request's trace into the workflow and its activities."""
    config = client.config()
    if any(isinstance(i, TracingInterceptor) for i in config["interceptors"]):
        return client
    tracer = provider.get_tracer(TracingInterceptor.__module__)
    config["interceptors"] = [*config["interceptors"], TracingInterceptor(tracer)]
    return Client(**config)


def _as_source(
    calendar: WorkingCalendar | Callable[[], WorkingCalendar],
) -> Callable[[], WorkingCalendar]:
    if isinstance(calendar, WorkingCalendar):
        return lambda: calendar
    return calendar


def openapi_document(catalogue: Catalogue, centres: Collection[str]) -> AmendedJsonRenderPlugin:
    """The OpenAPI document with the bodies' full constraints and this installation's
    identifiers (gateway.openapi)."""
    return AmendedJsonRenderPlugin(
        bodies=(OpenCase, FieldsBody, MaterialBody, TripBody, MilestoneBody, CrossCentreBody,
                NotEligibleBody, WithdrawalBody, NoteBody, TransitionBody, RegisterBody,
                ResolutionBody, TaskForceBody, FrictionBatch, OcelLog),
        enums={"centre": centres, "bundle": catalogue.ids(), "channel": CHANNELS,
               "about_kind": NOTE_KINDS, "category": NOTE_CATEGORIES,
               "resolution": RESOLUTIONS,
               "cause": [c for c in CAUSES if c not in EXCLUDED_CAUSES]},
        request_bodies={("/api/friction/events", "post"): "FrictionBatch"},
        response_bodies={("/api/friction/ocel", "get"): "OcelLog"},
    )


def create_app(
    *,
    temporal: Client,
    store: FrictionStore,
    catalogue: Catalogue,
    calendar: WorkingCalendar | Callable[[], WorkingCalendar],
    secret: bytes,
    accounts: AccountBook,
    task_queue: str = TASK_QUEUE,
    tracer_provider: TracerProvider | None = None,
    verification: VerificationPolicy | None = None,
    services: ServiceCatalogue | None = None,
    documents: DocumentRegister | None = None,
    sweep_every: float | None = SWEEP_EVERY_SECONDS,
    secure_cookies: bool = True,
    trusted_proxies: Iterable[str] = (),
    shared_state: NamespacedStore | None = None,
    rating_policy: RatingPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
    access_log_retention: timedelta | None = DEFAULT_RETENTION,
    payload_codec: PayloadCodec | None = None,
    codec_origins: Iterable[str] = (),
    centres: Collection[str] = DEFAULT_CENTRES,
    trace_url: str | None = None,
    pseudonym_key: bytes | None = None,
) -> Litestar:
    """The gateway; traces go to `tracer_provider`, or to the OTel global one if None.
    `secret` keys the console's sessions, the API's tokens, CSRF and tracking codes.
    `calendar` is a fixed calendar or the calendar as published now (PublishedCalendar),
    asked again for every case opened and every health answer.
    The gateway runs no verifier: a fix is judged when it is deployed, and then by the
    verifier's Temporal Schedule on the worker (workflows.verifier, `onething setup`).
    Every `sweep_every` seconds the notebook rows of cases whose runs ended unfinished
    (terminated, timed out) are closed as failed (None: never).
    Cookies are Secure (sent over HTTPS only) unless `secure_cookies` is False. The client
    address that rate limits count by is the connection's peer; X-Forwarded-For is read only
    when that peer is one of `trusted_proxies` (addresses or CIDR blocks). Console sessions
    live in `shared_state`, with the doors' rate-limit counters and the idempotency keys,
    each purpose under its own namespace (gateway.shared_state; in this process's memory
    unless given: gateways of a cluster share one Redis).
    A bad review is followed up within `rating_policy`'s working days; `clock` is the
    time ratings and their follow-ups are made at (now, unless a test pins it).
    Reads of residents' data and changes to cases go to the store's access log; entries
    older than `access_log_retention` are pruned at start and daily (None: never here, for
    a deployment that prunes by other means).
    /codec serves Temporal's remote codec with `payload_codec` (default: the Temporal
    client's, which holds the installation's payload keys) to admins; pages of
    `codec_origins` (the Temporal web UI's) may call it with credentials.
    `centres` are the service centres a case may be opened at or registered by, with
    every centre an account of `accounts` works at.
    `pseudonym_key` names citizens by keyed reference (their cases' OtCitizen, searched by
    ID number): a deployment passes the installation's ONETHING_PSEUDONYM_KEY, the same
    for every gateway and worker; None is a key of this app's own (a test's gateway, whose
    citizens no other gateway finds)."""
    current = _as_source(calendar)
    security = GatewaySecurity(secret, accounts, secure_cookies=secure_cookies)
    proxies = proxy_networks(trusted_proxies)
    templates = template_config()
    provider = tracer_provider or trace.get_tracer_provider()
    temporal = traced_client(temporal, provider)
    codec = CodecService(payload_codec or temporal.data_converter.payload_codec)
    collector = NotebookCollector(store, current)
    coverage = CalendarCoverage(current)
    policy = verification or VerificationPolicy()
    ratings_policy = rating_policy or RatingPolicy()
    now = clock or (lambda: datetime.now(UTC))
    citizen_key = pseudonym_key or secrets.token_bytes(32)
    sweep = None if sweep_every is None else EndedCasesSweep(temporal, store, sweep_every)
    retention = (None if access_log_retention is None
                 else AccessLogRetention(store, access_log_retention))
    # The online channel's service catalogue (the version current.toml names, unless
    # given), and the registers of issued documents behind /verify (none unless given).
    online = services or service_catalogue()
    online.check_bundles(catalogue.ids())
    online_entries = OnlineEntries(online, store)
    document_register = documents or NoDocuments()

    def register() -> None:
        REGISTRY.register(collector)
        REGISTRY.register(coverage)
        if sweep is not None:
            sweep.start()
        if retention is not None:
            retention.start()

    async def unregister() -> None:
        REGISTRY.unregister(collector)
        REGISTRY.unregister(coverage)
        if sweep is not None:
            await sweep.stop()
        if retention is not None:
            await retention.stop()

    prometheus = PrometheusConfig(app_name="onething", prefix="onething_http", group_path=True)
    # The API's failures are problem details (the console renders its own pages): bad
    # input names its field, Temporal away is a 503 to retry, anything else a logged 500.
    api = Router(
        path="/",
        route_handlers=[security.api_router(
            CasesController, WorklistController, FrictionController, BacklogController,
            NotesController, CantGetItDoneController, ReportsController,
            RatingsController, AccessLogController,
        )],
        exception_handlers=API_EXCEPTION_HANDLERS,
    )
    known = KnownCentres(centres, accounts)
    stores = gateway_stores(shared_state)
    idempotency = IdempotencyKeys(stores.get(IDEMPOTENCY_STORE))

    def case_service() -> CaseService:
        # Every clerk's click builds one: from the objects themselves, as Litestar would
        # resolve nine dependencies as nine tasks of a task group on every request.
        return provide_case_service(temporal, catalogue, current, task_queue, online_entries,
                                    known, idempotency, citizen_key, now)

    return Litestar(
        route_handlers=[
            api,
            security.codec_router(
                CodecController,
                middleware=[CodecCorsMiddleware(codec_cors(tuple(codec_origins)))],
            ),
            MetricsController,
            healthz,
            *console_handlers(),
        ],
        # What the handlers and the domains' services take, by name: the services are made
        # per request from the rest (litestar-fullstack's domain/<name>/services).
        dependencies={
            "case_service": Provide(case_service, sync_to_thread=False),
            "notebook_service": Provide(provide_notebook_service, sync_to_thread=False),
            "register_service": Provide(provide_register_service, sync_to_thread=False),
            "rating_service": Provide(provide_rating_service, sync_to_thread=False),
            "rating_policy": Provide(lambda: ratings_policy, sync_to_thread=False),
            "clock": Provide(lambda: now, sync_to_thread=False),
            "pseudonym_key": Provide(lambda: citizen_key, sync_to_thread=False),
            "access_log_service": Provide(provide_access_log_service, sync_to_thread=False),
            "codec_service": Provide(lambda: codec, sync_to_thread=False),
            "calendar_source": Provide(lambda: current, sync_to_thread=False),
            "temporal": Provide(lambda: temporal, sync_to_thread=False),
            "store": Provide(lambda: store, sync_to_thread=False),
            "catalogue": Provide(lambda: catalogue, sync_to_thread=False),
            "calendar": Provide(lambda: current(), sync_to_thread=False),
            "task_queue": Provide(lambda: task_queue, sync_to_thread=False),
            "verification_policy": Provide(lambda: policy, sync_to_thread=False),
            "accounts": Provide(lambda: accounts, sync_to_thread=False),
            "online_entries": Provide(lambda: online_entries, sync_to_thread=False),
            "documents": Provide(lambda: document_register, sync_to_thread=False),
            "centres": Provide(lambda: known, sync_to_thread=False),
            "idempotency_keys": Provide(lambda: idempotency, sync_to_thread=False),
        },
        # No body anywhere is larger than a friction batch; each API route takes less.
        request_max_body_size=MAX_BATCH_BYTES,
        # The secret keys tracking codes; the proxies are whose X-Forwarded-For is believed.
        # The centre guard asks a case's workflow whose case it is.
        state=State({"secret": secret, TRUSTED_PROXIES_STATE: proxies,
                     "secure_cookies": secure_cookies, TRACE_URL_STATE: trace_url,
                     CASE_ACCESS_STATE: CaseAccessLookup(
                         lambda case_id: case_access(temporal, case_id))}),
        # Errors outside the routers (an unknown path, a middleware's limit): a page in
        # the reader's language for a browser, problem details for an API client.
        exception_handlers={HTTPException: negotiated_error},
        # Every handler declares its centre policy; this one guard enforces the
        # case-scoped ones (gateway.centres).
        guards=[centre_guard],
        stores=stores,
        # Handlers declaring opt=access(...) are recorded in the access log, here only.
        # The case a request names is on every log line written while serving it.
        middleware=[
            CaseLogContextMiddleware(), prometheus.middleware, AccessLogMiddleware(store),
        ],
        # The process configures logging (deploy.logs): Litestar's own logger goes to the
        # root handler like every other.
        logging_config=None,
        on_app_init=[security.session.on_app_init],
        # Forms of the console carry a CSRF token; the API takes bearer tokens only.
        csrf_config=CSRFConfig(
            secret=security.csrf_secret, cookie_httponly=True, cookie_secure=secure_cookies,
            # The codec: bearer tokens, or a session whose JSON-only body no form can forge.
            exclude=["^/api/", f"^{CODEC_PREFIX}/"],
        ),
        template_config=templates,
        plugins=[
            FlashPlugin(FlashConfig(template_config=templates)),
            # The case page's live parts ask for their fragment with htmx (HTMXRequest).
            HTMXPlugin(),
            # Problem details for API clients, a page for a person at a browser
            # (gateway.console.pages.negotiated_error, below).
            ProblemDetailsPlugin(ProblemDetailsConfig(exception_handler=negotiated_error)),
            OpenTelemetryPlugin(
                OpenTelemetryConfig(
                    tracer_provider=provider,
                    # Scrapes and health checks every few seconds would bury the cases.
                    exclude=["^/metrics", "^/healthz"],
                    # One span per request, not three: the ASGI send and receive spans
                    # say nothing a case's trace needs.
                    exclude_spans=["receive", "send"],
                )
            ),
        ],
        openapi_config=OpenAPIConfig(
            title="onething",
            version="0.1.0",
            description="Clerk, citizen and notebook API of onething (一件事)",
            path="/schema",
            render_plugins=[openapi_document(catalogue, known)],
            components=[security.jwt.openapi_components],
        ),
        before_request=name_span_by_route,
        on_startup=[register],
        on_shutdown=[unregister],
    )
