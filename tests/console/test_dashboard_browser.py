"""The data bureau's dashboard in a real browser: an analyst sees the six charts drawn
and their tables, narrows them to a service centre and to a period with the filter form,
and every page passes axe."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from browser_kit import Console, Visitor

from kernel.events import CaseRecord, FrictionEvent, ManualReentry, Provenance

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
    assert await visitor.page.locator(".chart canvas").count() == charts


async def test_an_analyst_filters_the_dashboard(console: Console, visitor: Visitor) -> None:
    seed(console)
    page = visitor.page
    await visitor.log_in("analyst")
    await page.wait_for_url(re.compile(r"/console/dashboard"))
    await page.locator("#over-time-chart canvas").first.wait_for()
    await visitor.check("dashboard")
    await drawn(visitor, 5)  # no wait past its limit here: five charts, not six
    assert "11" in await table_text(visitor, "trips-table")  # both centres' cases
    over_time = await table_text(visitor, "over-time-table")
    assert "2026-03-02" in over_time and "2026-03-09" in over_time

    # The filter by keyboard: choose the centre, then Enter on the button.
    await page.get_by_label("服务中心").select_option("binhu")
    await page.get_by_role("button", name="查看", exact=True).press("Enter")
    await page.wait_for_url(re.compile(r"centre=binhu"))
    await page.locator("#trips-chart canvas").first.wait_for()
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
    await page.locator("#trips-chart canvas").first.wait_for()
    await visitor.check("dashboard-week1")
    trips = await table_text(visitor, "trips-table")
    assert " 6 " in f" {trips} "
    over_time = await table_text(visitor, "over-time-table")
    assert "2026-03-02" in over_time and "2026-03-09" not in over_time
    await drawn(visitor, 5)
