"""The data bureau's dashboard in a real browser: an analyst sees the six charts drawn
and their tables, narrows them to a service centre and to a period with the filter form,
and every page passes axe."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from browser_kit import Console, Visitor

from friction.register import CantGetItDoneRecord
from kernel.events import (
    CaseRecord,
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    Provenance,
    RepeatTrip,
)

BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
WEEK1 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
WEEK2 = WEEK1 + timedelta(days=7)


def seed(console: Console) -> None:
    """Six cases at liangxi in week 1 with one field typed again each, five at binhu in
    week 2 with two each; enough cases in both centres for their numbers to show."""
    events: list[FrictionEvent] = []
    for centre, count, opened, fields in (("liangxi", 6, WEEK1, ("phone",)),
                                          ("binhu", 5, WEEK2, ("phone", "bank_account"))):
        for i in range(count):
            case_id = f"{centre}-{i}"
            console.store.upsert_case(CaseRecord(
                case_id=case_id, bundle=BUNDLE, bundle_version=1, centre=centre,
                channel="window", status="completed", opened_at=opened,
                closed_at=opened + timedelta(hours=1), fields_total=10, fields_prefilled=9))
            events += [ManualReentry(
                event_id=f"{case_id}/{n}", occurred_at=opened, case_id=case_id, bundle=BUNDLE,
                step=FORM, centre=centre, field=field,
                known_from=Provenance(kind="agency", source="public-security"))
                for n, field in enumerate(fields)]
    console.store.ingest(events)


async def table_text(visitor: Visitor, table: str) -> str:
    return " ".join((await visitor.page.locator(f"#{table}").inner_text()).split())


async def drawn(visitor: Visitor, charts: int) -> None:
    """ECharts drew every chart on the page."""
    assert await visitor.page.locator(".chart").count() == charts
    assert await visitor.page.locator(".chart svg").count() == charts


async def test_an_analyst_filters_the_dashboard(console: Console, visitor: Visitor) -> None:
    seed(console)
    page = visitor.page
    await visitor.log_in("analyst")
    await page.wait_for_url(re.compile(r"/console/dashboard"))
    await page.locator("#over-time-chart svg").first.wait_for()
    await visitor.check("dashboard")
    # No wait past its limit and no can't-get-it-done case here: four charts, and "no data".
    await drawn(visitor, 4)
    assert "暂无数据" in await table_text(visitor, "cant-empty")
    assert "11" in await table_text(visitor, "trips-table")  # both centres' cases
    over_time = await table_text(visitor, "over-time-table")
    assert "2026-03-02" in over_time and "2026-03-09" in over_time

    # The filter by keyboard: choose the centre, then Enter on the button.
    await page.get_by_label("服务中心").select_option("binhu")
    await page.get_by_role("button", name="查看", exact=True).press("Enter")
    await page.wait_for_url(re.compile(r"centre=binhu"))
    await page.locator("#trips-chart svg").first.wait_for()
    await visitor.check("dashboard-binhu")
    trips = await table_text(visitor, "trips-table")
    assert " 5 " in f" {trips} " and "11" not in trips
    assert "10" in await table_text(visitor, "stuck-points-table")  # 5 cases x 2 fields
    assert "2026-03-02" not in await table_text(visitor, "over-time-table")

    # A period: week 1 only, every centre again.
    await page.get_by_label("服务中心").select_option("")
    await page.get_by_label("起始日期").fill("2026-03-02")
    await page.get_by_label("截止日期（含当天）").fill("2026-03-08")
    await page.get_by_role("button", name="查看", exact=True).click()
    await page.wait_for_url(re.compile(r"since=2026-03-02"))
    await page.locator("#trips-chart svg").first.wait_for()
    await visitor.check("dashboard-week1")
    trips = await table_text(visitor, "trips-table")
    assert " 6 " in f" {trips} "
    over_time = await table_text(visitor, "over-time-table")
    assert "2026-03-02" in over_time and "2026-03-09" not in over_time
    await drawn(visitor, 4)


RESIDENCE = "residence-permit"
ELDERLY = "elderly-allowance"
STEPS = {BUNDLE: ("unemployment-registration", "hardship-certification", "subsidy-claim"),
         RESIDENCE: ("residence-permit",),
         ELDERLY: ("grid-worker-confirmation", "civil-affairs-review", "allowance-payment")}
WIDTHS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def seed_city(console: Console) -> None:
    """Three bundles of six cases each at a named centre: return trips in each bundle (one
    stuck point a bundle, all about "trip"), waits past the limit at seven steps (up to
    eighteen events at one), and can't-get-it-done cases."""
    events: list[FrictionEvent] = []
    for b, (bundle, steps) in enumerate(STEPS.items()):
        for i in range(6):
            case_id = f"{bundle}-{i}"
            console.store.upsert_case(CaseRecord(
                case_id=case_id, bundle=bundle, bundle_version=1, centre="liangxi-chongan",
                channel="window", status="open", opened_at=WEEK1 + timedelta(hours=b),
                fields_total=10, fields_prefilled=8))
            events.append(RepeatTrip(
                event_id=f"{case_id}/t", occurred_at=WEEK1, case_id=case_id, bundle=bundle,
                step=steps[0], centre="liangxi-chongan", trip_number=2, reasons=("other",),
                could_have_been_told=()))
            for n, step in enumerate(steps):
                for k in range(3 * (n + 1) if bundle == BUNDLE else 1):
                    events.append(ExtraWait(
                        event_id=f"{case_id}/w{n}/{k}", occurred_at=WEEK1 + timedelta(days=k),
                        case_id=case_id,
                        bundle=bundle, step=step, centre="liangxi-chongan", scope="step",
                        due_at=WEEK1))
    console.store.ingest(events)
    for n, cause in enumerate(("system", "policy", "materials")):
        console.store.register_cant_get_it_done(CantGetItDoneRecord(
            case_id=f"20260302-CANTDON{n}", bundle=BUNDLE, centre="liangxi-chongan",
            department="hrss", cause=cause, registered_at=WEEK1, deadline=date(2026, 3, 9)))


