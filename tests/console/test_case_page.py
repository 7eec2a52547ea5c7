"""The clerk's case page at a busy window: only its live parts refresh while an agency
works (what the clerk types survives), its header names the case, its counters count what
is on screen, its dossier fits a phone, and a refused value is said once, in Chinese, in a
summary that takes the focus and links to the field."""

from __future__ import annotations

import asyncio
import re
from datetime import date

import msgspec
from babel.dates import format_date
from browser_kit import Console, Visitor
from conftest import citizen_where, known_values, set_behaviour
from playwright.async_api import Page, Request
from test_workbench import progress_of

from deploy.sim.clerk import clerk_answer
from deploy.sim.population import Citizen
from gateway.console.workbench import MAX_POLLS
from kernel.events import ClerkNote
from workflows.case import CaseProgress, StepView
from workflows.definition import Catalogue
from workflows.material_rules import decode_lines

POLL_S = 2.0  # gateway.console.workbench.POLL_MS
# The first colour that is not transparent from an element up: what it is drawn on.
BACKGROUND_JS = """(el) => {
  for (let e = el; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor;
    if (bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent") return bg;
  }
  return "rgb(255, 255, 255)";
}"""


async def open_case(console: Console, bundle: str, citizen: Citizen) -> str:
    response = await console.api.post("/api/cases", json={
        "bundle": bundle, "citizen_id_number": citizen.id_number,
        "centre": console.centre, "channel": "window"})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


async def wait_until(console: Console, case_id: str, awaiting: str) -> CaseProgress:
    for _ in range(300):
        progress = await progress_of(console, case_id)
        if progress.awaiting == awaiting:
            return progress
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} never waited on {awaiting}")


def current(progress: CaseProgress) -> StepView:
    return next(s for s in progress.steps if s.id == progress.current_step)


