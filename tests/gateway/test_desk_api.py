"""Finding cases and the warning before a citizen's second open case, through the API:
a second open case of the same bundle for the same citizen is a 409 naming the first
unless confirmed; a search by ID number finds the citizen's cases of the caller's centres
by keyed reference (the number never reaches Temporal) and is recorded in the access log;
the worklist comes a page at a time with its total."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import bearer, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.cases.schemas import DEFAULT_CENTRES
from workflows.case import SA_CITIZEN

CENTRE = "xishan-dongting-east"  # this module's own centre: its worklist holds its cases
OTHER = "binhu-hehu"
BUNDLE = "employment-hardship"


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    # No worker: the cases stay running where they start, which is all these checks need.
    async with served_gateway(dev_env.client, store, task_queue,
                              centres=(*DEFAULT_CENTRES, CENTRE)) as client:
        yield client


async def open_case(api: httpx.AsyncClient, citizen: Citizen, bundle: str = BUNDLE,
                    **extra: object) -> httpx.Response:
    headers = {"Idempotency-Key": str(extra.pop("key"))} if "key" in extra else {}
    return await api.post("/api/cases", headers=headers, json={
        "bundle": bundle, "citizen_id_number": citizen.id_number, "centre": CENTRE,
        **extra})


async def test_a_second_open_case_of_a_bundle_is_refused_unless_confirmed(
    api: httpx.AsyncClient, population: list[Citizen],
) -> None:
    citizen = population[0]
    first = await open_case(api, citizen, key="first-visit")
    assert first.status_code == 201, first.text
    first_id = first.json()["case_id"]
    # The same request again is the same case, not a second one.
    again = await open_case(api, citizen, key="first-visit")
    assert again.status_code == 201 and again.json()["case_id"] == first_id

    second = await open_case(api, citizen)
    assert second.status_code == 409, second.text
    problem = second.json()
    assert problem["field"] == "confirm_duplicate"
    assert problem["existing_case"] == first_id
    assert citizen.id_number not in second.text

    confirmed = await open_case(api, citizen, confirm_duplicate=True)
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["case_id"] != first_id
    # Another bundle, or another citizen: no warning.
    other_bundle = await open_case(api, citizen, bundle="residence-permit")
    assert other_bundle.status_code == 201, other_bundle.text
    assert (await open_case(api, population[1])).status_code == 201

    # The OpenAPI document says so.
    schema = (await api.get("/schema/openapi.json")).json()
    assert "409" in schema["paths"]["/api/cases"]["post"]["responses"]


async def test_a_search_by_id_number_finds_the_centres_cases_and_is_recorded(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, store: SqliteFrictionStore,
    population: list[Citizen],
) -> None:
    citizen = population[2]
    opened = []
    for bundle in (BUNDLE, "residence-permit"):
        answer = await open_case(api, citizen, bundle=bundle)
        assert answer.status_code == 201, answer.text
        opened.append(answer.json()["case_id"])
    assert (await open_case(api, population[3])).status_code == 201

    clerk = bearer("clerk", centres=(CENTRE,))
    found = await api.post("/api/cases/search", headers=clerk,
                           json={"by": "id_number",
                                 "citizen_id_number": citizen.id_number.lower()})
    assert found.status_code == 200, found.text
    assert sorted(c["case_id"] for c in found.json()["cases"]) == sorted(opened)
    assert all("citizen_name" not in c or c["citizen_name"] is None
               for c in found.json()["cases"])
    # A clerk of another centre finds none of them.
    elsewhere = await api.post("/api/cases/search", headers=bearer("clerk", centres=(OTHER,)),
                               json={"by": "id_number", "citizen_id_number": citizen.id_number})
    assert elsewhere.status_code == 200 and elsewhere.json()["cases"] == []
    searches = [e for e in store.access_entries() if e.action == "search"]
    assert len(searches) == 2 and all(e.status == 200 for e in searches)

    # By the start of a case number; a bad one, or a bad ID number, names the field.
    by_start = await api.post("/api/cases/search", headers=clerk,
                              json={"by": "case_number", "case_id": opened[0][:12]})
    assert opened[0] in [c["case_id"] for c in by_start.json()["cases"]]
    for body, field in (({"by": "case_number", "case_id": "2026' OR '1'='1"}, "case_id"),
                        ({"by": "case_number", "case_id": "ABCD2345"}, "case_id"),
                        ({"by": "id_number", "citizen_id_number": "110101199001011230"},
                         "citizen_id_number"),
                        ({"by": "name", "citizen_id_number": citizen.id_number}, "by")):
        refused = await api.post("/api/cases/search", headers=clerk, json=body)
        assert refused.status_code in (400, 422), refused.text
        assert refused.json()["field"] == field, refused.text

    # Temporal holds a keyed reference, never the number.
    described = await dev_env.client.get_workflow_handle(opened[0]).describe()
    values = [str(v) for v in described.search_attributes.values()]
    assert citizen.id_number not in "".join(values)
    assert described.search_attributes[SA_CITIZEN] != [citizen.id_number]


async def test_the_worklist_comes_a_page_at_a_time_with_its_total(
    api: httpx.AsyncClient, population: list[Citizen],
) -> None:
    headers = bearer("clerk", centres=(CENTRE,))
    params = {"awaiting": "lookup", "bundle": "population-certificate"}
    before = (await api.get("/api/worklist", headers=headers, params=params)).json()["total"]
    opened = set()
    for citizen in population[4:7]:
        answer = await open_case(api, citizen, bundle="population-certificate")
        assert answer.status_code == 201, answer.text
        opened.add(answer.json()["case_id"])
    pages = []
    for page in (1, 2):
        answer = await api.get("/api/worklist", headers=headers,
                               params={**params, "limit": before + 2, "page": page})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["total"], body["complete"], body["page"]) == (before + 3, True, page)
        pages.append([c["case_id"] for c in body["cases"]])
    assert [len(p) for p in pages] == [before + 2, 1]
    assert not set(pages[0]) & set(pages[1]) and opened <= {*pages[0], *pages[1]}
