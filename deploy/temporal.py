"""The connection to Temporal, shared by every process the product runs (worker, gateway,
CLI, the simulation's demo): reached the way the SDK documents (`temporalio.envconfig`:
a profile from a TOML file and the standard TEMPORAL_* variables), with the project's
data converter sealing every payload under the installation's payload keys, and patience
while the server is still starting; and the search attributes the product sets, with
their types, registered where they are missing (`onething setup`)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.envconfig import ClientConnectConfig

from deploy.settings import Settings, payload_keys
from workflows.case import SEARCH_ATTRIBUTES, SearchAttributeKind

if TYPE_CHECKING:
    from temporalio.client import Client

INDEXED_TYPES: dict[SearchAttributeKind, IndexedValueType.ValueType] = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


def connect_config(settings: Settings) -> ClientConnectConfig:
    """Client.connect's arguments from the settings' profile: address, namespace, TLS,
    API key (which turns TLS on unless the profile disables it), gRPC metadata."""
    return settings.temporal.to_client_connect_config()


async def connect(settings: Settings, patience: float = 30.0,
                  namespace: str | None = None) -> Client:
    """A Temporal client with the project's data converter, its payloads sealed under
    the settings' payload keys, retrying while the server is still starting. The worker
    and the gateway take the converter from this client."""
    from temporalio.client import Client

    from kernel.converter import data_converter

    converter = data_converter(payload_keys(settings))
    config = connect_config(settings)
    if namespace is not None:
        config["namespace"] = namespace
    deadline = time.monotonic() + patience
    while True:
        try:
            return await Client.connect(**config, data_converter=converter)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def indexed_value_types() -> dict[str, IndexedValueType.ValueType]:
    """Every search attribute the product sets, by Temporal's indexed type."""
    return {name: INDEXED_TYPES[kind] for name, kind in SEARCH_ATTRIBUTES.items()}


def dev_server_search_attributes() -> list[str]:
    """`temporal server start-dev` flags registering the product's search attributes."""
    return [a for name, kind in SEARCH_ATTRIBUTES.items()
            for a in ("--search-attribute", f"{name}={kind}")]


class SearchAttributeClash(RuntimeError):
    """A search attribute registered under the product's name with another type."""


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register any missing search attribute, with its type; the names added. One
    registered with another type is refused (Temporal cannot change a type): it names
    both. `start-dev --search-attribute` only registers them when it creates its
    database, so one added to the code later would be missing without this."""
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    wanted = indexed_value_types()
    clashes = [f"{n} is {IndexedValueType.Name(listed.custom_attributes[n])}, wanted "
               f"{IndexedValueType.Name(t)}"
               for n, t in wanted.items()
               if n in listed.custom_attributes and listed.custom_attributes[n] != t]
    if clashes:
        raise SearchAttributeClash("search attributes of another type in namespace "
                                   f"{namespace}: {'; '.join(clashes)}")
    missing = {n: t for n, t in wanted.items() if n not in listed.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return list(missing)
