"""The data bureau's dashboard page through the real gateway with real logins: the
figures the page embeds for its charts follow the filter by bundle, service centre and
period; a bundle with too few cases is withheld; clerks may not see it; a filter that is
not one is refused with the field named, in the reader's language."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import served_gateway
from temporalio.testing import WorkflowEnvironment
from test_auth import PASSWORD, log_in

from friction.register import CantGetItDoneRecord
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from kernel.events import (
    CaseRecord,
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    Provenance,
)

BUNDLE = "employment-hardship"
OTHER = "residence-permit"  # two cases only: withheld
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"
WEEK1 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
WEEK2 = WEEK1 + timedelta(days=7)


def case(case_id: str, centre: str, opened: datetime, *, bundle: str = BUNDLE,
         trips: int = 1, prefilled: int = 9) -> CaseRecord:
    return CaseRecord(
        case_id=case_id, bundle=bundle, bundle_version=1, centre=centre, channel="window",
        status="completed", opened_at=opened, closed_at=opened + timedelta(hours=1),
        trips=trips, fields_total=10, fields_prefilled=prefilled,
    )


def seed(store: SqliteFrictionStore) -> None:
    """Six cases at liangxi in week 1, each typing two fields again (one waited past its
    step's limit); five at binhu in week 2, each asked for paper; two of another bundle;
    a can't-get-it-done case at liangxi."""
    events: list[FrictionEvent] = []
    for i in range(6):
        store.upsert_case(case(f"L{i}", "liangxi", WEEK1 + timedelta(minutes=i),
                               trips=2 if i == 0 else 1))
        events += [ManualReentry(
            event_id=f"L{i}/{n}", occurred_at=WEEK1 + timedelta(minutes=i), case_id=f"L{i}",
            bundle=BUNDLE, step=FORM, centre="liangxi", field=field,
            known_from=Provenance(kind="agency", source="public-security"))
            for n, field in enumerate(("phone", "bank_account"))]
    events.append(ExtraWait(event_id="L0/w", occurred_at=WEEK1, case_id="L0", bundle=BUNDLE,
                            step="registration", centre="liangxi", scope="step",
                            due_at=WEEK1))
    for i in range(5):
        store.upsert_case(case(f"B{i}", "binhu", WEEK2 + timedelta(minutes=i), prefilled=10))
        events.append(PhysicalMaterialRequested(
            event_id=f"B{i}/p", occurred_at=WEEK2 + timedelta(minutes=i), case_id=f"B{i}",
            bundle=BUNDLE, step="hardship-certification", centre="binhu",
            material="household_register",
            held_by=Provenance(kind="ecert", source="household-register")))
    for i in range(2):
        store.upsert_case(case(f"R{i}", "liangxi", WEEK1, bundle=OTHER, prefilled=2))
    assert len(store.ingest(events).stored) == len(events)
    store.register_cant_get_it_done(CantGetItDoneRecord(
        case_id="20260302-CANTDONE", bundle=BUNDLE, step=FORM, centre="liangxi",
        department="hrss", cause="system", registered_at=WEEK1, deadline=date(2026, 3, 9)))


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("analyst", PASSWORD, ("analyst",))
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi",))
    return book


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    seed(store)
    async with served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                              headers={}) as browser:
        yield browser


def charts(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="dashboard-charts">(.*?)</script>',
                      html, re.S)
    assert found, "the page carries no chart data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no element {element_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def by_key(chart: dict[str, Any], values: str = "values") -> dict[str, Any]:
    return dict(zip(chart["keys"], chart[values], strict=True))


def kinds(data: dict[str, Any]) -> dict[str, int]:
    return {s["kind"]: sum(s["events"]) for s in data["over_time"]["series"]}