OVERLAPS = """(id) => {
  // Every pair of labels drawn in the chart whose boxes overlap by more than a pixel.
  const boxes = [...document.querySelectorAll(`#${id} svg text`)]
    .filter((t) => t.textContent.trim())
    .map((t) => [t.textContent, t.getBoundingClientRect()]);
  const clash = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = boxes[i], [b, q] = boxes[j];
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 1 && h > 1) clash.push(`${a} / ${b}`);
    }
  }
  return clash;
}"""
SHOWN_TEXT = "(id) => [...document.querySelectorAll(`#${id} svg text`)].map((t) => t.textContent)"


@pytest.mark.parametrize("screen", list(WIDTHS))
async def test_every_chart_is_legible_and_every_table_downloads(
    console: Console, visitor: Visitor, screen: str,
) -> None:
    seed_city(console)
    page = visitor.page
    await page.set_viewport_size(WIDTHS[screen])  # type: ignore[arg-type]
    await visitor.log_in("analyst")
    await page.wait_for_url(re.compile(r"/console/dashboard"))
    await page.locator("#cant-chart svg").first.wait_for()
    await page.wait_for_timeout(300)  # let ResizeObserver settle the layout
    await visitor.check(f"dashboard-{screen}")
    charts = ["over-time-chart", "stuck-points-chart", "trips-chart", "prefill-chart",
              "sla-chart", "cant-chart"]
    await drawn(visitor, len(charts))
    for chart in charts:
        assert await page.evaluate(OVERLAPS, chart) == [], f"{chart} at {screen}"
    # Every bar labelled, not only the first and the last: each step's name is drawn.
    sla_text = "".join(await page.evaluate(SHOWN_TEXT, "sla-chart"))
    steps = ("失业登记", "就业困难认定", "居住证申领", "网格员入户核实", "民政审核", "津贴发放")
    for step in steps:
        assert step in sla_text, f"{step} missing from the SLA chart at {screen}"
    # Each bar carries its figure: six cases waited at every step.
    assert sla_text.count("6") >= 7
    # The three bundles' return trips are three stuck points, each named by its bundle.
    stuck = await table_text(visitor, "stuck-points-table")
    for name in ("就业困难认定和补贴一件事", "居住证申领（合法稳定就业）", "高龄津贴免申即享"):
        assert name in stuck
    stuck_text = "".join(await page.evaluate(SHOWN_TEXT, "stuck-points-chart"))
    assert "群众多跑腿" in stuck_text and "高龄津贴" in stuck_text
    assert "梁溪区崇安街道便民服务中心" in await page.locator("#centre").inner_text()
    # Trips per case agree with the backlog: each bundle's six open cases came back once.
    trips = await table_text(visitor, "trips-table")
    assert trips.count("2.00") == 3, trips

    for table in ("trips", "sla", "stuck-points"):
        async with page.expect_download() as download_info:
            await page.locator(f"#{table}-csv").click()
        download = await download_info.value
        raw = await asyncio.to_thread(Path(await download.path()).read_bytes)
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        cells = await page.evaluate(
            "(id) => [...document.querySelectorAll(`#${id} tr`)].map((r) =>"
            " [...r.querySelectorAll('th, td')].map((c) => c.innerText.trim()))",
            f"{table}-table")
        assert rows == cells, table


async def test_an_empty_notebook_says_no_data(console: Console, visitor: Visitor) -> None:
    page = visitor.page
    await page.set_viewport_size(WIDTHS["phone"])  # type: ignore[arg-type]
    await visitor.log_in("analyst")
    await page.wait_for_url(re.compile(r"/console/dashboard"))
    await visitor.check("dashboard-empty-phone")
    assert await page.locator(".chart").count() == 0
    for section in ("over-time", "stuck-points", "trips", "prefill", "sla", "cant"):
        empty = page.locator(f"#{section}-empty")
        assert await empty.is_visible()
        assert "暂无数据" in await empty.inner_text()
