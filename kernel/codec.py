"""Temporal payloads encrypted with AES-256-GCM, so histories hold no resident's data in
clear: the Temporal server, its database and its UI see ciphertext only.

Each payload is serialized whole (metadata and data) and sealed under one key; the sealed
payload names its key in its metadata, so keys rotate: the first configured key seals,
every configured key opens. A payload written before encryption was turned on (no
"binary/encrypted" encoding) passes through unchanged, so older cases still run.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256


class PayloadKeyError(ValueError):
    """A payload that cannot be opened: its key is not configured, or it was altered."""


class PayloadKey:
    """One named AES-256 key."""

    __slots__ = ("_aead", "id")

    def __init__(self, key_id: str, key: bytes) -> None:
        if not key_id or any(c in key_id for c in ",: \t\n"):
            raise ValueError(f"payload key id {key_id!r}: give a non-empty id without "
                             "commas, colons or spaces")
        if len(key) != KEY_BYTES:
            raise ValueError(f"payload key {key_id!r} has {len(key)} bytes; AES-256 needs "
                             f"{KEY_BYTES}")
        self.id = key_id
        self._aead = AESGCM(key)

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated too: a payload relabelled with another id fails.
        return nonce + self._aead.encrypt(nonce, plain, self.id.encode())

    def open(self, sealed: bytes) -> bytes:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        return self._aead.decrypt(nonce, body, self.id.encode())

    def __repr__(self) -> str:  # never the key itself
        return f"PayloadKey({self.id!r})"


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def parse_keys(text: str) -> tuple[PayloadKey, ...]:
    """Keys from `id:base64key,id:base64key` (commas or new lines between keys), the
    first the one that encrypts. Blank entries and `#` comment lines are skipped."""
    keys: list[PayloadKey] = []
    for entry in text.replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep:
            raise ValueError(f"payload key {key_id!r}: write it as id:base64key")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"payload key {key_id.strip()!r} is not valid base64") from exc
        keys.append(PayloadKey(key_id.strip(), raw))
    ids = [k.id for k in keys]
    if len(set(ids)) != len(ids):
        raise ValueError(f"payload key ids repeat: {', '.join(ids)}")
    return tuple(keys)


def format_key(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.b64encode(key).decode()}"


class EncryptionCodec(PayloadCodec):
    """Seals every payload under the first key; opens any payload sealed under a listed
    key."""

    def __init__(self, keys: Iterable[PayloadKey]) -> None:
        self.keys = tuple(keys)
        if not self.keys:
            raise ValueError("an encryption codec needs at least one key")
        self._by_id = {k.id: k for k in self.keys}
        if len(self._by_id) != len(self.keys):
            raise ValueError("payload key ids repeat")

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key = self.keys[0]
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_ID: key.id.encode()},
                data=key.seal(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(p) for p in payloads]

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was turned on
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        key = self._by_id.get(key_id)
        if key is None:
            raise PayloadKeyError(
                f"payload encrypted under key id {key_id!r}, which is not configured "
                f"(configured: {', '.join(self._by_id)}); keep a retired key listed "
                "(after the new one) while histories sealed under it are still read")
        try:
            plain = key.open(payload.data)
        except InvalidTag as exc:
            raise PayloadKeyError(
                f"payload under key id {key_id!r} failed authentication: it was altered "
                "or sealed under another key of the same id") from exc
        opened = Payload()
        opened.ParseFromString(plain)
        return opened
