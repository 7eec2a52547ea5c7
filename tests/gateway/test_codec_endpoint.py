"""The gateway serves Temporal's remote codec protocol (POST /codec/decode and
/codec/encode) with the installation's payload keys, to admins only (a bearer token, or
the console session from the Temporal UI's origin with credentials), each call recorded
in the access log."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import served_gateway
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook
from kernel.codec import ENCODING, EncryptionCodec, PayloadKey, generate_key
from kernel.converter import data_converter

KEY = PayloadKey("codec-endpoint", generate_key())
UI = "http://127.0.0.1:18233"  # the Temporal web UI's origin as configured
PASSWORD = "decode-for-admins-2026"
RESIDENT = {"citizen_id_number": "320211199001011234", "name": "顾晓明", "mobile": "13900001111"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def as_json(payload: Payload) -> dict[str, Any]:
    return {"metadata": {k: b64(v) for k, v in payload.metadata.items()},
            "data": b64(payload.data)}


def value_of(sent: dict[str, Any]) -> Any:
    assert base64.b64decode(sent["metadata"]["encoding"]) == b"json/plain"
    return json.loads(base64.b64decode(sent["data"]))


@pytest.fixture
def accounts(tmp_path: Path) -> AccountBook:
    book = AccountBook(SqliteFrictionStore(tmp_path / "accounts.db"))
    book.add("admin", PASSWORD, ("admin",))
    book.add("clerk", PASSWORD, ("clerk",), centres=("liangxi-chongan",))
    book.add("auditor", PASSWORD, ("auditor",))
    return book


@pytest.fixture
def sealing_client(dev_env: WorkflowEnvironment) -> Client:
    """The dev server through the product's converter: payloads sealed under KEY."""
    config = dev_env.client.config()
    config["data_converter"] = data_converter([KEY])
    return Client(**config)


