"""A clerk works at the centres they serve: the role and centre matrices generated from
the gateway's route table, through the real gateway, worker and logins.

Every route handler declares its roles (a RoleGuard on a layer, or a public path) and its
centre policy (`opt`); a handler declaring neither fails here. Then, for each case-scoped
handler of the API and the console, a clerk of another centre is refused (403 naming
`centre`) and a clerk of the case's home centre is admitted. Serving another centre's
case (通办) takes a reason, is allowed only to accounts that may, is recorded on the case
for its home centre to see, and admits that clerk from then on."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import citizen_where, served_gateway
from litestar import Litestar
from litestar.routes import HTTPRoute
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import HttpDesk, wait_for
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook, AccountError
from gateway.app import create_app
from gateway.auth import PUBLIC_PATHS, TOKEN_PATH, RoleGuard
from gateway.centres import CASE_SCOPED, CENTRE_POLICIES, CENTRE_POLICY
from workflows.calendar_source import load_calendar
from workflows.definition import Catalogue

PASSWORD = "centre-matrix-2026"
PROBLEM = "application/problem+json"
# Library endpoints that serve no case data: the OpenAPI document, static files, metrics.
LIBRARY = ("/schema", "/static", "/metrics")
# Pages any logged-in account may reach (they redirect to the account's own home).
ANY_ACCOUNT = ("/console", "/console/logout")


def handlers(app: Litestar) -> list[tuple[str, str, Any]]:
    """(path, method, handler) for every HTTP route handler of the app."""
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and not route.path.startswith(LIBRARY):
            for handler in route.route_handlers:
                for method in sorted(handler.http_methods):
                    if method not in ("HEAD", "OPTIONS"):
                        found.append((route.path, method, handler))
    return found


def case_url(path: str, case_id: str) -> str:
    """The route's path for `case_id`, any other number in it (a visit) the first."""
    return re.sub(r"\{\w+:int\}", "1", path.replace("{case_id:str}", case_id))


def roles_of(handler: Any) -> list[tuple[str, ...]]:
    return [g.roles for layer in handler.ownership_layers for g in (layer.guards or [])
            if isinstance(g, RoleGuard)]


def is_public(path: str, handler: Any) -> bool:
    return (bool(handler.opt.get("exclude_from_auth")) or path == TOKEN_PATH
            or any(re.search(p, path) for p in PUBLIC_PATHS))


@pytest.fixture
def centres(task_queue: str) -> tuple[str, str, str]:
    """This test's own centres: the home centre, a neighbour, and a roving clerk's."""
    tail = task_queue[-8:].lower()
    return f"home-{tail}", f"next-{tail}", f"roving-{tail}"


@pytest.fixture
def accounts(tmp_path: Path, centres: tuple[str, str, str]) -> AccountBook:
    home, neighbour, roving = centres
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("home", PASSWORD, ("clerk",), centres=(home, "elsewhere-too"))
    book.add("next", PASSWORD, ("clerk",), centres=(neighbour,))
    book.add("roving", PASSWORD, ("clerk",), centres=(roving,), serves_elsewhere=True)
    book.add("analyst", PASSWORD, ("analyst",))
    book.add("developer", PASSWORD, ("developer",))
    return book


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment, fresh_agencies: Any, agency_urls: dict[str, str],
    store: SqliteFrictionStore, task_queue: str, accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, agency_urls,
                              accounts=accounts, headers={}) as client:
        yield client


async def token_of(gateway: httpx.AsyncClient, username: str) -> dict[str, str]:
    issued = await gateway.post("/api/auth/token",
                                json={"username": username, "password": PASSWORD})
    assert issued.status_code == 200, issued.text
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the page carries no form with a CSRF token"
    return found.group(1)


