"""The developers' backlog pages of the console, through the real gateway with real
logins: stuck points ranked by burden with their evidence; a developer triages the form's
stuck point and marks its fix deployed through the page's forms, and the next read shows
the data's verdict with its before/after rates; refused moves (no CSRF token, the wrong
role, a stale status, a field the lifecycle wants) change nothing and say why."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import served_gateway
from temporalio.testing import WorkflowEnvironment

from friction.backlog import TransitionRequest
from friction.notebook import transition
from friction.sqlite_store import SqliteFrictionStore
from friction.verification import VerificationPolicy
from gateway.accounts import AccountBook
from kernel.events import (
    CaseRecord,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    Provenance,
    RepeatTrip,
)

BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"
TRIP_POINT = f"repeat_trip|{BUNDLE}|{FORM}|trip"
PAPER_POINT = f"physical_material|{BUNDLE}|hardship-certification|household_register"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
FIXED = T0 + timedelta(days=14)  # cases opened from here on meet the fixed form
CASES = 12  # before the fix, and again after it
PASSWORD = "correct-horse-battery"
POLICY = VerificationPolicy(min_cases=8)


def page_of(fingerprint: str) -> str:
    return f"/console/backlog/{quote(fingerprint, safe='')}"


def case(case_id: str, opened_at: datetime) -> CaseRecord:
    return CaseRecord(
        case_id=case_id, bundle=BUNDLE, bundle_version=1, centre="liangxi-chongan",
        channel="window", status="completed", opened_at=opened_at,
        closed_at=opened_at + timedelta(hours=1), trips=1, fields_total=25,
        fields_prefilled=23, working_days=1, clerk_minutes=25.0,
    )


def seed(store: SqliteFrictionStore) -> None:
    """Before the fix every case types the phone and bank account again (2.45 minutes a
    field); one case also comes back (135 minutes) and one is asked for paper (13)."""
    events: list[FrictionEvent] = []
    for i in range(CASES):
        opened = T0 + timedelta(hours=i)
        store.upsert_case(case(f"B{i:02}", opened))
        store.upsert_case(case(f"A{i:02}", FIXED + timedelta(days=1, hours=i)))
        for n, (field, source) in enumerate((("phone", "public-security"),
                                             ("bank_account", "bank"))):
            events.append(ManualReentry(
                event_id=f"B{i:02}/{n}", occurred_at=opened + timedelta(minutes=10),
                case_id=f"B{i:02}", bundle=BUNDLE, step=FORM, field=field,
                known_from=Provenance(kind="agency", source=source),
                trace_id=f"{i:032x}"))
    events.append(RepeatTrip(event_id="B00/9", occurred_at=T0, case_id="B00", bundle=BUNDLE,
                             step=FORM, trip_number=2, reasons=("missing_material",),
                             could_have_been_told=()))
    events.append(PhysicalMaterialRequested(
        event_id="B01/9", occurred_at=T0, case_id="B01", bundle=BUNDLE,
        step="hardship-certification", material="household_register",
        held_by=Provenance(kind="ecert", source="household-register")))
    store.ingest(events)


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("dev.wang", PASSWORD, ("developer",), display_name="王工")
    book.add("ana.li", PASSWORD, ("analyst",))
    book.add("clerk.zhao", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    return book


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with a seeded notebook, and a browser that has not logged in."""
    seed(store)
    async with served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                              headers={}, verification=POLICY) as browser:
        yield browser


class Forms(HTMLParser):
    """Each form of a page by id: its action and the values it would send as it is."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str, dict[str, str]]] = {}
        self._current: dict[str, str] | None = None
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {}
            self.forms[attr.get("id", f"form{len(self.forms)}")] = (attr["action"], self._current)
        elif tag == "input" and self._current is not None and "name" in attr:
            self._current[attr["name"]] = attr.get("value", "")
        elif tag == "textarea" and self._current is not None:
            self._textarea = attr["name"]
            self._current[attr["name"]] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea and self._current is not None:
            self._current[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._current = None


async def submit(
    browser: httpx.AsyncClient, html: str, form_id: str, **filled: str
) -> httpx.Response:
    """Fill in a form of the page and send it, as a person at the browser would."""
    forms = Forms(html).forms
    assert form_id in forms, f"no form {form_id}; the page has {sorted(forms)}"
    action, values = forms[form_id]
    return await browser.post(action, data={**values, **filled})


def csrf_token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@contextlib.asynccontextmanager
async def logged_in(gateway: httpx.AsyncClient, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own, logged in through the login form."""
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as browser:
        form = await browser.get("/login")
        response = await browser.post("/login", data={
            "username": username, "password": PASSWORD, "_csrf_token": csrf_token(form.text)})
        assert response.status_code == 303, response.text
        yield browser


def ranked_links(html: str) -> list[str]:
    return [unescape(link) for link in re.findall(r'href="(/console/backlog/[^"]+)"', html)]


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with `element_id`, tags dropped."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no element {element_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def charts(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="backlog-charts">(.*?)</script>',
                      html, re.S)
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


