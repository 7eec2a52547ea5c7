"""Who gets in: bearer tokens with roles for the API, a session with CSRF for the console."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import bearer, served_gateway
from temporalio.testing import WorkflowEnvironment

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook, AccountError

PASSWORD = "counter-pass-2026"
PROBLEM = "application/problem+json"


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(tmp_path / "accounts.json")
    book.add("clerk", PASSWORD, ("clerk",), centre="liangxi-chongan")
    book.add("analyst", PASSWORD, ("analyst",))
    return book


@pytest.fixture
async def gateway(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                              headers={}) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the form carries no CSRF token"
    return found.group(1)


async def log_in(gateway: httpx.AsyncClient, username: str) -> httpx.Response:
    form = await gateway.get("/login")
    return await gateway.post("/login", data={
        "username": username, "password": PASSWORD, "_csrf_token": csrf_of(form)})


async def test_the_api_wants_a_token_with_the_right_role(gateway: httpx.AsyncClient) -> None:
    anonymous = await gateway.get("/api/friction/backlog")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith(PROBLEM)
    clerk = await gateway.get("/api/friction/backlog", headers=bearer("clerk"))
    assert clerk.status_code == 403
    analyst = await gateway.get("/api/friction/backlog", headers=bearer("analyst"))
    assert analyst.status_code == 200
    moved = await gateway.post(
        "/api/friction/backlog/manual_reentry%7Cb%7Cs%7Cform/transitions",
        headers=bearer("analyst"),
        json={"to_status": "triaged", "reason": "r", "actor": "a", "owner": "o"})
    assert moved.status_code == 403  # analysts read the backlog; developers move it
    forged = await gateway.get("/api/worklist", headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401
    # Public: health, metrics, the OpenAPI document.
    for path in ("/healthz", "/metrics", "/schema/openapi.json"):
        assert (await gateway.get(path)).status_code == 200, path


async def test_an_account_exchanges_its_password_for_a_token(
    gateway: httpx.AsyncClient,
) -> None:
    wrong = await gateway.post("/api/auth/token", json={"username": "clerk", "password": "x"})
    assert wrong.status_code == 401
    issued = await gateway.post("/api/auth/token",
                                json={"username": "clerk", "password": PASSWORD})
    assert issued.status_code == 200, issued.text
    assert issued.json()["roles"] == ["clerk"]
    token = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert (await gateway.get("/api/worklist", headers=token)).status_code == 200
    assert (await gateway.get("/api/reports", headers=token)).status_code == 403


async def test_console_login_with_csrf_and_roles(
    gateway: httpx.AsyncClient, accounts: AccountBook
) -> None:
    # A page asked for while logged out leads to the login form, and back after it.
    asked = await gateway.get("/console/desk")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=/console/desk"
    # A form posted without its CSRF token is refused, and no session is made.
    await gateway.get("/login")
    forged = await gateway.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert forged.status_code == 403
    assert "onething-session" not in gateway.cookies
    failed = await log_in(gateway, "clerk-nobody")
    assert failed.status_code == 401 and "用户名不存在或密码错误" in failed.text

    done = await log_in(gateway, "clerk")
    assert done.status_code == 303 and done.headers["location"] == "/console/desk"
    desk = await gateway.get("/console/desk")
    assert desk.status_code == 200 and "待我办理" in desk.text
    # The session cookie is for the console: the API still wants a bearer token.
    assert (await gateway.get("/api/worklist")).status_code == 401
    # The language follows the account.
    await gateway.get("/lang/en", params={"next": "/console/desk"})
    assert accounts.get("clerk") is not None and accounts.get("clerk").lang == "en"  # type: ignore[union-attr]
    assert "Waiting on me" in (await gateway.get("/console/desk")).text
    # An open redirect after login is not possible.
    gateway.cookies.clear()
    form = await gateway.get("/login")
    away = await gateway.post("/login", data={
        "username": "analyst", "password": PASSWORD, "_csrf_token": csrf_of(form),
        "next": "//evil.example/"})
    assert away.headers["location"] == "/console/dashboard"
    refused = await gateway.get("/console/desk")
    assert refused.status_code == 403 and "无权访问" in refused.text


def test_accounts_refuse_bad_input_and_keep_no_password(tmp_path: Path) -> None:
    book = AccountBook(tmp_path / "a.json")
    with pytest.raises(AccountError, match="password"):
        book.add("short", "1234", ("clerk",))
    with pytest.raises(AccountError, match="roles"):
        book.add("nobody", PASSWORD, ("mayor",))  # type: ignore[arg-type]
    book.add("clerk", PASSWORD, ("clerk",))
    with pytest.raises(AccountError, match="exists"):
        book.add("clerk", PASSWORD, ("clerk",))
    stored = (tmp_path / "a.json").read_text()
    assert PASSWORD not in stored and "scrypt$" in stored
    reopened = AccountBook(tmp_path / "a.json")
    assert reopened.authenticate("clerk", PASSWORD) is not None
    assert reopened.authenticate("clerk", "wrong-password") is None


def test_an_account_added_by_another_process_is_seen_and_kept(tmp_path: Path) -> None:
    gateway_book = AccountBook(tmp_path / "a.json")
    gateway_book.add("clerk", PASSWORD, ("clerk",))
    # `onething account` runs in its own process, with its own book on the same file.
    AccountBook(tmp_path / "a.json").add("analyst", PASSWORD, ("analyst",))
    assert gateway_book.get("analyst") is not None
    gateway_book.set_lang("clerk", "en")  # a write from the gateway keeps the new account
    reread = AccountBook(tmp_path / "a.json")
    assert reread.get("analyst") is not None
    assert reread.get("clerk") is not None and reread.get("clerk").lang == "en"  # type: ignore[union-attr]


async def test_the_brand_link_takes_a_logged_in_clerk_home(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/")).headers["location"] == "/login"
    await log_in(gateway, "clerk")
    assert (await gateway.get("/")).headers["location"] == "/console/desk"