@contextlib.asynccontextmanager
async def console_of(gateway: httpx.AsyncClient, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client logged in as `username`, with a CSRF token in its header."""
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as client:
        form = await client.get("/login")
        done = await client.post("/login", data={
            "username": username, "password": PASSWORD, "_csrf_token": csrf_of(form)})
        assert done.status_code == 303, done.text
        desk = await client.get("/console/desk")
        client.headers["x-csrftoken"] = csrf_of(desk)
        yield client


async def open_case(
    gateway: httpx.AsyncClient, headers: dict[str, str], citizen: Citizen, centre: str
) -> str:
    opened = await gateway.post("/api/cases", headers=headers, json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": centre})
    assert opened.status_code == 201, opened.text
    case_id: str = opened.json()["case_id"]
    api = httpx.AsyncClient(base_url=gateway.base_url, headers=headers, timeout=60)
    async with api:
        await wait_for(HttpDesk(api, case_id), lambda p: p.awaiting == "clerk")
    return case_id


@pytest.fixture
def route_table(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, accounts: AccountBook
) -> Litestar:
    """The gateway's app as create_app makes it, for its route table."""
    return create_app(temporal=dev_env.client, store=store, catalogue=Catalogue.load(),
                      calendar=load_calendar(), secret=b"route-table-secret-0123456789",
                      accounts=accounts)


async def test_every_route_declares_its_roles_and_its_centre_policy(
    route_table: Litestar,
) -> None:
    routes = handlers(route_table)
    assert len(routes) > 40
    undeclared = [(p, m) for p, m, h in routes if h.opt.get(CENTRE_POLICY) not in CENTRE_POLICIES]
    assert undeclared == [], "handlers without a centre policy (opt=centre_policy(...))"
    unguarded = [(p, m) for p, m, h in routes
                 if not roles_of(h) and not is_public(p, h) and p not in ANY_ACCOUNT]
    assert unguarded == [], "handlers naming no role (requires(...)) on a non-public path"
    # A case-scoped handler names a case in its path, and only clerks (admins) reach it.
    for path, _, handler in routes:
        if handler.opt[CENTRE_POLICY] in CASE_SCOPED:
            assert "{case_id:str}" in path, path
            assert all(r == ("clerk",) for r in roles_of(handler)), path
    # Analysts and developers reach nothing case-scoped: their views hold no dossier.
    for path, _, handler in routes:
        if any(set(r) & {"analyst", "developer"} for r in roles_of(handler)):
            assert handler.opt[CENTRE_POLICY] == "none", path


async def test_clerks_of_another_centre_are_refused_every_case_scoped_route(
    gateway: httpx.AsyncClient, population: list[Citizen], centres: tuple[str, str, str],
    route_table: Litestar,
) -> None:
    home_centre, neighbour_centre, _ = centres
    home, neighbour = await token_of(gateway, "home"), await token_of(gateway, "next")
    # Opening a case at a centre one does not work at is refused, naming the field.
    citizen = citizen_where(population, ecerts=True)
    refused = await gateway.post("/api/cases", headers=neighbour, json={
        "bundle": "employment-hardship", "citizen_id_number": citizen.id_number,
        "centre": home_centre})
    assert refused.status_code == 403 and refused.json()["field"] == "centre"
    case_id = await open_case(gateway, home, citizen, home_centre)

    # The worklists: the home clerk's lists the case (all their centres by default), the
    # neighbour's does not and may not ask for the home centre's.
    listed = await gateway.get("/api/worklist", headers=home)
    assert case_id in [c["case_id"] for c in listed.json()["cases"]]
    theirs = await gateway.get("/api/worklist", headers=neighbour)
    assert theirs.status_code == 200
    assert case_id not in [c["case_id"] for c in theirs.json()["cases"]]
    asked = await gateway.get("/api/worklist", headers=neighbour,
                              params={"centre": home_centre})
    assert asked.status_code == 403 and asked.json()["field"] == "centre"

    case_routes = [(p, m, h.opt[CENTRE_POLICY]) for p, m, h in handlers(route_table)
                   if h.opt[CENTRE_POLICY] in CASE_SCOPED]
    assert len(case_routes) >= 18  # the API's and the console's case-scoped routes
    async with (console_of(gateway, "home") as home_console,
                console_of(gateway, "next") as neighbour_console):
        desk = await neighbour_console.get("/console/desk")
        assert case_id not in desk.text and neighbour_centre in desk.text
        assert case_id in (await home_console.get("/console/desk")).text
        # The neighbour first: refused everywhere, so the case is as it was.
        for path, method, policy in case_routes:
            url, api = case_url(path, case_id), path.startswith("/api/")
            out = await (gateway.request(method, url, headers=neighbour, json={}) if api
                         else neighbour_console.request(method, url, data={"reason": "x"}))
            assert out.status_code == 403, (method, path, out.text)
            if api:
                assert out.headers["content-type"].startswith(PROBLEM)
                assert out.json()["field"] == ("centre" if policy == "case"
                                               else "serves_elsewhere"), (method, path)
            elif policy == "case":
                assert 'id="elsewhere-refusal"' in out.text, (method, path)
                assert 'id="cross-centre-form"' not in out.text  # may not serve here
        untouched = (await gateway.get(f"/api/cases/{case_id}", headers=home)).json()
        assert untouched["trips"] == 1 and untouched["status"] == "open"
        assert untouched["served_elsewhere"] == []
        # The home clerk is admitted everywhere: what follows is the handler's own answer
        # (a closing may end the case on the way; later calls are then told it is closed).
        for path, method, policy in case_routes:
            url, api = case_url(path, case_id), path.startswith("/api/")
            admitted = await (gateway.request(method, url, headers=home, json={}) if api
                              else home_console.request(method, url, data={"reason": "x"}))
            if policy == "case":
                assert admitted.status_code not in (401, 403), (method, path, admitted.text)
            else:  # the home centre's own case needs no serving from elsewhere
                assert admitted.status_code == 409, (method, path, admitted.text)


async def test_serving_another_centres_case_takes_a_reason_and_is_recorded(
    gateway: httpx.AsyncClient, population: list[Citizen], centres: tuple[str, str, str],
) -> None:
    home_centre, _, roving_centre = centres
    home, neighbour = await token_of(gateway, "home"), await token_of(gateway, "next")
    roving = await token_of(gateway, "roving")
    case_id = await open_case(gateway, home, citizen_where(population, ecerts=True),
                              home_centre)
    path = f"/api/cases/{case_id}"
    before = await gateway.get(path, headers=roving)
    assert before.status_code == 403 and "cross-centre" in before.json()["detail"]
    blank = await gateway.post(f"{path}/cross-centre", headers=roving, json={"reason": " "})
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    served = await gateway.post(f"{path}/cross-centre", headers=roving, json={
        "reason": "申请人在东庭工作，就近办理"})
    assert served.status_code == 200, served.text
    # From then on the roving clerk reads and acts on the case; the neighbour still not.
    after = await gateway.get(path, headers=roving)
    assert after.status_code == 200
    trip = await gateway.post(f"{path}/trips", headers=roving,
                              json={"reasons": [], "actor": "someone-else"})
    assert trip.status_code == 200, trip.text
    assert (await gateway.get(path, headers=neighbour)).status_code == 403
    # The home centre sees who, from which centre, when and why; the trip names the
    # logged-in account, not the body's actor.
    seen = (await gateway.get(path, headers=home)).json()
    assert seen["centre"] == home_centre
    [record] = seen["served_elsewhere"]
    assert (record["actor"], record["centre"], record["reason"]) == (
        "roving", roving_centre, "申请人在东庭工作，就近办理")
    assert record["at"]
    assert [t["actor"] for t in seen["trip_records"]] == ["roving"]
    async with console_of(gateway, "home") as console:
        page = await console.get(f"/console/desk/cases/{case_id}")
        assert 'id="served-elsewhere"' in page.text and roving_centre in page.text


async def test_a_clerk_who_may_serve_elsewhere_does_so_in_the_console(
    gateway: httpx.AsyncClient, population: list[Citizen], centres: tuple[str, str, str],
) -> None:
    home_centre = centres[0]
    case_id = await open_case(gateway, await token_of(gateway, "home"),
                              citizen_where(population, ecerts=True), home_centre)
    async with console_of(gateway, "roving") as console:
        found = await console.get("/console/desk/find", params={"case_id": case_id.lower()})
        assert found.status_code == 303
        refused = await console.get(found.headers["location"])
        assert refused.status_code == 403 and 'id="cross-centre-form"' in refused.text
        assert "另一个服务中心" in refused.text  # Chinese first
        served = await console.post(f"/console/desk/cases/{case_id}/cross-centre",
                                    data={"reason": "跨区通办", "_csrf_token":
                                          csrf_of(refused)})
        assert served.status_code == 303, served.text
        page = await console.get(f"/console/desk/cases/{case_id}")
        assert page.status_code == 200 and "跨区通办" in page.text


def test_accounts_list_centres_and_import_files_with_one_centre(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text('{"accounts": [{"username": "old", "display_name": "旧", '
                    '"roles": ["clerk"], "centre": "liangxi-chongan", '
                    '"password_hash": "scrypt$00$00"}]}')
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    assert book.import_first(path) is not None
    old = book.get("old")
    assert old is not None and old.centres == ("liangxi-chongan",)
    assert old.centre == "liangxi-chongan" and not old.serves_elsewhere
    assert old.password_hash == "scrypt$00$00"  # the hash as the file held it
    made = book.add("two", PASSWORD, ("clerk",), centres=("a-centre", "b-centre", "a-centre"),
                    serves_elsewhere=True)
    assert made.centres == ("a-centre", "b-centre") and made.centre == "a-centre"
    reread = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    assert reread.get("two") == made and reread.get("old") == old
    assert reread.import_first(path) is None  # the store has accounts: nothing imported
    again = reread.import_file(path)  # by hand: an account the store holds stays as it is
    assert again.imported == () and again.kept == ("old",)
    with pytest.raises(AccountError, match="centres"):
        book.add("nowhere", PASSWORD, ("clerk",))
    with pytest.raises(AccountError, match="centres"):
        book.add("star", PASSWORD, ("clerk",), centres=("*",))
