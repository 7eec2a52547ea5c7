"""The OpenAPI document fuzzed against the real gateway (schemathesis): on the real dev
server with a real worker, behind a real token from POST /api/auth/token, no request
answers 5xx and every answer is what the document says (status, content type, headers,
body), for data the schema allows and data it does not.

The budget is fixed and the run derandomized: EXAMPLES per operation and mode, from SEED,
so a failure is the same failure on the next run. Each failure it found is a regular test
in test_bad_input.py, with its minimal request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import requests
import schemathesis
from conftest import citizen_where, served_gateway
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi import checks as openapi_checks
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook

SEED = 20261207
EXAMPLES = 30  # per operation, mode and pass: 2 modes x 2 passes x every operation
PASSWORD = "fuzz-the-gateway-2026"
# Where the API refuses what its schema cannot express, a 422 to schema-valid data is the
# answer due, not a drift between the document and the code: an ID number's check digit
# (opening a case, searching by it),
# whether a case or stuck point named in the body exists, the lifecycle of a backlog item,
# a period's start before its end (and 29 February in a common year), the case a channel's
# event names (a batch of which nothing is taken is a 422), the visit a rating names (one
# of the case's), a Temporal payload's base64 and its seal.
SEMANTIC_422 = {
    "POST /codec/decode",
    "POST /codec/encode",
    "POST /api/cases",
    "POST /api/cases/search",
    "POST /api/friction/events",
    "GET /api/access-log",
    "GET /api/reports",
    "GET /api/friction/ocel",
    "POST /api/cant-get-it-done",
    "POST /api/ratings",
    "POST /api/friction/backlog/{fingerprint}/transitions",
}
# A friction batch is judged event by event: a batch whose events break the schema is
# answered 200 with each bad event under `rejected`, never refused whole.
BATCHES = {"POST /api/friction/events"}
# Unknown query parameters are ignored, as HTTP APIs do; they are not generated.
CONFIG = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})


def examples(strategy: SearchStrategy[schemathesis.Case],
             check: Callable[[schemathesis.Case], None]) -> Callable[[], None]:
    """`check` run on EXAMPLES cases of `strategy`, from SEED; the failure shrunk."""

    @seed(SEED)
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        check(case)

    return run


def fuzz(base_url: str, token: str, case_id: str | None, calls: list[str]) -> list[str]:
    """Every operation in both modes; the failures, one line each (empty: none). With
    `case_id`, operations on a case all name that open case, so they reach its workflow;
    the workflow's own refusals (a step that is not current) are then due too. Each
    request made is appended to `calls` (its operation)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json", config=CONFIG)
    session = requests.Session()
    auth = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        params = {"case_id": case_id} if case_id and "{case_id}" in operation.path else None
        excluded: list[CheckFunction] = []
        if label in SEMANTIC_422 or params:
            excluded.append(openapi_checks.positive_data_acceptance)
        if label in BATCHES:
            excluded.append(openapi_checks.negative_data_rejection)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=params,
                                             headers=auth)


            def check(case: schemathesis.Case, op: str = label,
                      ex: list[CheckFunction] = excluded) -> None:
                calls.append(op)
                case.call_and_validate(base_url=base_url, session=session, headers=auth,
                                       excluded_checks=ex)

            try:
                examples(strategy, check)()
            except Unsatisfiable:
                pass  # negative: every part of the request is fixed, nothing to break
            except BaseExceptionGroup as exc:  # the checks' failures, the minimal request
                failures.append(f"{label} [{mode.value}]: {str(exc)[:1500]}")
    return failures


async def test_the_openapi_fuzzed_against_the_real_gateway(
    dev_env: WorkflowEnvironment, fresh_agencies: object, agency_urls: dict[str, str],
    store: SqliteFrictionStore, task_queue: str, tmp_path: Path, population: list[Citizen],
) -> None:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("fuzzer", PASSWORD, ("admin",), centres=("liangxi-chongan",))
    async with served_gateway(dev_env.client, store, task_queue, agency_urls,
                              accounts=book, headers={}) as http:
        issued = await http.post("/api/auth/token",
                                 json={"username": "fuzzer", "password": PASSWORD})
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        citizen = citizen_where(population, ecerts=True, bank=True)
        opened = await http.post(
            "/api/cases", headers={"Authorization": f"Bearer {token}"},
            json={"bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
                  "centre": "liangxi-chongan"})
        assert opened.status_code == 201, opened.text
        base = str(http.base_url).rstrip("/")
        # The gateway serves on this loop: the fuzzer's blocking calls run in a thread.
        calls: list[str] = []
        failures = await asyncio.to_thread(fuzz, base, token, None, calls)
        failures += await asyncio.to_thread(fuzz, base, token, opened.json()["case_id"], calls)
        health = await httpx.AsyncClient().get(f"{base}/healthz")
        assert health.status_code == 200
    print(f"fuzzed {len(set(calls))} operations with {len(calls)} requests (seed {SEED})")
    assert len(set(calls)) >= 18  # every operation of the API was reached
    assert failures == [], "\n\n".join(failures)
