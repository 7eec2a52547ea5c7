"""Opening and sealing payloads for the remote codec: the protocol's JSON to protobuf
Payloads and back, through the installation's payload codec."""

from __future__ import annotations

import base64
import binascii

from litestar.di import NamedDependency
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from gateway.codec.schemas import MAX_PAYLOADS, JsonPayload, PayloadsBody
from gateway.errors import invalid_field
from kernel.codec import PayloadKeyError


def _bytes(field: str, text: str) -> bytes:
    # Protobuf JSON writes standard base64 and reads the URL-safe alphabet too.
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_" if ("-" in text or "_" in text)
                                else None, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_field(field, "base64") from exc


def to_payloads(body: PayloadsBody) -> list[Payload]:
    if len(body.payloads) > MAX_PAYLOADS:
        raise invalid_field("payloads", f"at most {MAX_PAYLOADS} at once")
    return [
        Payload(metadata={k: _bytes(f"payloads[{i}].metadata.{k}", v)
                          for k, v in p.metadata.items()},
                data=_bytes(f"payloads[{i}].data", p.data))
        for i, p in enumerate(body.payloads)
    ]


def to_body(payloads: list[Payload]) -> PayloadsBody:
    def text(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return PayloadsBody(payloads=[
        JsonPayload(metadata={k: text(v) for k, v in p.metadata.items()}, data=text(p.data))
        for p in payloads
    ])


class CodecService:
    """The remote codec over the installation's payload codec (None: payloads are not
    encrypted here, and pass both ways unchanged)."""

    def __init__(self, codec: PayloadCodec | None) -> None:
        self.codec = codec

    async def decode(self, body: PayloadsBody) -> PayloadsBody:
        payloads = to_payloads(body)
        if self.codec is None:
            return to_body(payloads)
        try:
            return to_body(await self.codec.decode(payloads))
        except PayloadKeyError as exc:
            raise invalid_field("payloads", str(exc)) from exc

    async def encode(self, body: PayloadsBody) -> PayloadsBody:
        payloads = to_payloads(body)
        return to_body(payloads if self.codec is None else await self.codec.encode(payloads))


# A handler takes the service as `codec_service: Codec`.
Codec = NamedDependency[CodecService]