async def test_the_figures_follow_the_filter(gateway: httpx.AsyncClient) -> None:
    assert (await log_in(gateway, "analyst")).headers["location"] == "/console/dashboard"
    everything = await gateway.get("/console/dashboard")
    assert everything.status_code == 200, everything.text
    assert "卡点在哪里" in everything.text  # Chinese unless chosen otherwise
    data = charts(everything.text)
    assert kinds(data) == {"manual_reentry": 12, "extra_wait": 1, "physical_material": 5}
    assert data["over_time"]["periods"][0] == "2026-03-02"
    assert len(data["over_time"]["periods"]) == 8  # every day from the first to the last
    # Eleven cases of the bundle, one of them in two trips; the other bundle withheld.
    assert by_key(data["trips"]) == {BUNDLE: round(12 / 11, 2), OTHER: None}
    assert by_key(data["prefill"], "share_percent") == {
        BUNDLE: round(100 * (6 * 9 + 5 * 10) / 110, 1), OTHER: None}
    assert data["prefill"]["benchmark_percent"] == 92.0
    assert "已隐去" in text_of(everything.text, "prefill-table")
    assert by_key(data["stuck_points"])[FORM_POINT] is not None
    link = f'href="/console/backlog/{quote(FORM_POINT, safe="")}"'
    assert link in everything.text
    assert by_key(data["sla_breaches"]) == {f"{BUNDLE}|registration": 1.0}
    cant = dict(zip(data["cant_get_it_done"]["causes"], data["cant_get_it_done"]["open"],
                    strict=True))
    assert cant["system"] == 1 and sum(cant.values()) == 1
    assert "系统故障" in text_of(everything.text, "cant-table")

    binhu = charts((await gateway.get("/console/dashboard", params={"centre": "binhu"})).text)
    assert kinds(binhu) == {"physical_material": 5}
    assert by_key(binhu["trips"]) == {BUNDLE: 1.0}
    assert by_key(binhu["prefill"], "share_percent") == {BUNDLE: 100.0}
    assert binhu["cant_get_it_done"]["open"] == [0] * len(binhu["cant_get_it_done"]["open"])

    # Only the other bundle: its two cases are too few to show anything about.
    other = await gateway.get("/console/dashboard", params={"bundle": OTHER})
    assert by_key(charts(other.text)["trips"]) == {OTHER: None}
    assert "已隐去" in text_of(other.text, "trips-table")

    # The period's last day is included; cases opened and events occurred within it.
    week1 = await gateway.get("/console/dashboard", params={
        "bundle": BUNDLE, "since": "2026-03-02", "until": "2026-03-08", "granularity": "week"})
    assert week1.status_code == 200, week1.text
    data = charts(week1.text)
    assert kinds(data) == {"manual_reentry": 12, "extra_wait": 1}
    assert data["over_time"]["periods"] == ["2026-03-02"]
    assert by_key(data["trips"]) == {BUNDLE: round(7 / 6, 2)}
    week2 = charts((await gateway.get("/console/dashboard", params={
        "since": "2026-03-09", "until": "2026-03-09"})).text)
    assert kinds(week2) == {"physical_material": 5}
    assert by_key(week2["trips"]) == {BUNDLE: 1.0}


async def test_bad_filters_are_named_and_clerks_are_kept_out(
    gateway: httpx.AsyncClient,
) -> None:
    await log_in(gateway, "analyst")
    bad = await gateway.get("/console/dashboard", params={"since": "banana", "centre": "binhu"})
    assert bad.status_code == 422, bad.text
    assert "“起始日期”不是日期" in text_of(bad.text, "since-error")
    assert 'id="since" name="since" type="date" value="banana" aria-invalid="true"' in bad.text
    assert 'value="binhu" selected' in bad.text  # the rest of the filter as sent
    assert "dashboard-charts" not in bad.text
    backwards = await gateway.get("/console/dashboard", params={
        "since": "2026-03-09", "until": "2026-03-01"})
    assert backwards.status_code == 422 and "until-error" in backwards.text
    unknown = await gateway.get("/console/dashboard", params={"granularity": "year"})
    assert unknown.status_code == 422 and "granularity-error" in unknown.text

    await gateway.get("/lang/en", params={"next": "/console/dashboard"})
    english = await gateway.get("/console/dashboard", params={"until": "2026-13-01"})
    assert english.status_code == 422
    assert "“End date (inclusive)” is not a date" in text_of(english.text, "until-error")
    fine = await gateway.get("/console/dashboard")
    assert "Where bundles get stuck" in fine.text and "withheld" in fine.text
    assert "System fault" in text_of(fine.text, "cant-table")
    assert "Typed again although known" in text_of(fine.text, "stuck-points-table")

    await gateway.post("/console/logout", data={"_csrf_token": ""})
    gateway.cookies.clear()
    assert (await log_in(gateway, "clerk")).status_code == 303
    refused = await gateway.get("/console/dashboard")
    assert refused.status_code == 403


