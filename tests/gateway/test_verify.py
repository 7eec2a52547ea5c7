"""The public verification page: a certificate's code checked against the register of
the agency that issued it, showing its number, case and date and the holder masked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import ServedApp, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.issued_documents import AgencyDocuments, mask_name, normalise_code

OUTPUTS = ["population.certificate_no", "population.verification_code", "population.issued_on"]
NOT_ISSUED = "未查到使用该验证码出具的证明"


async def issue(sim: ServedApp, citizen: Citizen, case_id: str) -> dict[str, str]:
    """The public-security bureau approves a certificate step, as the worker's activity
    would submit it; the outputs are the certificate's number, code and date."""
    async with httpx.AsyncClient(base_url=sim.url) as http:
        response = await http.post(
            "/public-security/submissions",
            headers={"Idempotency-Key": f"{case_id}:certificate-issue:0"},
            json={"case_id": case_id, "step": "certificate-issue",
                  "form": {"id_number": citizen.id_number, "applicant_name": citizen.name},
                  "outputs": OUTPUTS},
        )
    response.raise_for_status()
    decision = response.json()
    assert decision["status"] == "approved"
    outputs: dict[str, str] = decision["outputs"]
    return outputs


@pytest.fixture
async def public(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway as anyone on the internet meets it: no token, no session."""
    async with served_gateway(
        dev_env.client, store, task_queue, headers={},
        documents=AgencyDocuments(agency_urls, ["public-security"]),
    ) as http:
        yield http


def case_number() -> str:
    return f"20260315-{uuid.uuid4().hex[:8].upper().translate(str.maketrans('01', '23'))}"


async def test_a_valid_code_shows_the_certificate_with_the_holder_masked(
    public: httpx.AsyncClient, fresh_agencies: ServedApp, population: list[Citizen]
) -> None:
    citizen = population[10]
    case_id = case_number()
    issued = await issue(fresh_agencies, citizen, case_id)
    code = issued["population.verification_code"]
    assert normalise_code(code) == code

    page = await public.get(f"/verify/{code}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "已出具：该证明真实有效" in html and "常住人口信息证明" in html
    assert issued["population.certificate_no"] in html and case_id in html
    assert f'<td id="holder">{citizen.name[0]}*</td>' in html
    # Nothing that identifies the holder: no full name, ID number, address or phone.
    for personal in (citizen.name, citizen.id_number, citizen.address, citizen.phone):
        assert personal not in html

    # As typed off the paper: lower case, without hyphens, with spaces.
    typed = code.replace("-", " ").lower()
    assert (await public.get(f"/verify/{typed}")).status_code == 200
    # The form sends ?code=; the answer is at the address printed on the certificate.
    asked = await public.get("/verify", params={"code": code}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == f"/verify/{code}"
    form = await public.get("/verify")
    assert form.status_code == 200 and 'name="code"' in form.text


@pytest.mark.parametrize("code", ["ABCD-EFGH-JKMN", "not-a-code", "0000-0000-0000"])
async def test_a_wrong_code_is_a_404_page_with_a_clear_message(
    public: httpx.AsyncClient, code: str
) -> None:
    page = await public.get(f"/verify/{code}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert NOT_ISSUED in page.text and 'id="verify-error"' in page.text
    english = await public.get(f"/verify/{code}", headers={"Cookie": "onething-lang=en"})
    assert "No certificate was issued with this verification code" in english.text


async def test_the_agencys_register_unreachable_is_said_so(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    dead = {"public-security": "http://127.0.0.1:9/public-security"}
    async with served_gateway(
        dev_env.client, store, task_queue, headers={},
        documents=AgencyDocuments(dead, ["public-security"], timeout=1),
    ) as public:
        page = await public.get("/verify/ABCD-EFGH-JKMN")
    assert page.status_code == 503 and "暂时无法连接出具部门" in page.text


async def test_guessing_codes_is_rate_limited(public: httpx.AsyncClient) -> None:
    statuses = [(await public.get("/verify/ABCD-EFGH-JKMN")).status_code for _ in range(31)]
    assert statuses[:30] == [404] * 30 and statuses[30] == 429


async def test_the_agency_issues_a_random_code_once_and_keeps_it(
    fresh_agencies: ServedApp, population: list[Citizen]
) -> None:
    citizen = population[11]
    case_id = case_number()
    first = await issue(fresh_agencies, citizen, case_id)
    # A retried submission is answered from the record: the same certificate.
    assert await issue(fresh_agencies, citizen, case_id) == first
    # Another case of the same person gets another code: nothing derives it from them.
    other = await issue(fresh_agencies, citizen, case_number())
    assert other["population.verification_code"] != first["population.verification_code"]
    async with httpx.AsyncClient(base_url=fresh_agencies.url) as http:
        code = first["population.verification_code"]
        found: dict[str, Any] = (await http.get(f"/public-security/documents/{code}")).json()
        missing = await http.get("/public-security/documents/ABCD-EFGH-JKMN")
        elsewhere = await http.get(f"/hrss/documents/{code}")
    assert found["holder"] == mask_name(citizen.name) == f"{citizen.name[0]}*"
    assert found["case_id"] == case_id
    assert found["certificate_no"] == first["population.certificate_no"]
    assert found["issued_on"] == first["population.issued_on"]
    assert citizen.id_number not in str(found)
    assert missing.status_code == 404 and elsewhere.status_code == 404
