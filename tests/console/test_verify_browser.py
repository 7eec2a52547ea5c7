"""Anyone holding a population information certificate checks its verification code on
the public page, and sees the certificate with its holder masked, nothing personal."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_kit import Visitor
from conftest import served_gateway
from playwright.async_api import BrowserContext
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import HttpDesk, wait_for
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.issued_documents import AgencyDocuments


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment,
    fresh_agencies: Any,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """The console's gateway with the public-security bureau's register behind /verify."""
    async with served_gateway(
        dev_env.client, store, task_queue, agency_urls,
        documents=AgencyDocuments(agency_urls, ["public-security"]),
    ) as api:
        yield api


async def test_a_citizen_verifies_a_certificate_issued_online(
    gateway: httpx.AsyncClient, context: BrowserContext, visitor_folder: Path,
    population: list[Citizen],
) -> None:
    citizen = population[12]
    opened = await gateway.post("/api/cases", json={
        "bundle": "population-certificate", "citizen_id_number": citizen.id_number,
        "centre": "online-app", "channel": "online", "entry": "search"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    final = await wait_for(HttpDesk(gateway, case_id), lambda p: p.status != "open")
    assert final.status == "completed" and final.fields_prefilled == final.fields_total
    code = final.dossier["population.verification_code"].value
    number = final.dossier["population.certificate_no"].value

    visitor = Visitor(page=await context.new_page(), base=str(gateway.base_url).rstrip("/"),
                      folder=visitor_folder)
    page = visitor.page
    await visitor.goto("/verify")
    await visitor.check("verify-form")

    # A code nobody issued: the page says so, and confirms nothing else.
    await page.get_by_label("验证码").fill("ABCD-EFGH-JKMN")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/verify/ABCD-EFGH-JKMN$"))
    assert "未查到使用该验证码出具的证明" in await page.locator("#verify-error").inner_text()
    await visitor.check("verify-refused")

    # The code as read off the paper: lower case, spaces instead of hyphens.
    await page.get_by_label("验证码").fill(code.replace("-", " ").lower())
    await page.get_by_role("button", name="核验").click()
    await page.wait_for_url(re.compile(rf"/verify/{code}$"))
    assert await page.locator("#verified-title").inner_text() == "已出具：该证明真实有效"
    assert await page.locator("#document-name").inner_text() == "常住人口信息证明"
    assert await page.locator("#certificate-no").inner_text() == number
    assert await page.locator("#case-id").inner_text() == case_id
    assert await page.locator("#holder").inner_text() == f"{citizen.name[0]}*"
    html = await page.content()
    for personal in (citizen.name, citizen.id_number, citizen.address, citizen.phone):
        assert personal not in html
    await visitor.check("verify-issued")

    await page.get_by_role("link", name="English").click()
    await page.wait_for_load_state("load")
    assert await page.locator("#verified-title").inner_text() == (
        "Issued: this certificate is genuine")
    await visitor.check("verify-issued-english")
