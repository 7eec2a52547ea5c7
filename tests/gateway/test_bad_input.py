"""Bad input is a clear 4xx naming the field, always; Temporal away is a 503 with
Retry-After; an unforeseen failure is a 500 whose traceback is logged under the request's
trace id. Each test is a request that once answered 500, was accepted when it should not
have been, or that the fuzzer (test_fuzz.py) found the OpenAPI document wrong about, in
its minimal form. On the real dev server with a real worker and the real gateway."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import citizen_where, served_gateway
from litestar.plugins.problem_details import ProblemDetailsException
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from deploy.local import free_port, installed_binary
from deploy.settings import Settings
from deploy.sim import demo
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from friction.stuck_points import StuckPoint
from gateway.accounts import Account
from gateway.cases.schemas import DEFAULT_CENTRES, OpenCase
from gateway.cases.service import CaseService, new_case_id
from gateway.errors import RETRY_AFTER_SECONDS, from_temporal, is_unavailable
from kernel.converter import DATA_CONVERTER
from workflows.calendar_source import load_calendar
from workflows.case import FieldEntry
from workflows.definition import Catalogue

PROBLEM = "application/problem+json"
ID_NUMBER = "320211198001011234"  # shaped like a resident's ID number


def refused(response: httpx.Response, status: int = 422) -> str | None:
    """The field a problem-details refusal names."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    field: str | None = response.json().get("field")
    return field


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, fresh_agencies: object, agency_urls: dict[str, str],
    store: SqliteFrictionStore, task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, agency_urls) as client:
        yield client


def open_body(citizen: Citizen, **change: str) -> dict[str, str]:
    return {"bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
            "centre": "liangxi-chongan", **change}


async def open_case(api: httpx.AsyncClient, citizen: Citizen) -> str:
    opened = await api.post("/api/cases", json=open_body(citizen))
    assert opened.status_code == 201, opened.text
    case_id: str = opened.json()["case_id"]
    return case_id


async def test_a_3mb_value_is_refused_before_temporal_and_the_case_answers_on(
    api: httpx.AsyncClient, population: list[Citizen]
) -> None:
    case_id = await open_case(api, citizen_where(population, ecerts=True, bank=True))
    fields = f"/api/cases/{case_id}/fields"
    # Once a 500 after 14-20 s, and the case answering 500 to everyone meanwhile.
    huge = await api.post(fields, json={"step": "hardship-application",
                                        "values": {"phone": "1" * 3_000_000}})
    assert refused(huge, 413) is None
    long = await api.post(fields, json={"step": "hardship-application",
                                        "values": {"phone": "1" * 1001}})
    assert refused(long) == "values"
    many = await api.post(fields, json={"step": "hardship-application",
                                        "values": {f"f{i}": "x" for i in range(101)}})
    assert refused(many) == "values"
    note = await api.post(f"/api/cases/{case_id}/notes",
                          json={"category": "form", "text": "长" * 2001})
    assert refused(note) == "text"
    trip = await api.post(f"/api/cases/{case_id}/trips", json={"reasons": ["x" * 201]})
    assert refused(trip) == "reasons"
    assert (await api.get(f"/api/cases/{case_id}")).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"centre": "liangxi\x00chongan"}, "centre"),
        ({"centre": "nowhere-street"}, "centre"),  # no such centre here
        ({"channel": "x" * 100_000}, "channel"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"citizen_id_number": "000000000000000000"}, "citizen_id_number"),  # fuzzer's
        ({"citizen_id_number": "3202111980"}, "citizen_id_number"),
    ],
)
async def test_opening_a_case_refuses_what_the_installation_does_not_know(
    api: httpx.AsyncClient, population: list[Citizen], store: SqliteFrictionStore,
    change: dict[str, str], field: str,
) -> None:
    response = await api.post("/api/cases", json=open_body(population[0], **change))
    assert refused(response) == field
    assert store.case_counts() == {}  # nothing was opened, nothing stored


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("centre=x%5C", "centre"),  # a backslash broke Temporal's visibility query: 500
        ("centre=%00", "centre"),
        ("centre=nowhere-street", "centre"),
        ("bundle=no-such-bundle", "bundle"),
        ("awaiting=everyone", "awaiting"),
    ],
)
async def test_a_worklist_filter_the_installation_does_not_know_is_a_422(
    api: httpx.AsyncClient, query: str, field: str
) -> None:
    assert refused(await api.get(f"/api/worklist?{query}")) == field


