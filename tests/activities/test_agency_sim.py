"""The agency simulator and its synthetic population, over the simulator's HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient

from deploy.sim.agencies import create_app
from deploy.sim.population import Citizen, generate, lookup_values
from kernel.china_time import local_date
from workflows.definition import LOOKUP_SOURCES
from workflows.fields import check_id_number

TODAY = date(2025, 6, 16)
PROBLEM = "application/problem+json"
SERVED = [
    ("public-security", "identity"),
    ("public-security", "household"),
    ("hrss", "insurance_history"),
    ("hrss", "bank_account"),
    ("civil-affairs", "low_income"),
]
REASONS = [
    {
        "code": "grade_not_allowed",
        "message_zh": "缴费档次不符",
        "message_en": "Grade not allowed",
        "field": "contribution_grade",
        "material": None,
    },
    {
        "code": "id_card_unreadable",
        "message_zh": "身份证复印件不清晰",
        "message_en": "ID card copy unreadable",
        "field": None,
        "material": "resident_id_card",
    },
]

Client = AsyncTestClient[Litestar]


@pytest.fixture(scope="module")
def citizens() -> list[Citizen]:
    return generate(seed=3, size=60)


@pytest.fixture
async def client(citizens: list[Citizen]) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(citizens)) as opened:
        yield opened


@contextlib.asynccontextmanager
async def served(app: Litestar) -> AsyncIterator[str]:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        listening.close()


def first(citizens: list[Citizen], **wanted: bool) -> Citizen:
    checks: dict[str, Callable[[Citizen], bool]] = {
        "bank": lambda c: c.bank_account is not None,
        "low_income": lambda c: c.low_income,
        "ecerts": lambda c: "resident_id_card" in c.certificates,
    }
    return next(c for c in citizens if all(checks[k](c) is v for k, v in wanted.items()))


def submission(
    case_id: str = "C-1", step: str = "unemployment-registration", **form: str
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "step": step,
        "form": form or {"applicant_name": "王伟", "phone": "13812345678"},
        "materials": {"resident_id_card": "ecert", "household_register": "paper"},
        "outputs": ["unemployment.registration_no", "unemployment.registered_on"],
    }


async def submit(
    client: Client, body: dict[str, Any], key: str, agency: str = "hrss"
) -> dict[str, Any]:
    response = await client.post(
        f"/{agency}/submissions", json=body, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def registered(client: Client, case_id: str) -> list[dict[str, Any]]:
    response = await client.get("/admin/submissions", params={"case_id": case_id})
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


async def behave(client: Client, agency: str, **behaviour: Any) -> None:
    response = await client.put(f"/admin/behaviour/{agency}", json=behaviour)
    assert response.status_code == 200, response.text


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# Population


def test_population_is_deterministic_and_well_formed() -> None:
    people = generate(seed=11, size=400, today=TODAY)
    assert people == generate(seed=11, size=400, today=TODAY)
    assert people != generate(seed=12, size=400, today=TODAY)
    assert len({p.id_number for p in people}) == 400
    for p in people:
        assert check_id_number(p.id_number, TODAY) is None, p.id_number
        assert p.id_number[:6] in {"320211", "320213", "320214", "320205", "320206"}
        assert p.gender == ("男" if int(p.id_number[16]) % 2 else "女")
        born = date.fromisoformat(p.birth_date)
        assert p.id_number[6:14] == born.strftime("%Y%m%d")
        age = TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))
        assert 25 <= age <= 59
        assert p.address.startswith("无锡市") and p.address[3:6].endswith("区")
        assert p.registration_type in {"urban", "rural"}
        assert p.household_size in {"1", "2", "3", "4", "5"}
        assert re.fullmatch(r"1[358]\d{9}", p.phone)
        assert "2024-06" <= p.last_contribution_month <= "2025-05"
        assert int(p.contribution_months) >= 6
        assert (p.bank_account is None) == (p.bank_name is None)
        assert p.bank_account is None or re.fullmatch(r"\d{16,19}", p.bank_account)
        assert (p.low_income_certificate_no is not None) == p.low_income
        assert ("low_income_certificate" in p.certificates) == p.low_income
        assert ("resident_id_card" in p.certificates) == ("household_register" in p.certificates)
    share = {
        "low_income": sum(p.low_income for p in people) / 400,
        "bank": sum(p.bank_account is not None for p in people) / 400,
        "ecerts": sum("resident_id_card" in p.certificates for p in people) / 400,
    }
    assert 0.12 < share["low_income"] < 0.28
    assert 0.84 < share["bank"] < 0.96
    assert 0.67 < share["ecerts"] < 0.83


def test_lookup_values_give_the_concepts_of_each_source(citizens: list[Citizen]) -> None:
    for citizen in citizens:
        for source, concepts in LOOKUP_SOURCES.items():
            values = lookup_values(citizen, source)
            if values is not None:
                assert set(values) <= set(concepts), source
        identity = lookup_values(citizen, "identity")
        assert identity is not None and identity["identity.id_number"] == citizen.id_number
        low = lookup_values(citizen, "low_income")
        assert low is not None
        assert low["civil.low_income"] == ("yes" if citizen.low_income else "no")
        assert ("civil.low_income_certificate_no" in low) == citizen.low_income
        assert (lookup_values(citizen, "bank_account") is None) == (citizen.bank_account is None)
    with pytest.raises(KeyError):
        lookup_values(citizens[0], "tax")


# Lookups and e-certificates


async def test_each_agency_answers_its_own_sources(client: Client, citizens: list[Citizen]) -> None:
    citizen = first(citizens, bank=True)
    for agency, source in SERVED:
        response = await client.get(
            f"/{agency}/lookup/{source}", headers={"X-Citizen-Id": citizen.id_number}
        )
        assert response.status_code == 200, (agency, source)
        assert response.json() == {"values": lookup_values(citizen, source)}


async def test_lookups_answer_404_problems(client: Client, citizens: list[Citizen]) -> None:
    unbanked = first(citizens, bank=False)
    known = citizens[0].id_number
    cases = [
        ("/hrss/lookup/bank_account", unbanked.id_number),  # no record in that source
        ("/public-security/lookup/identity", "320213199001010000"),  # nobody by that number
        ("/hrss/lookup/identity", known),  # hrss does not serve identity
        ("/ecert/lookup/identity", known),
        ("/tax-bureau/lookup/identity", known),  # no such agency
    ]
    for path, citizen in cases:
        response = await client.get(path, headers={"X-Citizen-Id": citizen})
        assert assert_problem(response, 404)["detail"], path


async def test_ecert_lists_the_certificates_held(client: Client, citizens: list[Citizen]) -> None:
    holder = first(citizens, ecerts=True, low_income=True)
    response = await client.get("/ecert/certificates", headers={"X-Citizen-Id": holder.id_number})
    assert response.json() == {
        "certificates": ["resident_id_card", "household_register", "low_income_certificate"]
    }
    stranger = await client.get(
        "/ecert/certificates", headers={"X-Citizen-Id": "320213199001010000"}
    )
    assert stranger.status_code == 200 and stranger.json() == {"certificates": []}


async def test_latency_delays_lookups(client: Client, citizens: list[Citizen]) -> None:
    await behave(client, "public-security", latency_ms=200)
    started = asyncio.get_running_loop().time()
    response = await client.get(
        "/public-security/lookup/identity", headers={"X-Citizen-Id": citizens[0].id_number}
    )
    assert response.status_code == 200
    assert asyncio.get_running_loop().time() - started >= 0.2


# Submissions


async def test_submission_is_approved_with_generated_outputs(client: Client) -> None:
    answer = await submit(client, submission("C-approve"), "C-approve:reg:0")
    assert answer["status"] == "approved" and answer["reasons"] == []
    outputs = answer["outputs"]
    assert set(outputs) == {"unemployment.registration_no", "unemployment.registered_on"}
    assert re.fullmatch(r"RS-\d{8}", outputs["unemployment.registration_no"])
    assert outputs["unemployment.registered_on"] == local_date(datetime.now(UTC)).isoformat()
    polled = await client.get(f"/hrss/submissions/{answer['receipt']}")
    assert polled.json() == answer
    elsewhere = await client.get(f"/civil-affairs/submissions/{answer['receipt']}")
    assert_problem(elsewhere, 404)


async def test_missing_idempotency_key_is_a_400_problem(client: Client) -> None:
    response = await client.post("/hrss/submissions", json=submission("C-nokey"))
    body = assert_problem(response, 400)
    assert "Idempotency-Key" in body["detail"]
    assert await registered(client, "C-nokey") == []


async def test_unknown_agency_takes_no_submissions(client: Client) -> None:
    for agency in ("ecert", "tax-bureau"):
        response = await client.post(
            f"/{agency}/submissions", json=submission("C-where"), headers={"Idempotency-Key": "k"}
        )
        assert_problem(response, 404)
    assert await registered(client, "C-where") == []


async def test_same_key_twice_registers_once(client: Client) -> None:
    once = await submit(client, submission("C-twice"), "C-twice:reg:0")
    again = await submit(client, submission("C-twice"), "C-twice:reg:0")
    assert again == once
    rows = await registered(client, "C-twice")
    assert [(r["idempotency_key"], r["registrations"]) for r in rows] == [("C-twice:reg:0", 1)]
    # The same key at another agency is another submission.
    other = await submit(client, submission("C-twice"), "C-twice:reg:0", agency="civil-affairs")
    assert other["receipt"] != once["receipt"]
    assert len(await registered(client, "C-twice")) == 2


async def test_reject_rate_one_rejects_the_first_submission_with_every_reason(
    client: Client,
) -> None:
    await behave(client, "social-insurance", reject_rate=1.0, reject_reasons=REASONS)
    body = submission("C-reject", "flexible-insurance-enrollment")
    rejected = await submit(client, body, "C-reject:fie:0", agency="social-insurance")
    assert rejected["status"] == "rejected"
    assert rejected["reasons"] == REASONS
    assert rejected["outputs"] == {}
    # The corrected resubmission is a new round, so a new key: approved.
    approved = await submit(client, body, "C-reject:fie:1", agency="social-insurance")
    assert approved["status"] == "approved" and approved["reasons"] == []
    assert approved["receipt"] != rejected["receipt"]
    rows = await registered(client, "C-reject")
    assert [r["status"] for r in rows] == ["rejected", "approved"]
    assert all(r["registrations"] == 1 for r in rows)


async def test_reject_rate_zero_never_rejects(client: Client) -> None:
    await behave(client, "hrss", reject_rate=0.0, reject_reasons=REASONS)
    for i in range(20):
        answer = await submit(client, submission(f"C-lucky-{i}"), f"C-lucky-{i}:reg:0")
        assert answer["status"] == "approved"


async def test_empty_fields_are_rejected_all_at_once(client: Client) -> None:
    body = submission("C-empty", applicant_name="王伟", phone=" ", last_employer="")
    answer = await submit(client, body, "C-empty:reg:0")
    assert answer["status"] == "rejected" and answer["outputs"] == {}
    assert {(r["code"], r["field"]) for r in answer["reasons"]} == {
        ("missing_field", "phone"),
        ("missing_field", "last_employer"),
    }
    assert all(r["message_zh"] and r["message_en"] for r in answer["reasons"])


async def test_pending_polls_turn_approved_after_that_many_polls(client: Client) -> None:
    await behave(client, "hrss", pending_polls=2)
    answer = await submit(client, submission("C-slow"), "C-slow:reg:0")
    assert answer["status"] == "pending" and answer["outputs"] == {}
    path = f"/hrss/submissions/{answer['receipt']}"
    statuses = [answer["status"]]
    for _ in range(2):
        statuses.append((await client.get(path)).json()["status"])
    assert statuses == ["pending", "pending", "approved"]
    approved = (await client.get(path)).json()
    assert approved["status"] == "approved"
    assert re.fullmatch(r"RS-\d{8}", approved["outputs"]["unemployment.registration_no"])
    # A retried submission now gets the stored, approved record.
    assert await submit(client, submission("C-slow"), "C-slow:reg:0") == approved


async def test_failure_rate_one_answers_503_and_registers_nothing(client: Client) -> None:
    await behave(client, "hrss", failure_rate=1.0)
    response = await client.post(
        "/hrss/submissions", json=submission("C-down"), headers={"Idempotency-Key": "C-down:reg:0"}
    )
    assert_problem(response, 503)
    assert await registered(client, "C-down") == []
    await behave(client, "hrss", failure_rate=0.0)
    answer = await submit(client, submission("C-down"), "C-down:reg:0")
    assert answer["status"] == "approved"
    assert [r["registrations"] for r in await registered(client, "C-down")] == [1]


async def test_a_client_gone_during_latency_finds_its_registration(
    citizens: list[Citizen],
) -> None:
    # Over a real server: the test client would wait for the whole answer.
    async with served(create_app(citizens)) as url, httpx.AsyncClient(base_url=url) as http:
        (await http.put("/admin/behaviour/hrss", json={"latency_ms": 500})).raise_for_status()
        body = submission("C-killed")
        call = asyncio.create_task(
            http.post("/hrss/submissions", json=body, headers={"Idempotency-Key": "C-killed:0"})
        )
        for _ in range(100):
            rows = (await http.get("/admin/submissions", params={"case_id": "C-killed"})).json()
            if rows:
                break
            await asyncio.sleep(0.01)
        assert rows and not call.done()  # registered while the agency still takes its time
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        (await http.put("/admin/behaviour/hrss", json={"latency_ms": 0})).raise_for_status()
        retried = await http.post(
            "/hrss/submissions", json=body, headers={"Idempotency-Key": "C-killed:0"}
        )
        assert retried.json()["status"] == "approved"
        rows = (await http.get("/admin/submissions", params={"case_id": "C-killed"})).json()
        assert [(r["receipt"], r["registrations"]) for r in rows] == [
            (retried.json()["receipt"], 1)
        ]


# Admin


@pytest.mark.parametrize(
    ("behaviour", "field"),
    [
        ({"failure_rate": 1.5}, "failure_rate"),
        ({"reject_rate": -0.1}, "reject_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"pending_polls": "two"}, "pending_polls"),
        ({"latency": 100}, "latency"),
        ({"reject_reasons": [{"code": "x", "message_zh": "x"}]}, "reject_reasons[0].message_en"),
    ],
)
async def test_bad_behaviour_is_a_400_naming_the_field(
    client: Client, behaviour: dict[str, Any], field: str
) -> None:
    response = await client.put("/admin/behaviour/hrss", json=behaviour)
    body = assert_problem(response, 400)
    assert body["field"] == field
    assert field.split("[")[0] in body["detail"]
    unchanged = await client.get("/admin/behaviour/hrss")
    assert unchanged.json()["failure_rate"] == 0 and unchanged.json()["latency_ms"] == 0


async def test_behaviour_round_trips_and_reset_clears_everything(client: Client) -> None:
    await behave(client, "civil-affairs", latency_ms=5, pending_polls=3, reject_reasons=REASONS)
    shown = (await client.get("/admin/behaviour/civil-affairs")).json()
    assert shown == {
        "latency_ms": 5,
        "failure_rate": 0.0,
        "pending_polls": 3,
        "reject_rate": 0.0,
        "reject_reasons": REASONS,
        "reject_rounds": 1,
    }
    assert_problem(await client.get("/admin/behaviour/tax-bureau"), 404)
    await submit(client, submission("C-reset"), "C-reset:0", agency="civil-affairs")
    assert (await client.post("/admin/reset")).status_code == 204
    assert await registered(client, "C-reset") == []
    assert (await client.get("/admin/behaviour/civil-affairs")).json()["pending_polls"] == 0


async def test_admin_lists_citizens_and_health(client: Client, citizens: list[Citizen]) -> None:
    listed = (await client.get("/admin/citizens", params={"limit": 3})).json()
    assert [c["id_number"] for c in listed] == [c.id_number for c in citizens[:3]]
    assert listed[0]["certificates"] == list(citizens[0].certificates)
    everyone = (await client.get("/admin/citizens")).json()
    assert len(everyone) == len(citizens)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
