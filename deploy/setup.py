"""`onething setup`: everything a Temporal and a database need before any worker or gateway
starts, against any of them, idempotently (a second run changes nothing and exits 0):

1. the namespace, registered with its retention if missing, its retention corrected if
   it differs;
2. the search attributes the product sets (workflows.case.SEARCH_ATTRIBUTES), typed;
3. the schedules: the monthly allowance match and the notebook's verifier;
4. the friction store's migrations (SQLite or PostgreSQL).

`onething up` runs it once its Temporal is up; a cluster runs it as a one-shot job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal, TypeVar

import msgspec
from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from deploy.allowance import ensure_allowance_schedule
from deploy.schedules import ScheduleChange, ensure_schedule
from deploy.settings import Settings
from deploy.temporal import connect, ensure_search_attributes
from deploy.verifier_schedule import verifier_schedule
from friction.store.migrations import SCHEMA_VERSION
from friction.stores import open_store
from workflows.allowance_case import SCHEDULE_ID as ALLOWANCE_SCHEDULE_ID
from workflows.verifier import VERIFIER_SCHEDULE_ID

NamespaceChange = Literal["created", "retention updated", "unchanged"]
# A namespace just registered takes a moment to reach every frontend's cache.
NEW_NAMESPACE_PATIENCE = 30.0

T = TypeVar("T")


class StoreSetupError(RuntimeError):
    """The friction store could not be opened or migrated."""


class SetupReport(msgspec.Struct, kw_only=True, frozen=True):
    namespace: str
    namespace_change: NamespaceChange
    retention_days: int
    search_attributes_added: tuple[str, ...]
    schedules: dict[str, ScheduleChange]
    store: str  # "PostgreSQL" or the SQLite file
    schema_version: int
    migrated_from: int  # the schema version it had; equal to schema_version: untouched

    @property
    def changed(self) -> bool:
        return (self.namespace_change != "unchanged" or bool(self.search_attributes_added)
                or any(c != "unchanged" for c in self.schedules.values())
                or self.migrated_from != self.schema_version)

    def lines(self) -> list[str]:
        return [
            f"namespace {self.namespace}: {self.namespace_change} "
            f"(retention {self.retention_days} days)",
            "search attributes: " + (f"registered {', '.join(self.search_attributes_added)}"
                                     if self.search_attributes_added else "all registered"),
            *(f"schedule {sid}: {change}" for sid, change in self.schedules.items()),
            f"friction store ({self.store}): schema version {self.schema_version}"
            + (" (up to date)" if self.migrated_from == self.schema_version
               else f" (migrated from {self.migrated_from})"),
        ]


async def ensure_namespace(client: Client, namespace: str, retention: timedelta) -> NamespaceChange:
    """Register `namespace` with `retention`, or set its retention if it differs."""
    service = client.workflow_service
    wanted = Duration()
    wanted.FromTimedelta(retention)
    try:
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        await service.register_namespace(RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=wanted,
            description="onething: service bundle cases (一件事)"))
        return "created"
    if described.config.workflow_execution_retention_ttl == wanted:
        return "unchanged"
    await service.update_namespace(UpdateNamespaceRequest(
        namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=wanted)))
    return "retention updated"


async def _while_namespace_settles(call: Callable[[], Awaitable[T]]) -> T:
    """`call`, asked again while the frontend does not know a new namespace yet."""
    deadline = time.monotonic() + NEW_NAMESPACE_PATIENCE
    while True:
        try:
            return await call()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def ensure_schedules(client: Client, settings: Settings) -> dict[str, ScheduleChange]:
    allowance = await _while_namespace_settles(lambda: ensure_allowance_schedule(
        client, settings.task_queue, settings.default_centre))
    verifier = await _while_namespace_settles(lambda: ensure_schedule(
        client, VERIFIER_SCHEDULE_ID, verifier_schedule(settings.task_queue)))
    return {ALLOWANCE_SCHEDULE_ID: allowance, VERIFIER_SCHEDULE_ID: verifier}


def migrate_store(settings: Settings) -> tuple[str, int]:
    """Open the friction store, which brings its schema to SCHEMA_VERSION; where it is
    and the version it had."""
    if not settings.friction_dsn:
        settings.friction_db.parent.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.friction_dsn, settings.friction_db)
    try:
        return ("PostgreSQL" if settings.friction_dsn else str(settings.friction_db),
                store.migrated_from)
    finally:
        store.close()


async def run_setup(settings: Settings, patience: float = 30.0) -> SetupReport:
    namespace = settings.temporal_namespace
    retention = timedelta(days=settings.namespace_retention_days)
    client = await connect(settings, patience=patience)
    namespace_change = await ensure_namespace(client, namespace, retention)
    added = await _while_namespace_settles(
        lambda: ensure_search_attributes(client, namespace))
    schedules = await ensure_schedules(client, settings)
    try:
        store, migrated_from = await asyncio.to_thread(migrate_store, settings)
    except Exception as exc:  # the database's own errors (a DSN refused, a lost server)
        raise StoreSetupError(f"friction store: {type(exc).__name__}: {exc}") from exc
    return SetupReport(
        namespace=namespace, namespace_change=namespace_change,
        retention_days=settings.namespace_retention_days,
        search_attributes_added=tuple(added), schedules=schedules, store=store,
        schema_version=SCHEMA_VERSION, migrated_from=migrated_from,
    )
