"""In a browser, in Chinese: a page of another role is refused naming the role that may
use it, an address that does not exist is a page saying so (not JSON), on a desktop and
on a phone; and a clerk's case page names the dossier's items, values and sources."""

from __future__ import annotations

import re

from browser_kit import Console, Visitor
from conftest import citizen_where

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


async def test_refusals_and_missing_pages_are_chinese_pages(
    console: Console, visitor: Visitor
) -> None:
    page = visitor.page
    await visitor.log_in("analyst")
    for size, viewport in SIZES.items():
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        await visitor.goto("/console/desk")
        assert await page.locator("h1").inner_text() == "无权访问"
        said = await page.locator("main p").first.inner_text()
        assert said.startswith("此页面仅供窗口工作人员使用"), said
        await visitor.check(f"403-{size}")

        for path in ("/console/desk/no-such-page", "/no-such-page"):
            answer = await page.goto(visitor.base + path)
            assert answer is not None and answer.status == 404
            assert await page.locator("h1").inner_text() == "未找到"
            assert "没有这个页面" in await page.locator("main").inner_text()
            assert "status_code" not in await page.content()
        await visitor.check(f"404-{size}")


async def test_the_case_page_names_the_dossier(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    opened = await console.api.post("/api/cases", json={
        "bundle": "employment-hardship",
        "citizen_id_number": citizen_where(population, ecerts=True).id_number,
        "centre": console.centre})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(console.api, case_id), waiting_on_clerk)
    page = visitor.page
    await page.set_viewport_size(SIZES["desktop"])  # type: ignore[arg-type]
    await visitor.log_in("clerk")
    await visitor.goto(f"/console/desk/cases/{case_id}")
    dossier = await page.locator("#dossier-title + table").inner_text()
    for words in ("是否低保家庭", "公民身份号码", "部门数据：公安"):
        assert words in dossier, words
    assert not re.search(r"\b(?:identity|household|civil)\.\w+", dossier)
    assert "public-security" not in dossier and "agency:" not in dossier
    await visitor.check("case-dossier")
