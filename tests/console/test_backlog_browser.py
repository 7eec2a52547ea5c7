"""A developer works the backlog in the browser: the top stuck point, its evidence, and
a triage through the page's form."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import pytest
from browser_kit import PASSWORD, Console, Visitor
from conftest import citizen_where

from deploy.sim.clerk import HttpDesk, wait_for, waiting_on_clerk
from deploy.sim.population import Citizen
from friction.ingest import ingest
from kernel.events import CaseRecord, FrictionEvent, ManualReentry, Provenance

BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"


def seed(console: Console) -> None:
    """Six cases that typed the insurance form's phone again, as the notebook saw them."""
    opened = datetime.now(UTC) - timedelta(days=3)
    events: list[FrictionEvent] = []
    for i in range(6):
        console.store.upsert_case(CaseRecord(
            case_id=f"DEV{i}", bundle=BUNDLE, bundle_version=1, centre=console.centre,
            channel="window", status="completed", opened_at=opened,
            closed_at=opened + timedelta(hours=2), trips=1, fields_total=25,
            fields_prefilled=16))
        events.append(ManualReentry(
            event_id=f"DEV{i}/1", occurred_at=opened + timedelta(minutes=20),
            case_id=f"DEV{i}", bundle=BUNDLE, step=FORM, field="phone",
            known_from=Provenance(kind="agency", source="hrss"), typed_seconds=9.0,
            trace_id=f"{i + 1:032x}"))
    ingest(console.store, events)


async def test_a_developer_triages_the_top_stuck_point(
    console: Console, visitor: Visitor
) -> None:
    seed(console)
    page = visitor.page
    await visitor.log_in("developer")
    assert page.url.endswith("/console/backlog")
    await visitor.check("backlog")

    await page.locator("table a").first.click()
    await page.wait_for_url(re.compile(r"/console/backlog/manual_reentry"))
    # The evidence names the field typed again, by its label.
    assert "联系电话" in await page.locator("#details").inner_text()
    trace = page.locator("#sample-traces a").first
    assert await trace.get_attribute("href") == (
        "http://traces.test/trace/" + await trace.inner_text())
    await visitor.check("stuck-point")

    # A triage without an owner is refused: the message is said at the top, with focus.
    await page.locator("#triaged-owner").fill("   ")
    await page.locator("#triaged-reason").fill("top of the backlog")
    await page.locator("#triaged-reason").press("Enter")
    await page.wait_for_load_state("load")
    refusal = page.locator("#refusal")
    assert await refusal.evaluate("e => e === document.activeElement")
    assert await refusal.evaluate("e => e.getBoundingClientRect().top") < 400
    assert await page.locator("#triaged-owner").get_attribute("aria-invalid") == "true"
    assert console.store.transitions(FORM_POINT) == []  # nothing was moved
    await visitor.check("stuck-point-refused")

    await page.locator("#triaged-owner").fill("platform-team")
    await page.locator("#triaged-reason").fill("top of the backlog")
    await page.locator("#triaged-reason").press("Enter")
    await page.wait_for_load_state("load")
    item = console.store.backlog_item(FORM_POINT)
    assert item is not None and (item.status, item.owner) == ("triaged", "platform-team")
    assert [t.actor for t in console.store.transitions(FORM_POINT)] == ["developer"]
    await visitor.check("stuck-point-triaged")


SCREENS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


async def a_returning_case(console: Console, population: list[Citizen]) -> tuple[str, str]:
    """A case opened at the test's centre whose citizen came back: its stuck point and
    the case number among its samples."""
    opened = await console.api.post("/api/cases", json={
        "bundle": BUNDLE, "citizen_id_number": citizen_where(population).id_number,
        "centre": console.centre})
    assert opened.status_code in (200, 201), opened.text
    case_id = opened.json()["case_id"]
    await wait_for(HttpDesk(console.api, case_id), waiting_on_clerk)
    came_back = await console.api.post(f"/api/cases/{case_id}/trips", json={"reasons": []})
    assert came_back.status_code == 200, came_back.text
    for _ in range(100):
        trips = [p for p in console.store.stuck_points() if p.kind == "repeat_trip"]
        if trips and case_id in trips[0].sample_cases:
            return trips[0].fingerprint, case_id
        await asyncio.sleep(0.1)
    raise AssertionError("the return trip never reached the notebook")


@pytest.mark.parametrize("screen", list(SCREENS))
async def test_a_developer_filters_and_sorts_and_a_clerk_opens_a_sample_case(
    console: Console, visitor: Visitor, population: list[Citizen], screen: str,
) -> None:
    seed(console)
    trip_point, case_id = await a_returning_case(console, population)
    console.accounts.add("lead", PASSWORD, ("developer", "clerk"), display_name="组长周",
                         centres=(console.centre,))
    page = visitor.page
    await page.set_viewport_size(SCREENS[screen])  # type: ignore[arg-type]
    await visitor.log_in("developer")

    async def first_rows() -> list[str]:
        return [unquote(href.rsplit("/", 1)[1]) for href in await page.locator(
            "#backlog tbody tr td:nth-child(2) a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")]

    # Burden first: the return trip (135 minutes) above six forms typed again.
    assert (await first_rows())[:2] == [trip_point, FORM_POINT]
    await page.get_by_label("排序方式").select_option("count")
    await page.get_by_role("button", name="查看", exact=True).click()
    await page.wait_for_url(re.compile(r"sort=count"))
    assert (await first_rows())[:2] == [FORM_POINT, trip_point]
    assert await page.get_by_label("排序方式").input_value() == "count"  # kept
    await visitor.check(f"backlog-by-count-{screen}")

    await page.get_by_label("类型").select_option("repeat_trip")
    await page.get_by_role("button", name="查看", exact=True).click()
    await page.wait_for_url(re.compile(r"kind=repeat_trip"))
    assert await first_rows() == [trip_point]
    assert await page.get_by_label("类型").input_value() == "repeat_trip"
    assert await page.get_by_label("排序方式").input_value() == "count"
    await visitor.check(f"backlog-trips-only-{screen}")

    # A developer reads the case number, not the case.
    await page.locator("#backlog tbody a").first.click()
    await page.wait_for_url(re.compile(r"/console/backlog/repeat_trip"))
    samples = page.locator("#sample-cases")
    assert case_id in await samples.inner_text()
    assert await samples.locator("a").count() == 0
    await visitor.check(f"stuck-point-developer-{screen}")

    # A bad value in the address is refused, named, with the rest of the query kept.
    await visitor.goto("/console/backlog?status=done&kind=repeat_trip")
    assert await page.locator("#status-error").is_visible()
    assert await page.get_by_label("类型").input_value() == "repeat_trip"
    await visitor.check(f"backlog-refused-{screen}")

    # A clerk of the case's centre (here also a developer) opens it from the evidence.
    await page.context.clear_cookies()
    await visitor.log_in("lead")
    await visitor.goto(f"/console/backlog/{quote(trip_point, safe='')}")
    link = page.locator("#sample-cases a", has_text=case_id)
    assert await link.get_attribute("href") == f"/console/desk/cases/{case_id}"
    await visitor.check(f"stuck-point-clerk-{screen}")
    await link.click()
    await page.wait_for_url(re.compile(rf"/console/desk/cases/{case_id}$"))
    assert case_id in await page.content()
