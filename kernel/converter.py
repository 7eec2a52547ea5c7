"""Temporal payloads as msgspec JSON, so Structs cross the history boundary exactly.

Worker and clients must use the same data converter: `data_converter(keys)`, which also
encrypts every payload (kernel.codec) and failure messages. `DATA_CONVERTER` is the plain
one, for replaying recorded histories and for tests that need no encryption.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import msgspec
import temporalio.api.common.v1
from temporalio.converter import (
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    BinaryProtoPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    JSONProtoPayloadConverter,
)

from kernel.codec import EncryptionCodec, PayloadKey

_encoder = msgspec.json.Encoder()


class MsgspecJSONPayloadConverter(EncodingPayloadConverter):
    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> temporalio.api.common.v1.Payload | None:
        return temporalio.api.common.v1.Payload(
            metadata={"encoding": b"json/plain"}, data=_encoder.encode(value)
        )

    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        return msgspec.json.decode(payload.data, type=type_hint if type_hint else Any)


class MsgspecPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            BinaryNullPayloadConverter(),
            BinaryPlainPayloadConverter(),
            JSONProtoPayloadConverter(),
            BinaryProtoPayloadConverter(),
            MsgspecJSONPayloadConverter(),  # last: it accepts every value
        )


DATA_CONVERTER = DataConverter(payload_converter_class=MsgspecPayloadConverter)


def data_converter(keys: Iterable[PayloadKey]) -> DataConverter:
    """The project's converter with every payload sealed under the first key (any listed
    key opens). Failure messages and stack traces travel encrypted too, as an activity's
    error may quote what a resident gave."""
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
