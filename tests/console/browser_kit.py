"""What the console's browser tests share: the browser's flags, and a visitor whose every
page is screenshotted and checked by axe-core (labels, contrast, keyboard order)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook

CHROMIUM = os.environ.get("ONETHING_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "window-pass-2026"
# Flags for a root sandbox with no network but loopback: no sandbox, and no background
# connections that this machine would refuse by the dozen.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Console:
    url: str
    api: httpx.AsyncClient  # the same gateway's API, as an admin service
    accounts: AccountBook
    centre: str
    store: SqliteFrictionStore


@dataclass
class Visitor:
    """One person's browser tab: each page visited is screenshotted and checked by axe."""

    page: Page
    base: str
    folder: Path
    seen: list[str] = field(default_factory=list)

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def check(self, name: str) -> None:
        await self.page.wait_for_load_state("load")
        self.seen.append(name)
        await self.page.screenshot(
            path=str(self.folder / f"{len(self.seen):02d}-{name}.png"), full_page=True
        )
        results = await Axe().run(self.page)
        assert results.violations_count == 0, f"{name}: {results.generate_report()}"

    async def log_in(self, username: str) -> None:
        await self.goto("/login")
        await self.check("login")
        await self.page.get_by_label(re.compile("用户名|Username")).fill(username)
        await self.page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
        await self.page.keyboard.press("Enter")  # the keyboard is enough at a window
        await self.page.wait_for_url(re.compile(r"/console/"))
