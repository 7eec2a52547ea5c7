"""Chinese first, names never ids: after real cases ran through the gateway and the worker
(retyped fields, a return visit, a clerk's note), the clerk's case page, the analyst's
dashboard and the developers' backlog in Chinese show no agency id, dossier concept key,
coded value, kind or note category; the note form offers exactly what the notebook
accepts; the 403, 404 and 429 pages and a refused ID number speak Chinese, while API
clients keep problem details naming the field."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServedApp, bearer, known_values, served_gateway

from deploy.sim.clerk import ClerkHabits, HttpDesk, serve_case
from deploy.sim.population import Citizen
from friction.notebook import NOTE_CATEGORIES, NOTE_KINDS
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.auth import LOGIN_LIMIT
from gateway.i18n import LANG_COOKIE
from kernel.events import FRICTION_KINDS
from workflows.definition import Catalogue
from workflows.vocabulary import used_ids

PASSWORD = "names-not-ids-2026"
BUNDLE = "employment-hardship"
CENTRE = "liangxi-chongan"
CLERK = bearer("clerk")
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), display_name="王窗口", centres=(CENTRE,))
    book.add("analyst", PASSWORD, ("analyst",))
    book.add("developer", PASSWORD, ("developer",))
    return book


@pytest.fixture
async def gateway(
    dev_env: Any, fresh_agencies: ServedApp, agency_urls: dict[str, str],
    store: SqliteFrictionStore, task_queue: str, accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, agency_urls,
                              accounts=accounts, headers=CLERK) as client:
        yield client


async def logged_in(gateway: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=gateway.base_url, timeout=60, headers=HTML)
    form = await client.get("/login")
    done = await client.post("/login", data={
        "username": username, "password": PASSWORD, "_csrf_token": csrf_of(form.text)})
    assert done.status_code == 303, done.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


class _Text(HTMLParser):
    """The text a person reads: no tags, attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def known_ids() -> set[str]:
    """Every id a person must not read: agencies, concepts, coded values, e-certificate
    types (as the catalogue uses them), kinds and note categories (as the notebook
    defines them), and the bundles' and steps' ids."""
    catalogue = Catalogue.load()
    ids = {i for found in used_ids(catalogue).values() for i in found}
    ids |= set(FRICTION_KINDS) | set(NOTE_CATEGORIES) | set(catalogue.ids())
    ids |= {s.id for b in catalogue.ids() for v in catalogue.versions(b)
            for s in catalogue.get(b, v).steps}
    return ids


def raw_ids_in(text: str) -> list[str]:
    """Each id found, with what surrounds it."""
    found = []
    for i in sorted(known_ids()):
        if seen := re.search(rf"(?<![\w.-]){re.escape(i)}(?![\w-]|\.\w)", text):
            found.append(f"{i} in …{text[max(0, seen.start() - 30):seen.end() + 30]}…")
    return found


async def served(gateway: httpx.AsyncClient, citizens: list[Citizen]) -> list[str]:
    async def one(citizen: Citizen) -> str:
        opened = await gateway.post("/api/cases", json={
            "bundle": BUNDLE, "citizen_id_number": citizen.id_number, "centre": CENTRE,
            "bundle_version": 1})
        assert opened.status_code == 201, opened.text
        case_id: str = opened.json()["case_id"]
        trip = await gateway.post(f"/api/cases/{case_id}/trips", json={"reasons": []})
        assert trip.status_code == 200, trip.text
        note = await gateway.post(f"/api/cases/{case_id}/notes", json={
            "category": "form", "about_kind": "manual_reentry", "subject": "bank_account",
            "text": "参保表又要重填"})
        assert note.status_code == 201, note.text
        final = await serve_case(HttpDesk(gateway, case_id), known_values(citizen),
                                 ClerkHabits(), timeout=90)
        assert final.status == "completed", final
        return case_id

    return list(await asyncio.gather(*(one(c) for c in citizens)))