async def test_a_friction_event_dated_9999_is_rejected_and_the_rest_kept(
    api: httpx.AsyncClient, store: SqliteFrictionStore
) -> None:
    good = {"kind": "search_only_entry", "event_id": "app-7",
            "occurred_at": datetime.now(UTC).isoformat(), "bundle": "population-certificate",
            "channel": "online", "service": "population-certificate", "entry_path": "search"}
    batch = {"events": [good, {**good, "event_id": "app-8", "occurred_at": "9999-12-31T00:00:00Z"},
                        {**good, "event_id": "app-9", "occurred_at": "1999-12-31T00:00:00Z"}]}
    response = await api.post("/api/friction/events", json=batch)
    assert response.status_code == 200, response.text  # once a 500
    result = response.json()
    assert [s.rsplit(":", 1)[-1] for s in result["stored"]] == ["app-7"]  # in its namespace
    assert [(r["index"], r["error"].split(":")[0]) for r in result["rejected"]] == [
        (1, "occurred_at"), (2, "occurred_at")]
    assert {k: n for k, n in store.counts_by_kind().items() if n} == {"search_only_entry": 1}
    many = {"events": [{**good, "event_id": f"app-{i}"} for i in range(1001, 2002)]}
    assert refused(await api.post("/api/friction/events", json=many)) == "events"
    assert {k: n for k, n in store.counts_by_kind().items() if n} == {"search_only_entry": 1}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2090-11-31", "since"),  # the fuzzer's: no 31 November
        ("since=9999-12-31", "since"),
        ("until=2026-03-03T00:00:00", "until"),  # no offset
        ("since=0001-01-01T00:00%2B14:00", "since"),
    ],
)
async def test_an_export_or_report_outside_its_instants_is_a_422(
    api: httpx.AsyncClient, query: str, field: str
) -> None:
    assert refused(await api.get(f"/api/friction/ocel?{query}")) == field
    assert refused(await api.get(f"/api/reports?{query}")) == field
    assert refused(await api.get(f"/api/access-log?{query}")) == field  # the fuzzer's


async def all_unavailable(api: httpx.AsyncClient, citizen: Citizen) -> None:
    case_id = new_case_id(datetime.now(UTC), None)
    for response in (
        await api.get(f"/api/cases/{case_id}"),
        await api.post("/api/cases", json=open_body(citizen)),
        await api.get("/api/worklist"),
        await api.post(f"/api/cases/{case_id}/trips", json={"reasons": []}),
    ):
        refused(response, 503)
        assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


async def test_temporal_gone_is_a_503_with_retry_after(
    store: SqliteFrictionStore, task_queue: str, population: list[Citizen]
) -> None:
    # The gateway's Temporal server stops under it (as when it restarts).
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"))
    client = await Client.connect(env.client.service_client.config.target_host,
                                  data_converter=DATA_CONVERTER,
                                  retry_config=RetryConfig(max_retries=1))
    await env.shutdown()
    async with served_gateway(client, store, task_queue) as api:
        await all_unavailable(api, population[0])


async def test_a_gateway_started_while_temporal_is_away_answers_503(
    store: SqliteFrictionStore, task_queue: str, population: list[Citizen]
) -> None:
    away = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True,
                                data_converter=DATA_CONVERTER,
                                retry_config=RetryConfig(max_retries=1))
    async with served_gateway(away, store, task_queue) as api:
        await all_unavailable(api, population[0])


def test_a_worker_restart_cutting_a_call_off_is_a_503() -> None:
    # What the server answers when a worker restarts under a call in flight.
    for exc in (RPCError("context canceled", RPCStatusCode.UNKNOWN, b""),
                RPCError("call cancelled", RPCStatusCode.CANCELLED, b""),
                RPCError("no worker in time", RPCStatusCode.DEADLINE_EXCEEDED, b"")):
        assert is_unavailable(exc)
        problem = from_temporal("20261207-ABCDEFGH", exc)
        assert problem.status_code == 503
        assert problem.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    with pytest.raises(RPCError):  # anything else is no 503: it is logged as a 500
        from_temporal("20261207-ABCDEFGH", RPCError("bad", RPCStatusCode.INTERNAL, b""))


class BrokenStore(SqliteFrictionStore):
    """A store whose stuck-point read fails in a way nobody foresaw, quoting a resident."""

    def stuck_point(self, fingerprint: str) -> StuckPoint | None:
        raise RuntimeError(f"lost the disk while reading for {ID_NUMBER}")


