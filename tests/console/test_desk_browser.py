"""The desk finds any case in a second: by its number (whole or its start) or by the
citizen's ID number (recorded in the access log); the worklist shows citizen, bundle,
step, waiting since and due date with an overdue badge in words once the gateway's
(pinned) clock passes it, a page at a time; the bundle picker starts empty; a second open
case of the same bundle for the same citizen warns and links the first. At 1440 px and
on a 390 px phone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from browser_kit import PASSWORD, Console, Visitor
from conftest import TEST_CLOCK, served_gateway
from playwright.async_api import Browser, BrowserContext
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.cases.schemas import DEFAULT_CENTRES, Worklist
from workflows.definition import Catalogue

BUNDLE = "employment-hardship"
CASES = 6  # one more than the smallest page
SMALL_PAGE = 5


class Clock:
    """The gateway's clock, moved by the test: the worklist judges overdue by it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(TEST_CLOCK)


@pytest.fixture
async def desk(
    dev_env: WorkflowEnvironment, fresh_agencies: Any, agency_urls: dict[str, str],
    store: SqliteFrictionStore, task_queue: str, tmp_path: Path, clock: Clock,
) -> AsyncIterator[Console]:
    centre = f"centre-{task_queue[-8:]}"
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), display_name="王窗口", centres=(centre,))
    book.add("other", PASSWORD, ("clerk",), display_name="邻居窗口",
             centres=(f"{centre}-west",))
    async with served_gateway(dev_env.client, store, task_queue, agency_urls, accounts=book,
                              centres=(*DEFAULT_CENTRES, centre), clock=clock) as api:
        yield Console(url=str(api.base_url).rstrip("/"), api=api, accounts=book,
                      centre=centre, store=store)


async def listed(desk: Console) -> Worklist:
    answer = await desk.api.get("/api/worklist", params={"centre": desk.centre})
    assert answer.status_code == 200, answer.text
    return msgspec.json.decode(answer.content, type=Worklist)


async def all_waiting_on_the_clerk(desk: Console, count: int) -> Worklist:
    for _ in range(240):
        worklist = await listed(desk)
        waiting = [i for i in worklist.cases if i.status == "open" and i.due_at is not None]
        if len(waiting) == count:
            return worklist
        await asyncio.sleep(0.25)
    raise AssertionError(f"not all {count} cases came to wait on the clerk")