async def no_overflow(page: Page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide at a {width} px viewport"


async def test_the_header_counters_controls_and_dossier_fit_the_window_and_a_phone(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    citizen = next(c for c in population if c.insurance_lines
                   and "resident_id_card" in c.certificates)
    case_id = await open_case(console, "residence-permit", citizen)
    progress = await wait_until(console, case_id, "clerk")
    step = current(progress)
    definition = Catalogue.load().get(progress.bundle, progress.bundle_version)
    page = visitor.page
    await visitor.log_in("clerk")
    for width, height in ((1440, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await visitor.goto(f"/console/desk/cases/{case_id}")
        await page.wait_for_selector("#step-form")
        await visitor.check(f"case-{width}")
        await no_overflow(page, width)

        # The header names the bundle, the step, the citizen and the promised date.
        assert definition.name_zh in await page.locator("h1").inner_text()
        assert await page.locator("#case-step").inner_text() == step.name_zh
        assert await page.locator("#case-citizen").inner_text() == citizen.name
        assert step.due_on is not None
        due = format_date(step.due_on, "medium", locale="zh_Hans_CN")
        assert (await page.locator("#case-due").inner_text()).startswith(due)

        # The counter counts the prefilled fields the form shows with their source.
        shown = await page.locator("#step-form .prefilled").count()
        prefilled = [f for f in step.fields if f.prefilled and f.source
                     and f.name not in step.missing_fields]
        assert shown == len(prefilled) > 0
        assert await page.locator("#prefilled-count").inner_text() == (
            f"{shown} / {len(step.fields)}")

        # Asking for paper although an e-certificate holds it: visible, on its own colour.
        paper = page.get_by_role("button", name=re.compile("仍索要纸质材料")).first
        assert await paper.is_visible()
        colour = await paper.evaluate("(el) => getComputedStyle(el).color")
        assert colour != await paper.evaluate(BACKGROUND_JS)

        # The month-by-month insurance lines: a table headed by their fields' names.
        lines = decode_lines(progress.dossier["insurance.lines"].value) or []
        nested = page.locator("#dossier-insurance-lines table.nested")
        headers = await nested.locator("thead th").all_inner_texts()
        assert {"月份", "参保单位", "单位编号"} <= set(headers)
        assert await nested.locator("tbody tr").count() == len(lines) > 0
        assert "employer_code" not in await page.locator("#dossier").inner_text()


async def test_typing_survives_while_the_case_waits_on_an_agency(
    console: Console, visitor: Visitor, population: list[Citizen], fresh_agencies: object
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    case_id = await open_case(console, "employment-hardship", citizen)
    progress = await wait_until(console, case_id, "clerk")
    step = current(progress)
    assert step.started_at is not None
    known, today = known_values(citizen), step.started_at.date()
    values = {f.name: clerk_answer(f, known, today)
              for f in step.fields if f.name in step.missing_fields}
    # The agency takes 4 s an answer and answers "pending" first: the case waits on it
    # for 4 s, the workflow's first 5 s before asking again, and 4 s more.
    await set_behaviour(fresh_agencies, "hrss", latency_ms=4000, pending_polls=1)  # type: ignore[arg-type]  # type: ignore[arg-type]
    sent = await console.api.post(f"/api/cases/{case_id}/fields",
                                  json={"step": step.id, "values": values})
    assert sent.status_code == 200, sent.text

    page = visitor.page
    polls: list[float] = []

    def count(request: Request) -> None:
        if f"/cases/{case_id}/live" in request.url:
            polls.append(asyncio.get_running_loop().time())

    page.on("request", count)
    await visitor.log_in("clerk")
    await visitor.goto(f"/console/desk/cases/{case_id}")
    await visitor.check("case-with-agency")
    assert await page.locator("#case-awaiting").inner_text() == "部门审核中"
    assert await page.locator("#reload").get_attribute("href") == f"/console/desk/cases/{case_id}"

    # The live part alone for htmx, asking again; after MAX_POLLS it stops (286) and
    # leaves the reload link; the whole page for a browser without htmx.
    live = f"{console.url}/console/desk/cases/{case_id}/live"
    again = await page.request.get(f"{live}?polls=3", headers={"HX-Request": "true"})
    assert again.status == 200 and "<html" not in (body := await again.text())
    assert "/live?polls=4" in body and 'id="reload"' in body
    last = await page.request.get(f"{live}?polls={MAX_POLLS - 1}", headers={"HX-Request": "true"})
    assert last.status == 286 and "hx-get" not in (body := await last.text())
    assert 'id="reload"' in body
    whole = await page.request.get(live)
    assert whole.status == 200 and "<html" in await whole.text()

    # Typing in the notebook over several polls: nothing typed is lost, the caret stays.
    note = page.get_by_label("卡在哪里")
    await note.click()
    await page.keyboard.type("部门系统响应慢，", delay=20)
    await asyncio.sleep(POLL_S * 1.5)
    await page.keyboard.type("等了很久", delay=20)
    await asyncio.sleep(POLL_S * 1.5)
    assert len(polls) >= 2, "the live part did not poll"
    assert await note.input_value() == "部门系统响应慢，等了很久"
    assert await page.evaluate("document.activeElement.id") == "note-text"
    assert await page.locator("#case-awaiting").inner_text() == "部门审核中"  # still waiting

    # The agency answers: the next step's form comes in, and the polling stops.
    await set_behaviour(fresh_agencies, "hrss", latency_ms=0)  # type: ignore[arg-type]
    await page.wait_for_selector("#step-form #submit-step", timeout=60_000)
    stopped = len(polls)
    await asyncio.sleep(POLL_S * 2)
    assert len(polls) == stopped, "the page kept polling a case that waits on the clerk"
    assert await page.locator("#reload").count() == 0
    assert await note.input_value() == "部门系统响应慢，等了很久"
    await visitor.check("case-back-with-clerk")
    await page.get_by_role("button", name="记入错题本").click()
    await page.wait_for_load_state("load")
    [entry] = [e for e in console.store.events_for_case(case_id) if isinstance(e, ClerkNote)]
    assert entry.text == "部门系统响应慢，等了很久"


async def test_a_refused_value_is_summarised_once_in_chinese_and_focused(
    console: Console, visitor: Visitor, population: list[Citizen]
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    wrong = citizen.id_number[:17] + ("0" if citizen.id_number[17] != "0" else "1")
    page = visitor.page
    await visitor.log_in("clerk")
    await page.locator("#bundle").select_option("employment-hardship")
    await page.get_by_label(re.compile("身份号码")).fill(wrong)
    await page.get_by_role("button", name="开始办理").click()
    await page.wait_for_load_state("load")
    await visitor.check("desk-refused")
    message = "群众公民身份号码：校验位不正确"
    summary = page.locator("#error-summary")
    assert await page.evaluate("document.activeElement.id") == "error-summary"
    assert await summary.get_attribute("role") == "alert"
    assert await summary.get_attribute("tabindex") == "-1"
    link = summary.get_by_role("link", name=message)
    assert await link.get_attribute("href") == "#citizen_id_number"
    assert await page.locator("#err-citizen_id_number").inner_text() == message
    text = await page.locator("main").inner_text()
    assert text.count(message) == 2 and "check digit" not in text
    await link.click()
    assert await page.evaluate("document.activeElement.id") == "citizen_id_number"

    # The case's own form: a date in the future, refused beside its field and above it.
    await page.get_by_label(re.compile("身份号码")).fill(citizen.id_number)
    await page.get_by_role("button", name="开始办理").click()
    await page.wait_for_selector("#step-form #submit-step", timeout=60_000)
    case_id = page.url.rsplit("/", 1)[1]
    step = current(await progress_of(console, case_id))
    dated = next(f for f in step.fields if f.name in step.missing_fields and f.type == "date")
    await page.locator(f"#f-{dated.name}").fill(date(2099, 1, 1).isoformat())
    await page.locator("#submit-step").click()
    await page.wait_for_load_state("load")
    await visitor.check("case-refused")
    said = f"{dated.label_zh}：不能晚于今天"
    assert await page.evaluate("document.activeElement.id") == "error-summary"
    link = page.locator("#step-form #error-summary").get_by_role("link", name=said)
    assert await link.get_attribute("href") == f"#f-{dated.name}"
    assert await page.locator(f"#err-f-{dated.name}").inner_text() == said
    text = await page.locator("main").inner_text()
    assert text.count(said) == 2 and "future" not in text
    assert await page.locator(f"#f-{dated.name}").get_attribute("aria-invalid") == "true"


def test_structured_dossier_values_become_rows() -> None:
    from gateway.console.case_view import dossier_row

    def say(message: str) -> str:
        return {"Month": "月份", "Yes": "是", "No": "否"}.get(message, message)

    lines = msgspec.json.encode([{"month": "2026-10", "transferred_virtual": True},
                                 {"month": "2026-11", "extra": None}]).decode()
    row = dossier_row("insurance.lines", lines, ("参保明细", "Lines"), "agency: hrss", say)
    assert row.shape == "records"
    assert [c.label for c in row.columns] == ["月份", "Transferred from another city", "extra"]
    assert row.records == (("2026-10", "是", "—"), ("2026-11", "—", "—"))
    mapping = dossier_row("x.y", '{"month": "2026-01"}', ("x", "x"), "", say)
    assert mapping.shape == "mapping" and mapping.pairs[0][0].label == "月份"
    plain = dossier_row("x.y", "[not json", ("x", "x"), "", say)
    assert plain.shape == "text" and plain.text == "[not json"
