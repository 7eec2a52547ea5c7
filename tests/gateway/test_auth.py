"""Who gets in: bearer tokens with roles for the API, a session with CSRF for the console."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import bearer, served_gateway
from temporalio.testing import WorkflowEnvironment

from deploy.settings import Settings
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook, AccountError
from gateway.auth import TOKEN_LIMIT, TRACK_LIMIT, redact_path

PASSWORD = "counter-pass-2026"
PROBLEM = "application/problem+json"


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
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
    store = SqliteFrictionStore(tmp_path / "a.db")
    book = AccountBook(store)
    with pytest.raises(AccountError, match="password"):
        book.add("short", "1234", ("clerk",))
    with pytest.raises(AccountError, match="roles"):
        book.add("nobody", PASSWORD, ("mayor",))  # type: ignore[arg-type]
    with pytest.raises(AccountError, match="username"):
        book.add("import", PASSWORD, ("analyst",))  # `onething account import` is a command
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    with pytest.raises(AccountError, match="exists"):
        book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    (row,) = store.accounts()
    assert PASSWORD not in repr(row) and row.password_hash.startswith("scrypt$")
    store.close()
    reopened = AccountBook(SqliteFrictionStore(tmp_path / "a.db"))
    assert reopened.authenticate("clerk", PASSWORD) is not None
    assert reopened.authenticate("clerk", "wrong-password") is None


def test_an_account_added_by_another_process_is_seen_and_kept(tmp_path: Path) -> None:
    gateway_book = AccountBook(SqliteFrictionStore(tmp_path / "a.db"))
    gateway_book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    # `onething account` runs in its own process, with its own connection to the store.
    AccountBook(SqliteFrictionStore(tmp_path / "a.db")).add("analyst", PASSWORD, ("analyst",))
    assert gateway_book.get("analyst") is not None
    gateway_book.set_lang("clerk", "en")  # a write from the gateway keeps the new account
    reread = AccountBook(SqliteFrictionStore(tmp_path / "a.db"))
    assert reread.get("analyst") is not None
    assert reread.get("clerk") is not None and reread.get("clerk").lang == "en"  # type: ignore[union-attr]


async def test_the_brand_link_takes_a_logged_in_clerk_home(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/")).headers["location"] == "/login"
    await log_in(gateway, "clerk")
    assert (await gateway.get("/")).headers["location"] == "/console/desk"


async def test_logout_ends_the_session_on_the_server(gateway: httpx.AsyncClient) -> None:
    await log_in(gateway, "clerk")
    stolen = gateway.cookies["onething-session"]
    desk = await gateway.get("/console/desk")
    assert desk.status_code == 200
    logged_out = await gateway.post("/console/logout",
                                    data={"_csrf_token": csrf_of(desk)})
    assert logged_out.status_code == 303
    # Whoever kept a copy of the cookie is not logged in with it any more.
    gateway.cookies.set("onething-session", stolen, domain=gateway.base_url.host)
    again = await gateway.get("/console/desk")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    # Nor does an id made up in advance become a session at login (no fixation).
    gateway.cookies.clear()
    gateway.cookies.set("onething-session", "planted" * 8, domain=gateway.base_url.host)
    await log_in(gateway, "clerk")
    assert gateway.cookies["onething-session"] != "planted" * 8
    assert (await gateway.get("/console/desk")).status_code == 200


async def test_only_the_bearer_scheme_is_accepted(gateway: httpx.AsyncClient) -> None:
    token = bearer("admin")["Authorization"].removeprefix("Bearer ")
    assert (await gateway.get("/api/worklist", headers={
        "Authorization": f"Bearer {token}"})).status_code == 200
    for scheme in ("Token", "JWT", "Basic", ""):
        refused = await gateway.get("/api/worklist",
                                    headers={"Authorization": f"{scheme} {token}".strip()})
        assert refused.status_code == 401, scheme
    issued = await gateway.post("/api/auth/token",
                                json={"username": "clerk", "password": PASSWORD})
    assert issued.json()["token_type"] == "bearer"
    assert 0 < issued.json()["expires_in"] <= 3600
    schema = (await gateway.get("/schema/openapi.json")).json()
    described = schema["paths"]["/api/auth/token"]["post"]["description"]
    assert "renew" in described and "Bearer" in described


async def track_tries(gateway: httpx.AsyncClient, n: int, **headers: str) -> list[int]:
    form = await gateway.get("/track")
    token = csrf_of(form)
    answers = []
    for i in range(n):
        sent = {k.replace("_", "-"): v.format(i=i) for k, v in headers.items()}
        tried = await gateway.post("/track/case", headers=sent, data={
            "case_id": "NOPE", "code": "000000", "_csrf_token": token})
        answers.append(tried.status_code)
    return answers


async def test_each_door_has_its_own_limit_and_a_chinese_429(
    gateway: httpx.AsyncClient,
) -> None:
    answers = await track_tries(gateway, TRACK_LIMIT.rate_limit[1] + 1)
    assert answers[:-1] == [404] * TRACK_LIMIT.rate_limit[1] and answers[-1] == 429
    form = await gateway.get("/track")
    refused = await gateway.post("/track/case", data={
        "case_id": "NOPE", "code": "000000", "_csrf_token": csrf_of(form)})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "尝试次数过多" in refused.text and "请稍等一分钟再试" in refused.text
    # A citizen locked out of /track does not lock the clerk out of /login.
    assert (await log_in(gateway, "clerk")).status_code == 303
    # The token endpoint counts on its own too, and answers 429 with Retry-After.
    for _ in range(TOKEN_LIMIT.rate_limit[1]):
        await gateway.post("/api/auth/token", json={"username": "clerk", "password": "x"})
    tokens = await gateway.post("/api/auth/token", json={"username": "clerk", "password": "x"})
    assert tokens.status_code == 429 and "retry-after" in tokens.headers


async def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(
    gateway: httpx.AsyncClient,
) -> None:
    # A new made-up address each try does not buy a new allowance.
    answers = await track_tries(gateway, TRACK_LIMIT.rate_limit[1] + 1,
                                X_Forwarded_For="198.51.100.{i}")
    assert answers[-1] == 429


async def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> None:
    async with served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                              headers={}, trusted_proxies=["127.0.0.0/8"]) as gateway:
        n = TRACK_LIMIT.rate_limit[1] + 1
        # Behind the proxy, each citizen has an allowance of their own ...
        many = await track_tries(gateway, n, X_Forwarded_For="203.0.113.9, 198.51.100.{i}")
        assert 429 not in many
        # ... counted by the address the proxy saw, not one the client wrote before it.
        one = await track_tries(gateway, n, X_Forwarded_For="10.9.{i}.1, 198.51.100.77")
        assert one[-1] == 429


async def test_the_tracking_code_never_travels_in_a_url(gateway: httpx.AsyncClient) -> None:
    form = await gateway.get("/track")
    assert re.search(r'<form method="post" action="/track/case"', form.text)
    old = await gateway.get("/track/case", params={"case_id": "X", "code": "123456"})
    assert old.status_code == 303 and old.headers["location"] == "/track"
    assert redact_path("/verify/ABCD-EFGH?code=1") == "/verify/…"
    assert redact_path("/track/case?case_id=A&code=123456") == "/track/case"


async def test_cookies_are_secure_when_the_setting_is_on(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    accounts: AccountBook,
) -> None:
    async with served_gateway(dev_env.client, store, task_queue, accounts=accounts,
                              headers={}, secure_cookies=True) as gateway:
        form = await gateway.get("/login")
        csrf_cookie = form.headers["set-cookie"]
        assert "csrftoken=" in csrf_cookie and "Secure" in csrf_cookie
        value = csrf_cookie.split(";")[0].split("=", 1)[1]
        gateway.cookies.clear()
        done = await gateway.post("/login", headers={"Cookie": f"csrftoken={value}"}, data={
            "username": "clerk", "password": PASSWORD, "_csrf_token": csrf_of(form)})
        assert done.status_code == 303
        session = next(c for c in done.headers.get_list("set-cookie")
                       if c.startswith("onething-session="))
        assert "Secure" in session and "HttpOnly" in session


def test_cookies_are_secure_by_default_outside_the_embedded_default() -> None:
    assert not Settings.from_env({}).secure_cookies  # 127.0.0.1 over plain HTTP
    assert Settings.from_env({"ONETHING_GATEWAY_HOST": "0.0.0.0"}).secure_cookies
    assert not Settings.from_env({"ONETHING_GATEWAY_HOST": "0.0.0.0",
                                  "ONETHING_SECURE_COOKIES": "0"}).secure_cookies
    assert Settings.from_env({}).trusted_proxies == ()
    assert Settings.from_env({"ONETHING_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16"}
                             ).trusted_proxies == ("10.0.0.1", "10.1.0.0/16")


def test_the_access_log_carries_no_code() -> None:
    from deploy.cli import redact_access_log

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("10.0.0.1:5", "GET",
                               "/verify/ABCD-1234?x=1", "1.1", 200), None)
    assert redact_access_log(record)
    assert record.getMessage() == '10.0.0.1:5 - "GET /verify/… HTTP/1.1" 200'
