"""The remote codec protocol's body: a Payloads message as protobuf JSON, metadata values
and data in base64 (https://docs.temporal.io/production-deployment/data-encryption)."""

from __future__ import annotations

import msgspec

MAX_PAYLOADS = 1000


class JsonPayload(msgspec.Struct, kw_only=True, frozen=True):
    metadata: dict[str, str] = {}
    data: str = ""


class PayloadsBody(msgspec.Struct, kw_only=True, frozen=True):
    payloads: list[JsonPayload]
