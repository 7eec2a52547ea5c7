"""A clerk of another centre meets a case in the browser: the case page is refused in
Chinese and, for an account that may serve elsewhere, offers to serve it here with a
reason (通办); the case's home clerk then sees who served it, from where and why."""

from __future__ import annotations

import re

from browser_kit import PASSWORD, Console, Visitor
from conftest import citizen_where

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen

REASON = "申请人在本区上班，就近通办"


async def test_a_clerk_serves_another_centres_case_with_a_reason(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    roving_centre = f"{console.centre}-east"
    console.accounts.add("roving", PASSWORD, ("clerk",), display_name="东区窗口",
                         centres=(roving_centre,), serves_elsewhere=True)
    opened = await console.api.post("/api/cases", json={
        "bundle": "employment-hardship",
        "citizen_id_number": citizen_where(population, ecerts=True).id_number,
        "centre": console.centre})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(console.api, case_id), waiting_on_clerk)
    page = visitor.page

    await visitor.log_in("roving")
    await page.get_by_label("按办件编号查找").fill(case_id)
    await page.get_by_role("button", name="查看办件").click()
    await page.wait_for_url(re.compile(f"/console/desk/cases/{case_id}$"))
    assert "属于另一个服务中心" in await page.locator("#elsewhere-refusal").inner_text()
    assert await page.locator("#case-status").count() == 0  # nothing of the case shown
    await visitor.check("another-centres-case")

    await page.get_by_label(re.compile("为何在此通办")).fill(REASON)
    await page.get_by_role("button", name="在本中心通办此件").click()
    await page.wait_for_url(re.compile(f"/console/desk/cases/{case_id}$"))
    assert await page.locator("#case-status").is_visible()
    await visitor.check("served-here")

    await page.context.clear_cookies()
    await visitor.log_in("clerk")
    await visitor.goto(f"/console/desk/cases/{case_id}")
    served = await page.locator("#served-elsewhere").inner_text()
    assert "roving" in served and roving_centre in served and REASON in served
    await visitor.check("home-centre-sees-it")
