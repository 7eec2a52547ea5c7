"""`onething case show CASE`: a case's workflow history with its payloads opened, for an
admin who proves who they are (password or bearer token), recorded in the access log
before anything is printed."""

from __future__ import annotations

import base64
import json
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory

from friction.store import AccessEntry, AccessLogStore
from gateway.accounts import Account

ADMIN = "admin"


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message: inputs, results, signals, updates,
    failures' encoded attributes, memos, headers."""
    for field, value in message.ListFields():
        kind = field.message_type
        if field.type != field.TYPE_MESSAGE or kind is None:
            continue
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].type != field.TYPE_MESSAGE:
                continue
            items: Any = value.values()
        elif field.is_repeated:
            items = value
        else:
            items = (value,)
        for item in items:
            if isinstance(item, Payload):
                yield item
            else:
                yield from payloads_in(item)


async def open_history(client: Client, history: WorkflowHistory) -> None:
    """Open every sealed payload of `history` in place with the client's payload codec."""
    codec = client.data_converter.payload_codec
    if codec is None:
        return
    found = [p for event in history.events for p in payloads_in(event)]
    for sealed, opened in zip(found, await codec.decode(found), strict=True):
        sealed.CopyFrom(opened)


def readable(value: Any) -> Any:
    """An event as a dict, JSON payloads shown as their values instead of base64."""
    if isinstance(value, list):
        return [readable(v) for v in value]
    if not isinstance(value, dict):
        return value
    metadata = value.get("metadata")
    if isinstance(metadata, dict) and "encoding" in metadata and set(value) <= {
            "metadata", "data", "externalPayloads"}:
        encoding = base64.b64decode(metadata["encoding"]).decode(errors="replace")
        data = base64.b64decode(value.get("data", ""))
        if encoding == "json/plain":
            return json.loads(data) if data else None
        if encoding == "binary/null":
            return None
        return {"encoding": encoding, "data": value.get("data", "")}
    return {k: readable(v) for k, v in value.items()}


def history_lines(history: WorkflowHistory) -> Iterator[str]:
    for event in history.events:
        view = readable(MessageToDict(event))
        head = (f"{view.pop('eventId', '?')} {view.pop('eventTime', '')} "
                f"{view.pop('eventType', '')}")
        yield head
        for key in ("taskId", "version", "workerMayIgnore"):
            view.pop(key, None)
        for name, attributes in view.items():
            body = json.dumps(attributes, ensure_ascii=False, indent=2)
            yield f"  {name}: " + body.replace("\n", "\n  ")


def cli_client_address() -> str:
    return f"cli@{socket.gethostname()}"


async def show_case(
    client: Client, store: AccessLogStore, account: Account, case_id: str
) -> int:
    """Print `case_id`'s decoded history if `account` is an admin; every attempt by a
    known account is recorded (a refused one with status 403)."""
    allowed = ADMIN in account.roles
    entry = AccessEntry(
        at=datetime.now(UTC), username=account.username, roles=tuple(account.roles),
        centre=account.centre, action="read_history", case_id=case_id,
        client=cli_client_address(), status=200 if allowed else 403)
    if not allowed:
        store.record_access(entry)
        print(f"onething case show: {account.username} is not an admin", file=sys.stderr)
        return 2
    from temporalio.service import RPCError, RPCStatusCode

    try:
        history = await client.get_workflow_handle(case_id).fetch_history()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            print(f"onething case show: no case {case_id}", file=sys.stderr)
            return 1
        raise
    await open_history(client, history)
    store.record_access(entry)  # before anything is shown
    for line in history_lines(history):
        print(line)
    return 0
