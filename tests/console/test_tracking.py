"""A citizen follows a case by its number and tracking code, and sees nothing personal."""

from __future__ import annotations

import re

from browser_kit import Console, Visitor
from conftest import TEST_SECRET, citizen_where

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen
from gateway.console.notice import tracking_code


async def test_a_citizen_tracks_a_case_with_its_code(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    citizen = citizen_where(population, ecerts=False)
    opened = await console.api.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": console.centre})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(console.api, case_id), waiting_on_clerk)
    page = visitor.page

    await page.set_viewport_size({"width": 390, "height": 844})  # a citizen's phone
    await visitor.goto("/track")
    # The form says where the code is printed: on the one-time notice.
    assert "一次性告知" in await page.locator("#code-hint").inner_text()
    await visitor.check("track-form")
    await page.get_by_label("办件编号").fill(case_id)
    await page.get_by_label("查询码").fill("000000" if tracking_code(TEST_SECRET, case_id)
                                            != "000000" else "111111")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/track/case$"))
    assert await page.locator("#track-error").is_visible()
    await visitor.check("track-refused")

    await page.get_by_label("查询码").fill(tracking_code(TEST_SECRET, case_id))
    await page.get_by_role("button", name="查询进度").click()
    await page.wait_for_url(re.compile(r"/track/case$"))
    assert await page.locator("#case-status").inner_text() == "办理中"
    card = page.locator(".step-card").filter(has_text="失业登记")
    assert await card.count() == 1
    # A card per step at 390 px: no page wider than the phone, big status words, the date.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    assert await card.locator(".status-word").inner_text()
    size = await card.locator(".status-word").evaluate("e => getComputedStyle(e).fontSize")
    assert float(size.removesuffix("px")) >= 20
    assert re.search(r"\d", await card.locator("dd").first.inner_text())
    html = await page.content()
    # The dossier stays with the clerk: no name, ID number, phone or address here.
    for personal in (citizen.name, citizen.id_number, citizen.phone, citizen.address):
        assert personal not in html
    # The one-time notice names what the citizen lacks, here papers with no e-certificate.
    assert "居民身份证" in html
    await visitor.check("track-case")

    # The code is never in a URL, so a change of language asks for it again.
    await page.get_by_role("link", name="English").click()
    await page.wait_for_url(re.compile(r"/track$"))
    await page.get_by_label("Case number").fill(case_id)
    await page.get_by_label("Tracking code").fill(tracking_code(TEST_SECRET, case_id))
    await page.get_by_role("button", name="Show progress").click()
    await page.wait_for_url(re.compile(r"/track/case$"))
    assert await page.locator("#case-status").inner_text() == "In progress"
    await visitor.check("track-case-english")