def table_rows(html: str, element_id: str) -> list[list[str]]:
    """A table's header and body rows as the reader sees them, cell by cell."""
    found = re.search(rf'<table[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</table>', html,
                      re.S)
    assert found, f"no table {element_id}"
    body = re.sub(r"<caption.*?</caption>", "", found.group(1), flags=re.S)
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
         for cell in re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr\b[^>]*>(.*?)</tr>", body, re.S)
    ]


TABLES = ("over_time", "stuck_points", "trips", "prefill", "sla", "cant", "satisfaction",
          "friction_split")


async def test_every_table_downloads_as_the_csv_it_shows(gateway: httpx.AsyncClient) -> None:
    await log_in(gateway, "analyst")
    flt = {"centre": "liangxi", "granularity": "week"}
    shown = await gateway.get("/console/dashboard", params=flt)
    assert shown.status_code == 200, shown.text
    for table in TABLES:
        element = f"{table.replace('_', '-')}-table"
        if f'id="{element}"' not in shown.text:
            continue  # no ratings here: the satisfaction table says so instead
        href = unescape(re.search(rf'href="([^"]+)"[^>]*id="{table.replace("_", "-")}-csv"',
                                  shown.text).group(1))  # type: ignore[union-attr]
        assert "centre=liangxi" in href and "granularity=week" in href
        download = await gateway.get(href)
        assert download.status_code == 200, download.text
        assert download.headers["content-type"].startswith("text/csv")
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.content.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
        parsed = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert parsed == table_rows(shown.text, element), table
    stuck = list(csv.reader(io.StringIO((await gateway.get(
        "/console/dashboard/export.csv", params={"table": "stuck_points"})).content
        .decode("utf-8-sig"))))
    assert stuck[0][:4] == ["排名", "类型", "一件事", "事项"]
    assert any(row[2] == "就业困难认定和补贴一件事" for row in stuck[1:])
    # Names, counts and ids only: no case number either.
    assert not any(case_id in str(stuck) for case_id in ("L0", "B0", "CANTDONE"))

    bad = await gateway.get("/console/dashboard/export.csv", params={"table": "cases"})
    assert bad.status_code == 400 and "table" in bad.text
    bad = await gateway.get("/console/dashboard/export.csv",
                            params={"table": "trips", "since": "banana"})
    assert bad.status_code == 400 and "since" in bad.text

    await gateway.post("/console/logout", data={"_csrf_token": ""})
    gateway.cookies.clear()
    await log_in(gateway, "clerk")
    refused = await gateway.get("/console/dashboard/export.csv", params={"table": "trips"})
    assert refused.status_code == 403


async def test_stuck_points_are_named_by_bundle_and_step(
    gateway: httpx.AsyncClient,
) -> None:
    await log_in(gateway, "analyst")
    shown = await gateway.get("/console/dashboard")
    labels = charts(shown.text)["stuck_points"]["labels"]
    assert "已有信息重复录入：就业困难认定和补贴一件事 · 灵活就业人员参保" in labels
    assert len(set(labels)) == len(labels)


async def test_an_empty_store_shows_no_data_instead_of_empty_charts(
    dev_env: WorkflowEnvironment, task_queue: str, accounts: AccountBook, tmp_path: Path,
) -> None:
    empty = SqliteFrictionStore(tmp_path / "empty.db")
    async with served_gateway(dev_env.client, empty, task_queue, accounts=accounts,
                              headers={}) as browser:
        await log_in(browser, "analyst")
        shown = await browser.get("/console/dashboard")
        assert shown.status_code == 200, shown.text
        for section in ("over-time", "stuck-points", "trips", "prefill", "sla", "cant"):
            assert "暂无数据" in text_of(shown.text, f"{section}-empty"), section
            assert f'id="{section}-chart"' not in shown.text
