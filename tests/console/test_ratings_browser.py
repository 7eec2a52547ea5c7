"""The citizen's rating (好差评) in the browser: a citizen rates a visit on the tracking
page on a phone (390×844), a bad review lands in the centre's follow-ups, the clerk
cannot close it without an answer and then answers it, the citizen reads the answer on
the tracking page, and the analyst sees satisfaction and the bad review no detector saw
on the dashboard and a stuck point's ratings in the backlog. Every page passes axe;
screenshots at phone and desktop widths."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from browser_kit import Console, Visitor
from conftest import TEST_SECRET, citizen_where
from playwright.async_api import Browser

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen
from friction.notebook import log_note
from friction.ratings import new_rating
from gateway.console.notice import tracking_code
from kernel.events import ClerkNote

PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def phone(browser: Browser, console: Console, visitor_folder: Path
                ) -> AsyncIterator[Visitor]:
    ctx = await browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True,
                                    has_touch=True)
    folder = visitor_folder / "phone"
    folder.mkdir()
    yield Visitor(page=await ctx.new_page(), base=console.url, folder=folder)
    await ctx.close()


async def track_on(phone: Visitor, case_id: str) -> None:
    page = phone.page
    await phone.goto("/track")
    await page.get_by_label("办件编号").fill(case_id)
    await page.get_by_label("查询码").fill(tracking_code(TEST_SECRET, case_id))
    await page.get_by_role("button", name="查询进度").click()
    await page.wait_for_url(re.compile(r"/track/case$"))


async def test_a_citizen_rates_a_visit_and_reads_the_answer_to_a_bad_review(
    console: Console, visitor: Visitor, phone: Visitor, population: list[Citizen]
) -> None:
    citizen = citizen_where(population, ecerts=False)
    opened = await console.api.post("/api/cases", json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": console.centre})
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(console.api, case_id), waiting_on_clerk)

    # The citizen, on a phone, rates the first visit.
    page = phone.page
    await track_on(phone, case_id)
    form = page.locator("#rating-form")
    assert await form.is_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the tracking page is {width} px wide on a phone"
    await phone.check("track-rating-form")
    await page.get_by_label("非常不满意").check()
    await page.get_by_label("等候时间长").check()
    await page.get_by_label("没有一次性告知所需材料").check()
    await page.get_by_label("还想告诉我们的（选填）").fill("排队两小时，请回电 13912345678")
    await page.get_by_role("button", name="提交评价").click()
    await page.wait_for_url(re.compile(r"/track/rating$"))
    assert await page.locator("#rating-thanks").is_visible()
    assert await page.locator("#rated-1").inner_text() != ""
    assert "非常不满意" in await page.locator("#rated-1").inner_text()
    assert "前在此答复" in await page.locator("#follow-up-1").inner_text()
    assert await page.locator("#rating-form").count() == 0  # once per visit
    html = await page.content()
    for personal in (citizen.name, citizen.id_number, citizen.phone, "13912345678"):
        assert personal not in html
    await phone.check("track-rated")

    # The centre's clerk finds it among the follow-ups.
    clerk = visitor.page
    await visitor.log_in("clerk")
    await clerk.get_by_role("link", name="差评整改").click()
    await clerk.wait_for_url(re.compile(r"/console/follow-ups$"))
    card = clerk.locator(f"#follow-up-{case_id}-1")
    text = await card.inner_text()
    assert "非常不满意" in text and "等候时间长" in text and "[手机号]" in text
    await visitor.check("follow-ups")
    # Closing needs the answer the citizen will read.
    await card.get_by_role("button", name="答复并办结").click()
    await clerk.wait_for_load_state("load")
    assert "办结前请写下群众将看到的答复" in await clerk.locator("#follow-up-error").inner_text()
    await visitor.check("follow-up-refused")
    card = clerk.locator(f"#follow-up-{case_id}-1")
    await card.get_by_label("负责人").fill("综窗主任")
    answer = "已电话致歉；窗口已增设取号提醒，材料清单一次性告知。"
    await card.get_by_label("给群众的答复").fill(answer)
    await card.get_by_role("button", name="答复并办结").click()
    await clerk.wait_for_url(re.compile(r"/console/follow-ups$"))
    card = clerk.locator(f"#follow-up-{case_id}-1")
    assert "已答复" in await card.inner_text() and answer in await card.inner_text()
    await visitor.check("follow-up-answered")
    await clerk.set_viewport_size(PHONE)
    await visitor.check("follow-up-answered-phone")

    # The citizen comes back to the tracking page and reads the answer.
    await track_on(phone, case_id)
    assert answer in await page.locator("#answer-1").inner_text()
    await phone.check("track-answered")

    # The analyst: satisfaction against 95% and the bad review no detector saw.
    for n, level in enumerate(["very_satisfied"] * 4 + ["satisfied"]):
        console.store.save_rating(new_rating(
            case_id=f"20261207-RATED{n + 2:03d}", visit=1, visits=1, level=level,
            reasons=["one_trip"], text=None, channel="window_pad",
            bundle="employment-hardship", centre=console.centre,
            now=datetime.now(UTC)), None)
    # One of them had friction a clerk noted: the backlog shows its rating beside it.
    log_note(console.store, ClerkNote(
        event_id="note/rated-002", occurred_at=datetime.now(UTC),
        case_id="20261207-RATED002", bundle="employment-hardship", bundle_version=1,
        step="unemployment-registration", centre=console.centre, category="system",
        text="系统卡顿", actor="clerk"))
    analyst = await visitor.page.context.browser.new_context(  # type: ignore[union-attr]
        locale="zh-CN", viewport={"width": 1440, "height": 900})
    desk = Visitor(page=await analyst.new_page(), base=console.url,
                   folder=visitor.folder / "analyst")
    desk.folder.mkdir()
    await desk.log_in("analyst")
    await desk.goto("/console/dashboard")
    table = desk.page.locator("#satisfaction-table")
    row = await table.locator("tbody tr").first.inner_text()
    assert "6" in row and "83.3%" in row and "未达标" in row  # 5 of 6 satisfied
    assert case_id in await desk.page.locator("#unseen-table").inner_text()
    await desk.page.locator("#satisfaction-section").scroll_into_view_if_needed()
    await desk.check("dashboard-satisfaction")
    await desk.page.set_viewport_size(PHONE)
    await desk.check("dashboard-satisfaction-phone")
    await desk.page.set_viewport_size({"width": 1440, "height": 900})
    await desk.goto("/console/backlog")
    row = await desk.page.locator("#backlog tbody tr").first.inner_text()
    assert "系统卡顿" not in row and "\t1\t0 (0.0%)" in row  # one rating, no bad review
    await desk.check("backlog-ratings")
    await analyst.close()