@pytest.fixture
def folders(visitor_folder: Path) -> dict[str, Path]:
    """A folder of screenshots for each browser of the test."""
    made = {name: visitor_folder / name for name in ("1440", "390", "other")}
    for folder in made.values():
        folder.mkdir()
    return made


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    """The test's browser windows, closed after it."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


async def visitor_at(browser: Browser, desk: Console, folder: Path, width: int,
                     height: int, contexts: list[BrowserContext]) -> Visitor:
    context = await browser.new_context(locale="zh-CN",
                                        viewport={"width": width, "height": height})
    contexts.append(context)
    return Visitor(page=await context.new_page(), base=desk.url, folder=folder)


async def test_the_desk_finds_lists_and_warns(
    desk: Console, browser: Browser, folders: dict[str, Path], population: list[Citizen],
    clock: Clock, contexts: list[BrowserContext],
) -> None:
    citizens = population[:CASES]
    opened: list[str] = []
    for citizen in citizens:
        answer = await desk.api.post("/api/cases", json={
            "bundle": BUNDLE, "citizen_id_number": citizen.id_number, "centre": desk.centre})
        assert answer.status_code == 201, answer.text
        opened.append(answer.json()["case_id"])
    worklist = await all_waiting_on_the_clerk(desk, CASES)
    due = min(i.due_at for i in worklist.cases if i.due_at is not None)
    clock.at = due - timedelta(hours=1)  # not yet due
    assert not any(i.overdue for i in (await listed(desk)).cases)
    steps = {i.case_id: i.step for i in worklist.cases}
    step_zh = {s.id: s.name_zh for s in Catalogue.load().default(BUNDLE).steps}
    first = opened[0]

    wide = await visitor_at(browser, desk, folders["1440"], 1440, 900, contexts)
    page = wide.page
    await wide.log_in("clerk")
    assert page.url.endswith("/console/desk")
    # The picker starts empty and is required: no bundle is chosen for the clerk.
    assert await page.locator("#bundle").input_value() == ""
    assert await page.locator("#bundle option").first.inner_text() == "请选择事项"
    assert await page.locator("#bundle").get_attribute("required") is not None
    headers = [h.strip() for h in await page.locator(
        "section[aria-labelledby=waiting-title] thead th").all_inner_texts()]
    assert headers == ["办件编号", "办事人", "一件事", "事项", "等待自", "时限"]
    assert "共 6 件" in await page.locator("#worklist-total").inner_text()
    row = page.locator("tr.case-row", has_text=first)
    cells = await row.locator("td").all_inner_texts()
    assert cells[1] == citizens[0].name  # a clerk of the case's centre sees whose it is
    assert cells[2] == "就业困难认定和补贴一件事"
    assert cells[3] == step_zh[steps[first] or ""]
    assert cells[4] != "—" and cells[5].strip() not in ("", "—")
    assert await page.locator(".overdue-badge").count() == 0
    await wide.check("desk-not-yet-due")

    # Past the promised date: the badge says so in words; a page of five, then the sixth.
    clock.at = due + timedelta(hours=1)
    await wide.goto(f"/console/desk?size={SMALL_PAGE}")
    assert await page.locator("tr.case-row").count() == SMALL_PAGE
    assert await page.locator(".overdue-badge").count() == SMALL_PAGE
    assert await page.locator(".overdue-badge").first.inner_text() == "已超时"
    assert await page.locator("#pager [aria-current=page]").inner_text() == "1"
    await wide.check("desk-overdue-page-1")
    await page.locator("#pager").get_by_role("link", name="下一页").click()
    await page.wait_for_url(re.compile(r"page=2"))
    assert await page.locator("tr.case-row").count() == CASES - SMALL_PAGE
    await wide.check("desk-page-2")
    await page.get_by_label("状态").select_option("overdue")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url(re.compile(r"state=overdue"))
    assert "共 6 件" in await page.locator("#worklist-total").inner_text()

    # By its whole number: the case's page; by its start: the cases it names.
    await page.get_by_label("按办件编号查找").fill(first.lower())
    await page.get_by_role("button", name="查看办件").click()
    await page.wait_for_url(re.compile(f"/console/desk/cases/{first}$"))
    await wide.goto("/console/desk")
    await page.get_by_label("按办件编号查找").fill(first[:12])
    await page.get_by_role("button", name="查看办件").click()
    await page.wait_for_url(re.compile(r"/console/desk/find"))
    assert await page.locator("#found tr.case-row", has_text=first).count() == 1
    await wide.check("found-by-number-start")

    # By ID number: sent in a form body, recorded in the access log.
    await page.get_by_label("按身份证号查找居民的办件").fill(citizens[0].id_number)
    await page.get_by_role("button", name="查找办件").click()
    await page.wait_for_url(re.compile(r"/console/desk/search$"))
    found = page.locator("#found tr.case-row")
    assert await found.count() == 1 and first in await found.inner_text()
    assert await found.locator(".citizen").inner_text() == citizens[0].name
    assert await found.locator(".overdue-badge").count() == 1  # in words, not colour only
    assert citizens[0].id_number not in page.url
    await wide.check("found-by-id-number")
    searches = [e for e in desk.store.access_entries() if e.action == "search"]
    assert [(e.username, e.case_id, e.status) for e in searches] == [("clerk", first, 200)]

    # A second open case of the same bundle for the same citizen: warned, linked, confirmed.
    await wide.goto("/console/desk")
    await page.locator("#bundle").select_option(BUNDLE)
    await page.get_by_label("身份号码").first.fill(citizens[0].id_number)
    await page.get_by_role("button", name="开始办理").click()
    warning = page.locator("#duplicate-warning")
    assert "已有一件正在办理的同一事项" in await warning.inner_text()
    assert await page.locator("#existing-case").get_attribute("href") == \
        f"/console/desk/cases/{first}"
    await wide.check("duplicate-warning")
    await page.get_by_role("button", name="确认仍要新开一件").click()
    await page.wait_for_url(re.compile(r"/console/desk/cases/\d{8}-\w{8}$"))
    assert not page.url.endswith(first)

    # Another centre's clerk finds none of these cases, by number or by ID number.
    other = await visitor_at(browser, desk, folders["other"], 1440, 900, contexts)
    await other.log_in("other")
    await other.page.get_by_label("按身份证号查找居民的办件").fill(citizens[0].id_number)
    await other.page.get_by_role("button", name="查找办件").click()
    await other.page.wait_for_url(re.compile(r"/console/desk/search$"))
    assert await other.page.locator("#found tr.case-row").count() == 0
    assert "本中心没有符合的办件" in await other.page.locator("#found").inner_text()
    assert citizens[0].name not in await other.page.content()
    await other.check("other-centre-finds-none")

    # On a phone: each case a card, its labels beside its values, the pager in reach.
    phone = await visitor_at(browser, desk, folders["390"], 390, 844, contexts)
    await phone.log_in("clerk")
    await phone.goto(f"/console/desk?size={SMALL_PAGE}")
    card = phone.page.locator("tr.case-row", has_text=first)
    assert await card.locator(".overdue-badge").is_visible()
    box = await card.bounding_box()
    assert box is not None and box["width"] <= 390
    await phone.check("desk-phone")
    await phone.page.get_by_label("按身份证号查找居民的办件").fill(citizens[1].id_number)
    await phone.page.get_by_role("button", name="查找办件").click()
    await phone.page.wait_for_url(re.compile(r"/console/desk/search$"))
    assert opened[1] in await phone.page.locator("#found").inner_text()
    await phone.check("found-phone")