async def test_an_unforeseen_failure_is_a_500_logged_with_its_trace_id(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
) -> None:
    broken = BrokenStore(tmp_path / "broken.db")
    records: list[logging.LogRecord] = []
    # Litestar configures logging when the app starts, so pytest's capture cannot be
    # relied on: a handler of the test's own on the module's logger.
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("gateway.errors").addHandler(handler)
    try:
        async with served_gateway(dev_env.client, broken, task_queue,
                                  tracer_provider=TracerProvider()) as api:
            response = await api.get(f"/api/friction/stuck-points/x|y|z|{ID_NUMBER}",
                                     params={"probe": ID_NUMBER})
    finally:
        logging.getLogger("gateway.errors").removeHandler(handler)
        broken.close()
    refused(response, 500)
    trace_id = response.json()["trace_id"]
    assert trace_id and len(trace_id) == 32
    logged = "\n".join(r.getMessage() for r in records)
    assert trace_id in logged
    assert "Traceback" in logged and "RuntimeError: lost the disk" in logged
    assert "GET /api/friction/stuck-points/{fingerprint}" in logged
    assert ID_NUMBER not in logged  # neither the exception's text nor the URL leaks it


async def test_the_document_says_what_the_api_answers(api: httpx.AsyncClient) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    for path, operations in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("400", "422", "500"):
                content = responses[status]["content"]
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                    method, path, status)
    assert {"status", "title", "detail", "field"} <= set(schemas["Problem"]["properties"])
    # The fuzzer's: a 429 from the token's limit, and /metrics as text, not JSON.
    assert "429" in paths["/api/auth/token"]["post"]["responses"]
    assert "/metrics" not in paths
    # Temporal UI's remote codec: problems too, and a body that is not JSON.
    assert {"401", "403", "415", "422"} <= set(paths["/codec/decode"]["post"]["responses"])
    unavailable = paths["/api/cases/{case_id}"]["get"]["responses"]["503"]
    assert "Retry-After" in unavailable["headers"]
    assert {"404", "409", "413"} <= set(paths["/api/cases/{case_id}/fields"]["post"]
                                        ["responses"])
    # What each field accepts: lengths, patterns and the installation's names.
    opening = schemas["OpenCase"]["properties"]
    assert sorted(opening["centre"]["enum"]) == sorted(DEFAULT_CENTRES)
    assert sorted(opening["channel"]["enum"]) == ["online", "qr", "window"]
    assert "employment-hardship" in opening["bundle"]["enum"]
    assert schemas["FieldsBody"]["properties"]["values"]["additionalProperties"] == {
        "type": "string", "maxLength": 1000}
    worklist = {p["name"]: p["schema"] for p in paths["/api/worklist"]["get"]["parameters"]}
    assert "pattern" in worklist["centre"] or "pattern" in str(worklist["centre"])
    # The OCEL export is documented as the object it is.
    ocel = paths["/api/friction/ocel"]["get"]["responses"]["200"]["content"]
    assert ocel["application/json"]["schema"] == {"$ref": "#/components/schemas/OcelLog"}
    assert schemas["OcelLog"]["type"] == "object"
    exported = (await api.get("/api/friction/ocel")).json()
    assert set(exported) == set(schemas["OcelLog"]["required"])


async def test_the_console_path_bounds_values_too(
    dev_env: WorkflowEnvironment, population: list[Citizen]
) -> None:
    # The console builds the workflow's entry from its form, without the API's decoding.
    cases = CaseService(dev_env.client, Catalogue.load(), load_calendar, "no-queue",
                        citizen_key=b"a test key")
    entry = FieldEntry(step="hardship-application", values={"phone": "1" * 1001})
    with pytest.raises(ProblemDetailsException) as refusal:
        await cases.submit_fields("20261207-ABCDEFGH", entry)
    assert refusal.value.status_code == 422
    assert refusal.value.extra == {"field": "values"}
    opening = OpenCase(bundle="employment-hardship", citizen_id_number=population[0].id_number,
                       centre="liangxi-chongan", channel="carrier-pigeon")
    with pytest.raises(ProblemDetailsException) as refusal:
        await cases.open(opening, None, Account(username="admin", display_name="admin",
                                                roles=("admin",)))
    assert refusal.value.extra == {"field": "channel"}


def test_the_demo_opens_cases_at_centres_the_installation_knows() -> None:
    assert set(demo.CENTRES) <= set(Settings.from_env({}).centres) == set(DEFAULT_CENTRES)
    assert Settings.from_env({"ONETHING_CENTRES": "a-centre, b-centre"}).centres == (
        "a-centre", "b-centre")


@pytest.mark.parametrize(
    "path", ["/api/reports?group_by=step&bundle=null",  # the fuzzer's (seed 1)
             "/api/friction/backlog?bundle=null"])
async def test_a_notebook_filter_by_an_unknown_bundle_is_a_422(
    api: httpx.AsyncClient, path: str
) -> None:
    assert refused(await api.get(path)) == "bundle"


async def test_a_console_form_too_large_is_refused(api: httpx.AsyncClient) -> None:
    page = await api.post("/login", data={"username": "x" * 300_000, "password": "y"})
    assert page.status_code == 413
