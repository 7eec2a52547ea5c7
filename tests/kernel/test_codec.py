"""The payload codec: AES-256-GCM on every payload, the key named in its metadata so keys
rotate (the first seals, every listed key opens)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from deploy.settings import Settings, payload_keys, private_state_dir
from kernel.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadKey,
    PayloadKeyError,
    format_key,
    generate_key,
    parse_keys,
)
from kernel.converter import DATA_CONVERTER, data_converter

ID_NUMBER = "320211199001011234"
A = PayloadKey("a", generate_key())
B = PayloadKey("b", generate_key())


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_data_and_metadata() -> None:
    codec = EncryptionCodec([A])
    original = [plain(f'{{"citizen_id_number":"{ID_NUMBER}"}}'), plain("null")]
    sealed = await codec.encode(original)
    for p in sealed:
        assert p.metadata["encoding"] == ENCODING
        assert p.metadata[KEY_ID] == b"a"
        assert ID_NUMBER.encode() not in p.SerializeToString()
        assert b"json/plain" not in p.data
    assert sealed[0].data != (await codec.encode(original[:1]))[0].data  # fresh nonces
    assert await codec.decode(sealed) == original


async def test_the_converter_round_trips_values() -> None:
    converter = data_converter([A])
    value = {"citizen_id_number": ID_NUMBER, "n": 3}
    (sealed,) = await converter.encode([value])
    assert ID_NUMBER.encode() not in sealed.SerializeToString()
    assert await converter.decode([sealed], [dict]) == [value]
    assert DATA_CONVERTER.payload_codec is None  # the plain one, for replays


async def test_tampered_ciphertext_is_refused() -> None:
    codec = EncryptionCodec([A])
    (sealed,) = await codec.encode([plain("secret")])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    sealed.data = bytes(flipped)
    with pytest.raises(PayloadKeyError, match="failed authentication"):
        await codec.decode([sealed])


async def test_relabelled_key_id_is_refused() -> None:
    # A payload relabelled with another listed key's id fails to open, never misreads.
    codec = EncryptionCodec([A, PayloadKey("a2", generate_key())])
    (sealed,) = await codec.encode([plain("secret")])
    sealed.metadata[KEY_ID] = b"a2"
    with pytest.raises(PayloadKeyError, match="failed authentication"):
        await codec.decode([sealed])


async def test_old_payloads_open_after_rotation() -> None:
    (old,) = await EncryptionCodec([A]).encode([plain("before")])
    rotated = EncryptionCodec([B, A])
    assert await rotated.decode([old]) == [plain("before")]
    (new,) = await rotated.encode([plain("after")])
    assert new.metadata[KEY_ID] == b"b"
    assert await EncryptionCodec([B]).decode([new]) == [plain("after")]


async def test_an_unknown_key_id_is_a_clear_error() -> None:
    (old,) = await EncryptionCodec([A]).encode([plain("before")])
    unknown = r"key id 'a', which is not configured \(configured: b\)"
    with pytest.raises(PayloadKeyError, match=unknown):
        await EncryptionCodec([B]).decode([old])


async def test_unencrypted_payloads_pass_through() -> None:
    # Histories written before encryption was turned on still decode.
    assert await EncryptionCodec([A]).decode([plain("old")]) == [plain("old")]


def test_keys_parse_from_the_variable() -> None:
    text = f" {format_key('new', b'n' * 32)}, {format_key('old', b'o' * 32)} ,"
    keys = parse_keys(text)
    assert [k.id for k in keys] == ["new", "old"]
    assert "bm5u" not in repr(keys) and "new" in repr(keys)  # never the key in a repr
    with pytest.raises(ValueError, match="id:base64key"):
        parse_keys("justakey")
    with pytest.raises(ValueError, match="needs 32"):
        parse_keys(format_key("short", b"x" * 16))
    with pytest.raises(ValueError, match="not valid base64"):
        parse_keys("k:not base64!")
    with pytest.raises(ValueError, match="repeat"):
        parse_keys(f"{format_key('k', b'n' * 32)},{format_key('k', b'o' * 32)}")
    settings = Settings.from_env({"ONETHING_PAYLOAD_KEYS": text})
    assert [k.id for k in payload_keys(settings)] == ["new", "old"]


def test_the_embedded_default_makes_one_private_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = Settings.from_env({"ONETHING_STATE_DIR": str(state)})
    private_state_dir(settings)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    (first,) = payload_keys(settings)
    path = state / "payload.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (again,) = payload_keys(settings)
    assert again.id == first.id  # made once, kept across restarts
    assert os.listdir(state) == ["payload.keys"]  # nothing left aside
    # Rotating in the state folder: a new key on the first line, the old one kept.
    path.write_text(format_key("next", generate_key()) + "\n" + path.read_text())
    assert [k.id for k in payload_keys(settings)] == ["next", first.id]


async def test_failure_messages_travel_sealed() -> None:
    # An error's message may quote what a resident gave: it is sealed like a payload.
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    converter = data_converter([A])
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"no record for {ID_NUMBER}"), failure)
    assert ID_NUMBER.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert str(decoded) == f"no record for {ID_NUMBER}"
