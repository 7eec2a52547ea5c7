"""The can't-get-it-done window (办不成事) in the browser: a clerk registers a walk-in,
opens it from the register, assigns its task force and answers it as a matter that
cannot be done; a case stalled on the workbench is registered from its own page. Every
page passes axe."""

from __future__ import annotations

import re

from browser_kit import Console, Visitor
from conftest import citizen_where

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen


async def test_a_clerk_registers_and_answers_a_case_in_the_browser(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    page = visitor.page
    await visitor.log_in("clerk")
    await page.get_by_role("link", name="办不成事").click()
    await page.wait_for_url(re.compile(r"/console/register$"))
    await visitor.check("register-empty")

    # A walk-in: no case on this platform yet; the register gives it a number.
    await page.get_by_label(re.compile("无办件来访")).check()
    await page.locator("#bundle").select_option("employment-hardship")
    await page.locator("#step").select_option("flexible-insurance-enrollment")
    await page.get_by_label("卡在哪个部门").fill("social-insurance")
    await page.get_by_label("原因").select_option("system")
    await page.get_by_role("button", name="登记为办不成事").click()
    await page.wait_for_url(re.compile(r"/console/register/WALKIN-\d{8}-[2-9A-Z]{8}$"))
    walk_in = page.url.rsplit("/", 1)[1]
    assert await page.locator("#status").inner_text() == "已登记，尚未成立专班"
    assert await page.locator("#cause").inner_text() == "系统故障"
    await visitor.check("registered")

    # Open it from the register.
    await page.get_by_role("link", name="返回登记簿").click()
    await page.wait_for_url(re.compile(r"/console/register$"))
    row = page.locator(f"#row-{walk_in}")
    assert "系统故障" in await row.inner_text()
    await visitor.check("register-one-case")
    await row.get_by_role("link", name=walk_in).click()
    await page.wait_for_url(re.compile(rf"/console/register/{walk_in}$"))

    await page.get_by_label("牵头人（工号）").fill("tf-wang")
    await page.get_by_label("参与的部门").fill("social-insurance\nhrss")
    await page.get_by_role("button", name="成立专班").click()
    await page.wait_for_url(re.compile(rf"/console/register/{walk_in}$"))
    assert await page.locator("#status").inner_text() == "专班办理中"
    assert "社保中心、人社" in await page.locator("#task-force").inner_text()
    await visitor.check("task-force-assigned")

    await page.get_by_label("确实办不成：书面说明理由").check()
    explanation = "无社保缴费记录，不能办理退休；已电话告知可先补缴。"
    await page.get_by_label("给群众的说明").fill(explanation)
    await page.get_by_role("button", name="记录答复").click()
    await page.wait_for_url(re.compile(rf"/console/register/{walk_in}$"))
    assert await page.locator("#status").inner_text() == "确实办不成：已向群众说明"
    assert await page.locator("#explanation").inner_text() == explanation
    assert await page.locator("#answer-form").count() == 0
    await visitor.check("answered")

    # A case that brought the citizen back again is registered from the workbench.
    citizen = citizen_where(population, ecerts=False)
    opened = await console.api.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": console.centre})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(console.api, case_id), waiting_on_clerk)
    came_back = await console.api.post(f"/api/cases/{case_id}/trips", json={"reasons": []})
    assert came_back.status_code == 200, came_back.text
    await visitor.goto(f"/console/desk/cases/{case_id}")
    await page.locator("#cgid-form").get_by_role("button", name="登记为办不成事").click()
    await page.wait_for_url(re.compile(r"/console/register\?"))
    assert await page.get_by_label("办件编号").input_value() == case_id
    assert await page.locator("#bundle").input_value() == "employment-hardship"
    assert await page.get_by_label("卡在哪个部门").input_value() != ""
    await visitor.check("register-from-case")
    await page.get_by_label("原因").select_option("materials")
    await page.get_by_role("button", name="登记为办不成事").click()
    await page.wait_for_url(re.compile(rf"/console/register/{case_id}$"))
    assert await page.locator("#cause").inner_text() == "材料要求"
    await visitor.check("registered-from-case")

    (answered,) = [r for r in console.store.cant_get_it_done_cases() if r.case_id == walk_in]
    assert (answered.resolution, answered.explanation) == ("cannot_be_done", explanation)
