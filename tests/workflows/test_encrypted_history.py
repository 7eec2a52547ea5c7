"""Case histories hold no resident's data in clear, on the real dev server: a case
started under one payload key is completed after a rotation (a new key first, the old one
still listed), and the history Temporal keeps shows ciphertext and case-level search
attributes only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import get_args

from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    clerk_completes,
    payloads_in,
    running_worker,
    served_gateway,
    wait_for,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import HttpDesk, waiting_on_clerk
from deploy.sim.clerk import wait_for as wait_for_desk
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKey, generate_key
from kernel.converter import data_converter
from workflows.bundle import BundleWorkflow
from workflows.bundle.case_state import DUE_DATE_PATCH, WAITING_SINCE_PATCH
from workflows.bundle.outage import OUTAGE_PATCH
from workflows.case import AWAITING_FAILED, SEARCH_ATTRIBUTES, Awaiting
from workflows.definition import Catalogue

EMPLOYMENT = Catalogue.load().default("employment-hardship")
# Search attributes the server sets itself (Temporal 1.32), never from a case's values.
TEMPORAL_OWN = frozenset({"BuildIds", "TemporalChangeVersion", "TemporalReportedProblems",
                          "TemporalWorkerDeployment", "TemporalWorkerDeploymentVersion",
                          "TemporalWorkflowVersioningBehavior"})


def with_keys(client: Client, *keys: PayloadKey) -> Client:
    """The same connection with the project's converter sealing under `keys`."""
    config = client.config()
    config["data_converter"] = data_converter(keys)
    return Client(**config)


async def test_a_case_started_under_one_key_completes_after_rotation(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    key_a, key_b = PayloadKey("key-a", generate_key()), PayloadKey("key-b", generate_key())
    citizen = citizen_where(population, ecerts=True, bank=True)
    start = bundle_start(EMPLOYMENT, citizen)
    before = with_keys(dev_env.client, key_a)
    await before.start_workflow(
        BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue
    )
    # Rotated: key B seals from now on, key A still opens the case's start.
    after = with_keys(dev_env.client, key_b, key_a)
    handle = after.get_workflow_handle_for(BundleWorkflow.run, start.case_id)
    async with running_worker(after, agency_urls, store, task_queue):
        progress = await clerk_completes(handle, citizen)
        assert progress.status == "completed"
        assert (await handle.result()).status == "completed"

    # What Temporal keeps, read without any key.
    history = await dev_env.client.get_workflow_handle(start.case_id).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    for personal in (citizen.id_number, citizen.name, citizen.phone, citizen.address):
        assert personal.encode() not in raw, personal
    assert citizen.bank_account and citizen.bank_account.encode() not in raw

    payloads = [p for event in history.events for p in payloads_in(event)]
    assert payloads
    clear = [p for p in payloads if p.metadata.get("encoding") != ENCODING]
    # Only search attributes (Temporal indexes them) and patch markers stay readable; they
    # hold no person.
    assert all(readable_without_a_person(p.data) for p in clear), clear
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata[KEY_ID] == b"key-a"
    completed = history.events[-1].workflow_execution_completed_event_attributes
    assert completed.result.payloads[0].metadata[KEY_ID] == b"key-b"
    # The history opens with both keys, and only with them.
    opened = await EncryptionCodec([key_b, key_a]).decode(list(started.input.payloads))
    assert citizen.id_number.encode() in opened[0].data


def case_level_values() -> set[str]:
    """What an employment-hardship case's search attributes may hold: its bundle, centre,
    whom it waits on (or that it failed) and its step, never a person. (Its due date and
    since when it waits are instants, and an attribute unset at the end is null.)"""
    steps = {s.id for s in EMPLOYMENT.steps}
    return steps | {EMPLOYMENT.id, "liangxi-chongan", AWAITING_FAILED} | set(
        get_args(Awaiting))


def an_instant(value: object) -> bool:
    """OtDueDate's or OtWaitingSince's value: an ISO 8601 instant with its offset,
    nothing else in it."""
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


# The ids of the patch markers a case writes: Temporal keeps them in clear, names in code.
PATCH_MARKERS = {OUTAGE_PATCH, DUE_DATE_PATCH, WAITING_SINCE_PATCH}


def readable_without_a_person(data: bytes) -> bool:
    """A clear payload is a search attribute's value (none: an attribute unset, empty
    data) or a patch marker's id."""
    if not data:
        return True
    value = json.loads(data)
    if isinstance(value, dict):  # a patch marker: {"id": ..., "deprecated": ...}
        return set(value) == {"id", "deprecated"} and value["id"] in PATCH_MARKERS
    if isinstance(value, list):  # TemporalChangeVersion: the patches the case took
        return set(value) <= PATCH_MARKERS
    return value is None or an_instant(value) or (
        isinstance(value, str) and value in case_level_values())


async def test_search_attributes_hold_only_case_level_values(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    start = bundle_start(EMPLOYMENT, citizen)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue
        )
        await wait_for(handle, waiting_on_clerk)
        described = await handle.describe()
        every = {p.key.name: p.value for p in described.typed_search_attributes}
        # Temporal's own (BuildIds: the worker's build) aside, only the worklist's.
        attributes = {k: v for k, v in every.items() if k not in TEMPORAL_OWN}
        assert set(attributes) <= set(SEARCH_ATTRIBUTES)
        for personal in (citizen.id_number, citizen.name, citizen.phone):
            assert personal not in repr(every)
        assert attributes["OtBundle"] == EMPLOYMENT.id
        assert attributes["OtCentre"] == start.centre
        assert attributes["OtAwaiting"] == "clerk"
        assert attributes["OtStep"] in {s.id for s in EMPLOYMENT.steps}
        due = attributes.pop("OtDueDate")
        assert isinstance(due, datetime) and due.tzinfo is not None  # a date, no person
        since = attributes.pop("OtWaitingSince")  # the step's start: an instant, no person
        assert isinstance(since, datetime) and since.tzinfo is not None and since <= due
        assert all(isinstance(v, str) and v in case_level_values()
                   for v in attributes.values()), attributes
        assert not await described.memo()  # nothing about the person rides along either
        await handle.terminate("test over")


async def test_a_case_opened_through_the_gateway_is_sealed(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    # The gateway's typed workflow calls go through the client it is given: the one
    # connect() makes with the installation's keys.
    key = PayloadKey("gateway-key", generate_key())
    citizen = citizen_where(population, ecerts=True, bank=True)
    sealed = with_keys(dev_env.client, key)
    async with served_gateway(sealed, store, task_queue, agency_urls) as gateway:
        opened = await gateway.post("/api/cases", json={
            "bundle": EMPLOYMENT.id, "citizen_id_number": citizen.id_number,
            "centre": "liangxi-chongan"})
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case_id"]
        first = await wait_for_desk(HttpDesk(gateway, case_id), waiting_on_clerk)
        assert first.dossier["identity.name"].value == citizen.name  # read back, opened
        await sealed.get_workflow_handle(case_id).terminate("test over")

    history = await dev_env.client.get_workflow_handle(case_id).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert citizen.id_number.encode() not in raw
    assert citizen.name.encode() not in raw
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata[KEY_ID] == b"gateway-key"