async def test_a_developer_ranks_triages_and_deploys_a_fix_the_data_verifies(
    gateway: httpx.AsyncClient, store: SqliteFrictionStore
) -> None:
    async with logged_in(gateway, "dev.wang") as browser:
        backlog = await browser.get("/console/backlog", params={"bundle": BUNDLE})
        assert backlog.status_code == 200, backlog.text
        assert ranked_links(backlog.text) == [
            page_of(TRIP_POINT), page_of(FORM_POINT), page_of(PAPER_POINT)]
        assert "按负担排序的卡点" in backlog.text  # Chinese unless chosen otherwise
        assert "灵活就业人员参保" in backlog.text  # the step by its name
        assert "新发现" in backlog.text

        item = await browser.get(page_of(FORM_POINT))
        assert item.status_code == 200, item.text
        assert "B11" in text_of(item.text, "sample-cases")  # the latest
        # Sources and fields by name: the agency, the form's label.
        assert "部门数据：公安" in text_of(item.text, "known-from")
        assert "缴费银行账号" in text_of(item.text, "details")
        assert f"{11:032x}" in item.text  # a trace id to follow the case
        # From "new" the lifecycle allows triage only.
        assert [f for f in Forms(item.text).forms if f.startswith("move-")] == ["move-triaged"]

        refused = await submit(browser, item.text, "move-triaged", owner=" ", reason="top")
        assert refused.status_code == 422, refused.text
        assert "指定负责人" in text_of(refused.text, "triaged-owner-error")
        assert store.transitions(FORM_POINT) == []

        moved = await submit(browser, item.text, "move-triaged", owner="platform-team",
                             reason="top of the backlog")
        assert moved.status_code == 303 and moved.headers["location"] == page_of(FORM_POINT)
        item = await browser.get(page_of(FORM_POINT))
        assert "已保存" in item.text and text_of(item.text, "owner") == "platform-team"

        future = await submit(browser, item.text, "move-fix_deployed", reason="released",
                              fix_description="the form is linked to the dossier",
                              fix_deployed_at="2099-01-01T09:00")
        assert future.status_code == 422
        assert "不能晚于现在" in text_of(future.text, "fix_deployed-fix_deployed_at-error")
        assert "the form is linked to the dossier" in future.text  # kept, not typed again

        moved = await submit(browser, item.text, "move-fix_deployed", reason="released",
                             fix_description="the form is linked to the dossier",
                             fix_deployed_at="2026-03-16T09:00")  # China time: FIXED
        assert moved.status_code == 303, moved.text
        item = await browser.get(page_of(FORM_POINT))

    # The read ran the verifier: 24 events in 12 cases before, none in the 12 since.
    assert [(t.from_status, t.to_status, t.actor) for t in store.transitions(FORM_POINT)] == [
        ("new", "triaged", "dev.wang"),
        ("triaged", "fix_deployed", "dev.wang"),
        ("fix_deployed", "verified", "verifier"),
    ]
    saved = store.backlog_item(FORM_POINT)
    assert saved is not None and saved.owner == "platform-team"
    assert saved.fix_deployed_at == FIXED
    assert "数据表明整改有效" in text_of(item.text, "verdict")
    assert text_of(item.text, "rates").split()[-8:] == [
        "整改前", "12", "24", "200.0", "整改后", "12", "0", "0.0"]
    assert "dev.wang" in text_of(item.text, "transitions")
    data = charts(item.text)
    assert data["rates"]["per_100_cases"] == [200.0, 0.0]
    assert data["trend"]["weeks"][:3] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert data["trend"]["events"][:3] == [24, 0, 0]
    assert data["trend"]["fix_week"] == "2026-03-16"
    assert [f for f in Forms(item.text).forms if f.startswith("move-")] == ["move-reopened"]


async def test_refused_moves_change_nothing(
    gateway: httpx.AsyncClient, store: SqliteFrictionStore
) -> None:
    async with logged_in(gateway, "dev.wang") as developer:
        item = (await developer.get(page_of(FORM_POINT))).text
        _, values = Forms(item).forms["move-triaged"]
        forged = await developer.post(f"{page_of(FORM_POINT)}/transitions", data={
            **{k: v for k, v in values.items() if k != "_csrf_token"},
            "owner": "x", "reason": "y"})
        assert forged.status_code == 403
        assert store.transitions(FORM_POINT) == []

        # Two tabs on the same item: the second one's move comes after the first's.
        moved = await submit(developer, item, "move-triaged", owner="team-a", reason="mine")
        assert moved.status_code == 303
        stale = await submit(developer, item, "move-triaged", owner="team-b", reason="mine")
        assert stale.status_code == 409
        assert "其他人已变更" in stale.text
        assert text_of(stale.text, "owner") == "team-a"
        assert len(store.transitions(FORM_POINT)) == 1

        item = (await developer.get(page_of(FORM_POINT))).text
    async with logged_in(gateway, "ana.li") as analyst:
        assert (await analyst.get("/console/backlog")).status_code == 200
        shown = await analyst.get(page_of(FORM_POINT))
        assert shown.status_code == 200 and "move-" not in shown.text
        _, values = Forms(item).forms["move-fix_deployed"]
        refused = await analyst.post(f"{page_of(FORM_POINT)}/transitions", data={
            **values, "_csrf_token": csrf_token(shown.text), "reason": "r",
            "fix_description": "d"})
        assert refused.status_code == 403
        assert "无权访问" in refused.text
    async with logged_in(gateway, "clerk.zhao") as clerk:
        assert (await clerk.get("/console/backlog")).status_code == 403
    assert len(store.transitions(FORM_POINT)) == 1

    anonymous = await gateway.get("/console/backlog")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    missing = await gateway.get(page_of("manual_reentry|nowhere|nothing|form"))
    assert missing.status_code == 303  # log in first, then learn it does not exist


