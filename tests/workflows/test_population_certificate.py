"""The population information certificate (常住人口信息证明) online, on the real dev server
with a real worker and the agency simulator, started through the gateway's API.

The Wuxi account: online, the certificate had no entry on the app's home page, only
search, and basic data had to be typed again. Here the form is filled from the identity
and household look-ups (nothing typed); a start by search while the channel's catalogue
gives the service no direct entry is one search-only entry in the notebook, however often
the request is retried; once catalogue version 2 gives it a home tile, starts record none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from conftest import ServedApp, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import HttpDesk, wait_for
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.channels.service import service_catalogue
from gateway.issued_documents import AgencyDocuments, normalise_code
from kernel.events import SearchOnlyEntry
from workflows.case import CaseProgress

BUNDLE = "population-certificate"
Gateway = Callable[[int], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def gateway(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
) -> Gateway:
    """The gateway with the online channel's catalogue of the given version."""

    def serve(version: int) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return served_gateway(
            dev_env.client, store, task_queue, agency_urls,
            services=service_catalogue("online", version),
            documents=AgencyDocuments(agency_urls, ["public-security"]),
        )

    return serve


def online_start(citizen: Citizen, entry: str | None) -> dict[str, str]:
    body = {"bundle": BUNDLE, "citizen_id_number": citizen.id_number, "centre": "online-app",
            "channel": "online"}
    return body if entry is None else {**body, "entry": entry}


async def issued(http: httpx.AsyncClient, case_id: str) -> CaseProgress:
    final = await wait_for(HttpDesk(http, case_id), lambda p: p.status != "open")
    assert final.status == "completed", final
    return final


def search_only_entries(store: SqliteFrictionStore, case_id: str) -> list[SearchOnlyEntry]:
    return [e for e in store.events_for_case(case_id) if isinstance(e, SearchOnlyEntry)]


async def test_online_certificate_needs_nothing_typed_and_a_search_start_is_recorded_once(
    gateway: Gateway, population: list[Citizen], store: SqliteFrictionStore,
    dev_env: WorkflowEnvironment,
) -> None:
    citizen = population[3]
    key = {"Idempotency-Key": f"app-{uuid.uuid4().hex}"}
    async with gateway(1) as http:
        opened = await http.post("/api/cases", json=online_start(citizen, "search"), headers=key)
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case_id"]
        final = await issued(http, case_id)

        # Every field came from the look-ups: the citizen typed nothing.
        assert final.fields_total == final.fields_prefilled == 7
        (step,) = final.steps
        assert step.agency == "public-security" and not step.missing_fields
        assert all(f.prefilled and f.source and f.source.source == "public-security"
                   for f in step.fields)
        assert {f.name: f.value for f in step.fields}["household_size"] == \
            citizen.household_size
        assert not [n for n in final.friction if n.kind == "manual_reentry"]
        # The certificate: a number and a verification code issued by the agency.
        assert final.dossier["population.certificate_no"].value.startswith("GA-")
        code = final.dossier["population.verification_code"].value
        assert normalise_code(code) == code
        assert citizen.id_number[-6:] not in code.replace("-", "")

        # The search start without a direct entry: one search-only entry, at the service.
        (event,) = search_only_entries(store, case_id)
        assert (event.service, event.channel, event.bundle, event.step) == (
            BUNDLE, "online", BUNDLE, None)
        assert event.entry_path.startswith("search")
        assert event.event_id == f"{case_id}/entry"

        # The app retries the request after the case has closed: the same case, and the
        # notebook still holds one event; no second run of the case starts.
        run = (await dev_env.client.get_workflow_handle(case_id).describe()).run_id
        again = await http.post("/api/cases", json=online_start(citizen, "search"), headers=key)
        assert again.status_code == 201 and again.json()["case_id"] == case_id
        assert (await dev_env.client.get_workflow_handle(case_id).describe()).run_id == run
        assert len(search_only_entries(store, case_id)) == 1
        assert store.counts_by_kind()["search_only_entry"] == 1
        (point,) = [p for p in store.stuck_points() if p.kind == "search_only_entry"]
        assert point.fingerprint == f"search_only_entry|{BUNDLE}|-|{BUNDLE}"

        # Anyone holding the certificate can check its code on the public page.
        page = await http.get(f"/verify/{code}", headers={"Authorization": ""})
        assert page.status_code == 200 and case_id in page.text


async def test_a_home_tile_in_catalogue_version_2_ends_the_search_only_entries(
    gateway: Gateway, population: list[Citizen], store: SqliteFrictionStore
) -> None:
    async with gateway(2) as http:
        by_tile = await http.post("/api/cases", json=online_start(population[4], "home_tile"))
        assert by_tile.status_code == 201, by_tile.text
        tile_case = by_tile.json()["case_id"]
        # A citizen who searches although the tile is there met no missing entry either.
        by_search = await http.post("/api/cases", json=online_start(population[5], "search"))
        search_case = by_search.json()["case_id"]
        for case_id in (tile_case, search_case):
            final = await issued(http, case_id)
            assert final.fields_total == final.fields_prefilled
    assert search_only_entries(store, tile_case) == []
    assert search_only_entries(store, search_case) == []
    assert store.counts_by_kind().get("search_only_entry", 0) == 0


@pytest.fixture
async def gateway_v1(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(1) as http:
        yield http


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"entry": "home_tile"}, 422),  # version 1 has no home tile for it
        ({"channel": "window"}, 422),  # a window start names no app entry
        ({"entry": "banner"}, 422),  # no such kind of entry
    ],
)
async def test_an_entry_the_catalogue_does_not_know_is_refused_naming_the_field(
    gateway_v1: httpx.AsyncClient, population: list[Citizen], store: SqliteFrictionStore,
    change: dict[str, str], status: int,
) -> None:
    body = {**online_start(population[6], "search"), **change}
    response = await gateway_v1.post("/api/cases", json=body)
    assert response.status_code == status, response.text
    assert "entry" in response.text
    if status == 422:
        assert response.json()["field"] == "entry"
    assert store.case_counts() == {}  # no case opened


async def test_an_online_start_without_an_entry_still_opens_a_case(
    gateway_v1: httpx.AsyncClient, population: list[Citizen], store: SqliteFrictionStore
) -> None:
    # The API as it was: entry is optional, and an unknown entry records nothing.
    opened = await gateway_v1.post("/api/cases", json=online_start(population[7], None))
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    await issued(gateway_v1, case_id)
    assert search_only_entries(store, case_id) == []
