"""A return visit from the case page: one a day, and a second the same day only when the
clerk ticks that the citizen came again and says why."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from browser_kit import Console, Visitor
from conftest import citizen_where

from deploy.sim.population import Citizen
from kernel.china_time import local_date
from kernel.events import RepeatTrip


async def test_a_second_return_visit_the_same_day_is_stated_by_the_clerk(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    began = datetime.now(UTC)
    citizen = citizen_where(population, ecerts=False, bank=True)
    page = visitor.page
    await visitor.log_in("clerk")
    await page.locator("#bundle").select_option("employment-hardship")
    await page.get_by_label(re.compile("身份号码")).fill(citizen.id_number)
    await page.get_by_role("button", name="开始办理").click()
    await page.wait_for_url(re.compile(r"/console/desk/cases/\d{8}-\w{8}$"))
    case_id = page.url.rsplit("/", 1)[1]
    await page.wait_for_selector("#step-form", timeout=60_000)
    record = page.get_by_role("button", name="登记再次来访")

    await page.locator("input[name='reasons']").first.check()
    await record.click()
    await page.wait_for_load_state("load")
    assert await page.locator("#case-trips").inner_text() == "2"

    await record.click()  # the same day, not stated
    await page.wait_for_load_state("load")
    if local_date(began) != local_date(datetime.now(UTC)):
        pytest.skip("China midnight passed during the test")
    said = await page.locator("#case-error").inner_text()
    assert "今天已登记过一次再次来访" in said and "市民今天再次来访" in said, said
    await visitor.check("return-visit-refused")

    await page.get_by_label("市民今天再次来访").check()
    await page.get_by_label("今天再次来访的原因").fill("回家取户口簿")
    await record.click()
    await page.wait_for_load_state("load")
    await visitor.check("return-visit-stated")
    trips = sorted((e.trip_number, e.again_today_reason) for e in
                   console.store.events_for_case(case_id) if isinstance(e, RepeatTrip))
    assert trips == [(2, None), (3, "回家取户口簿")]
