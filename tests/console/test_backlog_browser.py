"""A developer works the backlog in the browser: the top stuck point, its evidence, and
a triage through the page's form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from browser_kit import Console, Visitor

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
