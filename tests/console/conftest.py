"""The console in a real browser: Debian's chromium driven by Playwright, against the
real gateway, Temporal dev server, worker and agency simulator of the other tests.
Screenshots of every page visited land in test-artifacts/screenshots/<test>/."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS, Console, Visitor
from playwright.async_api import Browser, BrowserContext, async_playwright
from temporalio.testing import WorkflowEnvironment

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.cases.schemas import DEFAULT_CENTRES


def _root() -> Any:
    return sys.modules["conftest"]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        message = f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


TRACE_URL = "http://traces.test/trace/{trace_id}"  # the trace UI a deployment names


@pytest.fixture
async def console(
    dev_env: WorkflowEnvironment,
    fresh_agencies: Any,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    task_queue: str,
    tmp_path: Path,
) -> AsyncIterator[Console]:
    centre = f"centre-{task_queue[-8:]}"  # this test's own worklist
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), display_name="王窗口", centres=(centre,))
    book.add("analyst", PASSWORD, ("analyst",), display_name="数据局李")
    book.add("developer", PASSWORD, ("developer",), display_name="开发者陈")
    async with _root().served_gateway(
        dev_env.client, store, task_queue, agency_urls, accounts=book,
        centres=(*DEFAULT_CENTRES, centre), trace_url=TRACE_URL,
    ) as api:
        yield Console(url=str(api.base_url).rstrip("/"), api=api, accounts=book, centre=centre,
                      store=store)


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    yield ctx
    await ctx.close()


@pytest.fixture
def visitor_folder(request: pytest.FixtureRequest) -> Path:
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
async def visitor(context: BrowserContext, console: Console, visitor_folder: Path) -> Visitor:
    return Visitor(page=await context.new_page(), base=console.url, folder=visitor_folder)
