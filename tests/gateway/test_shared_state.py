"""The gateways' shared state (gateway.shared_state): with its Redis away, a request that
needs it is a 503 to retry (problem details on the API, a page on the console), never a
500; with Redis there, gateways on one namespace share a console session."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import served_gateway
from temporalio.testing import WorkflowEnvironment

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from gateway.shared_state import redis_root

REDIS_URL = "redis://127.0.0.1:6379/0"
AWAY = "redis://127.0.0.1:1/0"  # nothing listens on port 1
PASSWORD = "shared-pass-2026"


def _redis_there() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return False
    return True


async def test_redis_away_is_a_503_to_retry(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    async with served_gateway(dev_env.client, store, task_queue, headers={},
                              shared_state=redis_root(AWAY, "away")) as gateway:
        token = await gateway.post("/api/auth/token", json={"username": "x", "password": "y"})
        assert token.status_code == 503 and "Retry-After" in token.headers
        assert token.headers["content-type"].startswith("application/problem+json")
        assert "shared" in token.json()["detail"]
        # The console's session middleware asks Redis for the session a cookie names.
        gateway.cookies.set("onething-session", "x" * 32)
        desk = await gateway.get("/console/desk")
        assert desk.status_code == 503 and "Retry-After" in desk.headers
        assert "text/html" in desk.headers["content-type"]


@pytest.mark.skipif(not _redis_there(), reason="needs Redis")
async def test_a_gateway_on_the_same_namespace_knows_the_session_another_made(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str, tmp_path: Path
) -> None:
    # One gateway at a time in this process (each registers its metrics); two processes
    # at once: tests/deploy/test_cluster.py.
    namespace = f"onething-test-{uuid.uuid4().hex[:12]}"
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))

    def gateway(space: str) -> Any:
        return served_gateway(dev_env.client, store, task_queue, accounts=book, headers={},
                              shared_state=redis_root(REDIS_URL, space))

    try:
        async with gateway(namespace) as one:
            form = await one.get("/login")
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            done = await one.post("/login", data={"username": "clerk", "password": PASSWORD,
                                                  "_csrf_token": csrf.group(1)})
            assert done.status_code == 303
            cookies = dict(one.cookies)
        async with gateway(namespace) as other:
            other.cookies.update(cookies)
            assert (await other.get("/console/desk")).status_code == 200
        # Another namespace is another installation: it knows no session of this one.
        async with gateway(namespace + "-other") as stranger:
            stranger.cookies.update(cookies)
            refused = await stranger.get("/console/desk")
            assert refused.status_code in (302, 303)
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)
        client.close()