async def test_pages_in_chinese_name_things_and_show_no_raw_id(
    gateway: httpx.AsyncClient, population: list[Citizen]
) -> None:
    citizens = [c for c in population
                if "resident_id_card" in c.certificates and c.bank_account is not None][:2]
    case_ids = await served(gateway, citizens)
    # The scan itself finds an id.
    assert raw_ids_in("人社 hrss 是否低保家庭") == ["hrss in …人社 hrss 是否低保家庭…"]

    clerk = await logged_in(gateway, "clerk")
    try:
        shown = await clerk.get(f"/console/desk/cases/{case_ids[0]}")
        assert shown.status_code == 200, shown.text
        text = visible(shown.text)
        assert not (found := raw_ids_in(text)), "\n".join(found)
        # The dossier by concept names, coded values and agencies in words.
        for words in ("是否低保家庭", "户口性质", "人社", "公安"):
            assert words in text, words
        # The note form offers exactly what the notebook accepts, by name.
        offered = re.search(r'<select id="note-kind"[^>]*>(.*?)</select>', shown.text, re.S)
        categories = re.search(r'<select id="note-category"[^>]*>(.*?)</select>',
                               shown.text, re.S)
        assert offered and categories
        assert re.findall(r'value="([^"]+)"', offered.group(1)) == list(NOTE_KINDS)
        assert re.findall(r'value="([^"]+)"', categories.group(1)) == list(NOTE_CATEGORIES)
        assert "已有信息重复录入" in offered.group(1) and "表单" in categories.group(1)
    finally:
        await clerk.aclose()
    refused = await gateway.post(f"/api/cases/{case_ids[0]}/notes", json={
        "category": "form", "about_kind": "cant_get_it_done", "text": "t"})
    assert refused.status_code == 422 and refused.json()["field"] == "about_kind"

    analyst = await logged_in(gateway, "analyst")
    try:
        dashboard = await analyst.get("/console/dashboard", params={"since": "2000-01-01"})
        assert dashboard.status_code == 200, dashboard.text
        assert not (found := raw_ids_in(visible(dashboard.text))), "\n".join(found)
        backlog = await analyst.get("/console/backlog")
        assert backlog.status_code == 200, backlog.text
        text = visible(backlog.text)
        assert not (found := raw_ids_in(text)), "\n".join(found)
        assert "灵活就业人员参保" in text and "已有信息重复录入" in text
        stuck = re.search(r'href="(/console/backlog/manual_reentry[^"]+)"', backlog.text)
        assert stuck, backlog.text
        item = await analyst.get(stuck.group(1).replace("&amp;", "&"))
        remedy = re.search(r'<td id="remedy">([^<]+)</td>', item.text)
        assert remedy and remedy.group(1).startswith("将“灵活就业人员参保”表单与档案关联"), (
            remedy and remedy.group(1))
        assert not re.search(r"[A-Za-z_]{3,}", remedy.group(1))

        # A page of another role: a Chinese 403 naming the role, never the English guard.
        denied = await analyst.get("/console/desk")
        assert denied.status_code == 403
        assert "此页面仅供窗口工作人员使用" in denied.text
        assert "this needs the role" not in denied.text
    finally:
        await analyst.aclose()


async def test_error_pages_speak_chinese_and_api_clients_keep_problem_details(
    gateway: httpx.AsyncClient, population: list[Citizen]
) -> None:
    # 404: a page for a browser, wherever the unknown path is; problem details otherwise.
    for path in ("/console/no-such-page", "/no-such-page"):
        page = await gateway.get(path, headers=HTML)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "没有这个页面" in page.text and '"status_code"' not in page.text
    english = await gateway.get("/no-such-page",
                                headers={**HTML, "Cookie": f"{LANG_COOKIE}=en"})
    assert "There is no such page here" in english.text and "没有这个页面" not in english.text
    machine = await gateway.get("/no-such-page")
    assert machine.status_code == 404
    assert machine.headers["content-type"].startswith("application/problem+json")
    api = await gateway.get("/api/no-such-thing", headers=HTML)
    assert api.headers["content-type"].startswith("application/problem+json")

    # A refused ID number on the desk: the field by its name and what is wrong, in Chinese.
    clerk = await logged_in(gateway, "clerk")
    try:
        desk = await clerk.get("/console/desk")
        good = population[0].id_number
        wrong = good[:17] + ("0" if good[17] != "0" else "1")
        refused = await clerk.post("/console/desk/cases", data={
            "_csrf_token": csrf_of(desk.text), "request_key": "k-1", "bundle": BUNDLE,
            "citizen_id_number": wrong})
        assert refused.status_code == 422
        said = re.search(r'<p class="field-error" id="err-citizen_id_number">([^<]+)</p>',
                         refused.text)
        assert said and said.group(1) == "群众公民身份号码：校验位不正确", said and said.group(1)
    finally:
        await clerk.aclose()
    # The API says it in its own words, naming the field.
    problem = await gateway.post("/api/cases", json={
        "bundle": BUNDLE, "citizen_id_number": wrong, "centre": CENTRE})
    assert problem.status_code == 422
    assert problem.json()["field"] == "citizen_id_number"
    assert "check digit" in problem.json()["detail"]

    # 429 at the login door: a Chinese page with Retry-After, for a browser.
    anonymous = httpx.AsyncClient(base_url=gateway.base_url, timeout=60, headers=HTML)
    try:
        token = csrf_of((await anonymous.get("/login")).text)
        answers = [await anonymous.post("/login", data={
            "username": "clerk", "password": "wrong", "_csrf_token": token})
            for _ in range(LOGIN_LIMIT.rate_limit[1] + 1)]
        limited = answers[-1]
        assert limited.status_code == 429, [a.status_code for a in answers]
        assert limited.headers["content-type"].startswith("text/html")
        assert "尝试次数过多" in limited.text and "Too Many Requests" not in limited.text
        assert int(limited.headers["retry-after"]) > 0
    finally:
        await anonymous.aclose()
