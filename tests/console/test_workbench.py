"""A clerk completes a case of the employment bundle through the pages alone; a citizen
follows it with the case number and tracking code."""

from __future__ import annotations

import re

import msgspec
from browser_kit import Console, Visitor
from conftest import citizen_where, known_values

from deploy.sim.clerk import clerk_answer, next_option
from deploy.sim.population import Citizen
from gateway.centre_directory import centre_of
from kernel.china_time import local_date
from kernel.events import ClerkNote, ManualReentry
from workflows.case import CaseProgress

STATUS = re.compile(r"已办结|Completed")


async def progress_of(console: Console, case_id: str) -> CaseProgress:
    response = await console.api.get(f"/api/cases/{case_id}")
    return msgspec.json.decode(response.content, type=CaseProgress)


async def wait_on_clerk(visitor: Visitor) -> None:
    """The case page refreshes itself while agencies work; wait until it asks the clerk
    for something or the case has ended."""
    await visitor.page.wait_for_selector("#step-form, #case-status:not(:has-text('办理中'))",
                                         timeout=60_000)


async def test_a_clerk_completes_a_case_in_the_browser(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    known = known_values(citizen)
    page = visitor.page
    await visitor.log_in("clerk")
    assert page.url.endswith("/console/desk")
    await visitor.check("desk")

    await page.locator("#bundle").select_option("employment-hardship")
    await page.get_by_label(re.compile("身份号码")).fill(citizen.id_number)
    await page.get_by_role("button", name="开始办理").click()
    await page.wait_for_url(re.compile(r"/console/desk/cases/\d{8}-\w{8}$"))
    case_id = page.url.rsplit("/", 1)[1]
    await wait_on_clerk(visitor)
    await visitor.check("case-first-step")

    # The first step shows what the case already knows: prefilled fields and e-certificates.
    assert await page.locator(".prefilled").count() > 0
    assert await page.get_by_text("电子证照已有").count() > 0
    # The one-time notice prints with the tracking code the citizen takes home.
    code = await page.locator("#tracking-code").inner_text()
    await page.locator("#print-notice").click()
    await page.wait_for_url(re.compile(r"/notice$"))
    assert code in await page.content()
    # A document to keep: service, centre, its phone, date, clerk, the full address and its QR.
    for field in ("service", "centre", "phone", "date", "clerk"):
        assert (await page.locator(f"#notice-{field}").inner_text()).strip() not in ("", "—")
    assert await page.locator("#notice-centre").inner_text() == centre_of(console.centre).name_zh
    assert re.fullmatch(r"https?://[^/]+/track", await page.locator("#notice-url").inner_text())
    assert await page.locator("#notice-qr svg.qr path").count() == 1
    assert await page.locator(".notice li").count() > 0
    await visitor.check("one-time-notice")
    await page.go_back()
    # A stuck point the clerk meets goes into the error notebook from the case.
    await page.get_by_label("卡在哪里").fill("系统无法带出解除劳动关系日期，联系电话13900001111")
    await page.get_by_role("button", name="记入错题本").click()
    await page.wait_for_load_state("load")
    [note] = [e for e in console.store.events_for_case(page.url.rsplit("/", 1)[1])
              if isinstance(e, ClerkNote)]
    assert note.actor == "clerk" and "13900001111" not in note.text  # the phone is masked

    rounds = 0
    while True:
        rounds += 1
        assert rounds < 30, "the case never completed"
        await wait_on_clerk(visitor)
        progress = await progress_of(console, case_id)
        if progress.status != "open":
            break
        step = next(s for s in progress.steps if s.id == progress.current_step)
        for name in step.missing_materials:
            label = next(m.label_zh for m in step.materials if m.name == name)
            await page.get_by_role("button", name=f"纸质材料已收取: {label}").click()
            await page.wait_for_load_state("load")
        refused = {r.field for r in step.rejections if r.field}
        today = local_date(step.started_at) if step.started_at else None
        typed_any = False
        for f in step.fields:
            if f.name not in step.missing_fields:
                continue
            if f.name in refused:
                next_option(f, known)
            assert today is not None
            value = clerk_answer(f, known, today)
            control = page.locator(f"[name='f.{f.name}']")
            if f.type == "enum":
                await control.select_option(value)
            elif f.type == "date":
                await control.fill(value)
            else:
                await control.focus()
                await control.press_sequentially(value, delay=5)  # keys, so typing is timed
            typed_any = True
        if typed_any or step.rejections:
            if rounds == 2:
                await visitor.check("case-typing")
            await page.locator("#submit-step").click()
            await page.wait_for_load_state("load")
    await visitor.page.reload()
    assert await page.locator("#case-status").inner_text() == "已办结"
    await visitor.check("case-completed")

    # The version-1 insurance form made the clerk type known values again: each re-entry
    # is friction, timed by the page.
    reentries = [e for e in console.store.events_for_case(case_id) if isinstance(e, ManualReentry)]
    assert reentries and all(e.step == "flexible-insurance-enrollment" for e in reentries)
    assert all(e.typed_seconds is not None and e.typed_seconds > 0 for e in reentries)

