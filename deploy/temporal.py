"""The connection to Temporal, shared by every process the product runs (worker, gateway,
CLI, the simulation's demo): the project's data converter with every payload encrypted
under the installation's payload keys, patience while the server is still starting, and
the worklist's search attributes registered where they are missing."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client

from deploy.settings import Settings, payload_keys
from workflows.case import SEARCH_ATTRIBUTES


async def connect(settings: Settings, patience: float = 30.0) -> Client:
    """A Temporal client with the project's data converter, its payloads sealed under
    the settings' payload keys, retrying while the server is still starting. The worker
    and the gateway take the converter from this client."""
    from temporalio.client import Client

    from kernel.converter import data_converter

    converter = data_converter(payload_keys(settings))
    deadline = time.monotonic() + patience
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=converter,
            )
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register any missing worklist search attribute. `start-dev --search-attribute` only
    registers them when it creates the database: one added to the code later would be
    missing from an existing state folder (checked with temporal 1.9.1)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = [n for n in SEARCH_ATTRIBUTES if n not in listed.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in missing
                },
            )
        )
    return missing