async def test_the_pages_speak_english_when_asked(gateway: httpx.AsyncClient) -> None:
    async with logged_in(gateway, "ana.li") as analyst:
        chosen = await analyst.get("/lang/en", params={"next": "/console/backlog"})
        assert chosen.status_code == 303
        backlog = await analyst.get("/console/backlog")
        assert "Stuck points by burden" in backlog.text
        assert "按负担排序的卡点" not in backlog.text
        item = await analyst.get(page_of(PAPER_POINT))
        assert "Paper asked for although held" in item.text
        assert "E-certificate" in text_of(item.text, "known-from")
        assert "Only developers move backlog items." in item.text
        assert charts(item.text)["rates"] is None  # no fix, no before/after
        missing = await analyst.get(page_of("manual_reentry|nowhere|nothing|form"))
        assert missing.status_code == 404 and "Not found" in missing.text


def order_of(html: str) -> list[str]:
    """The stuck points of the backlog table, top first, by fingerprint."""
    table = re.search(r'<table id="backlog"[^>]*>(.*?)</table>', html, re.S)
    return ranked_links(table.group(1)) if table else []


async def test_the_backlog_filters_and_sorts_by_its_query(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> None:
    seed(store)
    transition(store, FORM_POINT, TransitionRequest(
        to_status="triaged", reason="top", owner="platform-team"), "dev.wang", T0)
    # Forty days on, every event lies in the four weeks before the last four: a falling
    # trend, steepest for the form typed again 24 times.
    later = T0 + timedelta(days=40)
    async with served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                              headers={}, clock=lambda: later) as gateway, \
            logged_in(gateway, "dev.wang") as browser:
        by_page = {page_of(fp): fp for fp in (FORM_POINT, TRIP_POINT, PAPER_POINT)}

        async def order(**query: str) -> list[str]:
            shown = await browser.get("/console/backlog", params=query)
            assert shown.status_code == 200, shown.text
            return [by_page[link] for link in order_of(shown.text)]

        # Burden: the return trip (135 minutes), the form (58.8), the paper (13).
        assert await order() == [TRIP_POINT, FORM_POINT, PAPER_POINT]
        assert await order(sort="count") == [FORM_POINT, TRIP_POINT, PAPER_POINT]
        assert await order(sort="trend") == [TRIP_POINT, PAPER_POINT, FORM_POINT]
        assert await order(sort="rating") == [TRIP_POINT, FORM_POINT, PAPER_POINT]  # none rated
        assert await order(status="triaged") == [FORM_POINT]
        assert await order(status="new", sort="count") == [TRIP_POINT, PAPER_POINT]
        assert await order(owner="platform-team") == [FORM_POINT]
        assert await order(owner="-") == [TRIP_POINT, PAPER_POINT]
        assert await order(kind="repeat_trip") == [TRIP_POINT]
        assert await order(bundle="residence-permit") == []
        shown = await browser.get("/console/backlog", params={"kind": "physical_material",
                                                             "sort": "trend"})
        assert 'value="physical_material" selected' in shown.text  # the form keeps it
        assert 'value="trend" selected' in shown.text
        assert "−1" in text_of(shown.text, "backlog")  # one event fewer than before

        for name, value in (("status", "done"), ("sort", "random"), ("kind", "typo"),
                            ("bundle", "nowhere"), ("owner", "x" * 65)):
            bad = await browser.get("/console/backlog", params={name: value,
                                                               "kind": "repeat_trip"}
                                    if name != "kind" else {name: value})
            assert bad.status_code == 400, (name, bad.text)
            assert f'id="{name}-error"' in bad.text, name
            assert f'id="{name}" name="{name}" aria-invalid="true"' in bad.text, name
            assert 'id="backlog"' not in bad.text
            if name != "kind":
                assert 'value="repeat_trip" selected' in bad.text  # the rest as sent
        bad = await browser.get("/console/backlog", params={"status": "done"})
        assert "请从列表中选择状态" in text_of(bad.text, "status-error")