@pytest.fixture
async def gateway(
    sealing_client: Client, store: SqliteFrictionStore, task_queue: str, accounts: AccountBook
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(sealing_client, store, task_queue, accounts=accounts, headers={},
                              codec_origins=(UI,)) as client:
        yield client


async def token_of(gateway: httpx.AsyncClient, username: str) -> dict[str, str]:
    issued = await gateway.post("/api/auth/token",
                                json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


async def log_in(gateway: httpx.AsyncClient, username: str) -> None:
    gateway.cookies.clear()
    form = await gateway.get("/login")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert csrf
    done = await gateway.post("/login", data={
        "username": username, "password": PASSWORD, "_csrf_token": csrf.group(1)})
    assert done.status_code == 303


async def test_a_history_payload_decodes_to_what_was_encoded(
    gateway: httpx.AsyncClient, sealing_client: Client, dev_env: WorkflowEnvironment,
    task_queue: str, store: SqliteFrictionStore,
) -> None:
    # A workflow started through the product's converter: Temporal holds its input sealed.
    handle = await sealing_client.start_workflow(
        "NoWorkerNeeded", RESIDENT, id=f"codec-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
    try:
        history = await dev_env.client.get_workflow_handle(handle.id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [sealed] = started.input.payloads
        assert sealed.metadata["encoding"] == ENCODING
        assert RESIDENT["citizen_id_number"].encode() not in sealed.data

        admin = await token_of(gateway, "admin")
        answer = await gateway.post("/codec/decode", json={"payloads": [as_json(sealed)]},
                                    headers={**admin, "X-Namespace": "default"})
        assert answer.status_code == 200, answer.text
        [opened] = answer.json()["payloads"]
        assert value_of(opened) == RESIDENT
    finally:
        await handle.terminate()

    # Encoding seals under the installation's key; decoding opens it again.
    plain = {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(b'{"n": 1}')}
    encoded = await gateway.post("/codec/encode", json={"payloads": [plain]}, headers=admin)
    [sealed_json] = encoded.json()["payloads"]
    assert base64.b64decode(sealed_json["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(sealed_json["metadata"]["encryption-key-id"]) == b"codec-endpoint"
    again = await gateway.post("/codec/decode", json={"payloads": [sealed_json]}, headers=admin)
    assert again.json()["payloads"] == [plain]

    # Each call is in the access log, without any value it decoded.
    logged = store.access_entries(username="admin")
    assert [e.action for e in logged] == ["decode_payloads", "encode_payloads",
                                          "decode_payloads"]
    assert all(e.case_id is None and e.status == 200 for e in logged)


async def test_only_an_admin_may_decode(gateway: httpx.AsyncClient,
                                        store: SqliteFrictionStore) -> None:
    [sealed] = await EncryptionCodec([KEY]).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(RESIDENT).encode())])
    body = {"payloads": [as_json(sealed)]}
    anonymous = await gateway.post("/codec/decode", json=body)
    assert anonymous.status_code == 401
    assert RESIDENT["name"] not in anonymous.text
    for username in ("clerk", "auditor"):
        refused = await gateway.post("/codec/decode", json=body,
                                     headers=await token_of(gateway, username))
        assert refused.status_code == 403, username
        assert RESIDENT["name"] not in refused.text
        await log_in(gateway, username)
        by_session = await gateway.post("/codec/decode", json=body, headers={"Origin": UI})
        assert by_session.status_code == 403, username
    # A refused attempt by a known account is recorded as refused.
    assert {e.status for e in store.access_entries(username="clerk")} == {403}
    gateway.cookies.clear()
    forged = await gateway.post("/codec/decode", json=body,
                                headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401


async def test_the_temporal_ui_calls_it_with_the_admins_session(
    gateway: httpx.AsyncClient,
) -> None:
    [sealed] = await EncryptionCodec([KEY]).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')])
    body = {"payloads": [as_json(sealed)]}
    preflight = await gateway.options("/codec/decode", headers={
        "Origin": UI, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == UI
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in preflight.headers["access-control-allow-headers"].lower()

    await log_in(gateway, "admin")
    answer = await gateway.post("/codec/decode", json=body,
                                headers={"Origin": UI, "X-Namespace": "default"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == UI
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert value_of(answer.json()["payloads"][0]) == "hello"
    # Another origin gets no CORS grant, so its scripts cannot read the answer; the
    # console's pages grant none even to the UI's origin.
    elsewhere = await gateway.post("/codec/decode", json=body,
                                   headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in elsewhere.headers
    assert (await gateway.options("/codec/decode", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    ).status_code == 403
    desk = await gateway.get("/console/dashboard", headers={"Origin": UI})
    assert "access-control-allow-origin" not in desk.headers
    # With the session cookie accepted, only JSON is: a cross-site form cannot send it.
    form = await gateway.post("/codec/decode", content=json.dumps(body),
                              headers={"Content-Type": "text/plain"})
    assert form.status_code in (400, 415)


async def test_bad_payloads_are_refused_naming_the_field(gateway: httpx.AsyncClient) -> None:
    admin = await token_of(gateway, "admin")
    [sealed] = await EncryptionCodec([KEY]).encode([Payload(data=b"x")])
    tampered = as_json(sealed)
    tampered["data"] = b64(sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    altered = await gateway.post("/codec/decode", json={"payloads": [tampered]}, headers=admin)
    assert altered.status_code == 422 and altered.json()["field"] == "payloads"
    other = await EncryptionCodec([PayloadKey("retired", generate_key())]).encode(
        [Payload(data=b"x")])
    unknown = await gateway.post("/codec/decode", json={"payloads": [as_json(other[0])]},
                                 headers=admin)
    assert unknown.status_code == 422 and "retired" in unknown.json()["detail"]
    garbled = await gateway.post("/codec/decode", headers=admin,
                                 json={"payloads": [{"metadata": {}, "data": "*not base64*"}]})
    assert garbled.status_code == 422 and garbled.json()["field"] == "payloads[0].data"
    shapeless = await gateway.post("/codec/decode", json={"payload": []}, headers=admin)
    assert shapeless.status_code == 400
