"""The ingest path: per-event decoding, privacy checks, masking, one path for all producers.
Tests that store events run on SQLite and PostgreSQL (`store` and `backend`, conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
import pytest

from friction.ingest import BatchResult, EventError, check_event, decode_batch, ingest
from friction.store.sql import SqlFrictionStore
from kernel.events import ClerkNote, ManualReentry, Provenance, RepeatTrip
from kernel.privacy import find_personal_values, has_personal_value, mask, may_hold_personal_value
from kernel.pseudonym import keyed_ref

if TYPE_CHECKING:
    from tests.friction.conftest import Backend

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
AT = "2025-03-03T09:00:00+08:00"
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def reentry_json(event_id: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "manual_reentry", "event_id": event_id, "occurred_at": AT, "case_id": "C1",
        "bundle": "employment-hardship", "step": "insurance", "field": "phone",
        "known_from": {"kind": "agency", "source": "public-security"},
    }
    body.update(changes)
    return body


def batch(*events: object) -> bytes:
    return msgspec.json.encode({"events": list(events)})


def test_a_mixed_batch_stores_the_good_and_names_each_bad(store: SqlFrictionStore) -> None:
    missing_field = reentry_json("C1/4")
    del missing_field["field"]
    raw = batch(
        reentry_json("C1/1"),
        {"kind": "teleport", "event_id": "C1/2", "occurred_at": AT},
        reentry_json("C1/3", field="name"),
        missing_field,
        reentry_json("C1/5", step=f"step-{ID_NUMBER}"),
        reentry_json("C1/6", known_from={"kind": "agency", "source": f"tel {PHONE}"}),
        {"kind": "repeat_trip", "event_id": "C1/7", "occurred_at": AT, "trip_number": 2,
         "reasons": ["material:x", f"call {PHONE}"], "could_have_been_told": []},
        reentry_json("C1/8", typed_seconds="slow"),
        reentry_json("C1/9", occurred_at="2025-03-03T09:00:00"),
        reentry_json(f"C1/{PHONE}"),
        42,
    )
    events, errors = decode_batch(raw)
    result = ingest(store, events)

    assert result.stored == ("C1/1", "C1/3")
    assert [(e.index, e.event_id) for e in errors] == [
        (1, "C1/2"), (3, "C1/4"), (4, "C1/5"), (5, "C1/6"), (6, "C1/7"), (7, "C1/8"),
        (8, "C1/9"), (9, None), (10, None),
    ]
    why = {e.index: e.error for e in errors}
    assert "teleport" in why[1] and "$.kind" in why[1]
    assert "missing required field `field`" in why[3]
    assert why[4] == "step holds a personal value"
    assert why[5] == "known_from.source holds a personal value"
    assert why[6] == "reasons[1] holds a personal value"
    assert "$.typed_seconds" in why[7]
    assert "time zone" in why[8]
    assert why[9] == "event_id holds a personal value"  # and the id is not echoed back
    assert "Expected `object`" in why[10]
    # No error message repeats the personal value it found.
    assert not any(ID_NUMBER in e.error or PHONE in e.error for e in errors)
    assert [e.event_id for e in store.events_for_case("C1")] == ["C1/1", "C1/3"]
    # The HTTP response shape.
    reply = BatchResult(stored=result.stored, duplicates=result.duplicates, rejected=errors)
    decoded = msgspec.json.decode(msgspec.json.encode(reply), type=BatchResult)
    assert decoded.rejected[0] == EventError(index=1, event_id="C1/2", error=why[1])


def test_a_resent_batch_reports_duplicates(store: SqlFrictionStore) -> None:
    raw = batch(reentry_json("C1/1"), reentry_json("C1/2", field="name"))
    first = ingest(store, decode_batch(raw)[0])
    second = ingest(store, decode_batch(raw)[0])
    assert first.stored == ("C1/1", "C1/2") and first.duplicates == ()
    assert second.stored == () and second.duplicates == ("C1/1", "C1/2")
    assert store.counts_by_kind()["manual_reentry"] == 2


def test_clerk_note_text_is_masked_in_storage(store: SqlFrictionStore, backend: Backend) -> None:
    dashed = f"{PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}"
    text = f"居民称身份证号{ID_NUMBER}已在公安登记，手机{dashed}仍要求复印件"
    events, errors = decode_batch(
        batch({"kind": "clerk_note", "event_id": "N/1", "occurred_at": AT, "case_id": "N",
               "category": "materials", "subject": "household_register", "text": text})
    )
    assert errors == []
    assert ingest(store, events).stored == ("N/1",)

    (note,) = store.events_for_case("N")
    assert isinstance(note, ClerkNote)
    assert note.text == "居民称身份证号[身份证号]已在公安登记，手机[手机号]仍要求复印件"
    dump = backend.dump()
    assert ID_NUMBER not in dump and dashed not in dump and "复印件" in dump
    (point,) = store.stuck_points()
    assert point.subject == "household_register" and point.clerk_minutes == 5.0


def test_events_from_a_workflow_take_the_same_checks(store: SqlFrictionStore) -> None:
    at = datetime(2025, 3, 3, tzinfo=UTC)
    note = ClerkNote(event_id="W/1", occurred_at=at, case_id="W", category="c",
                     text=f"call {PHONE}")
    leaky = RepeatTrip(event_id="W/2", occurred_at=at, case_id="W", trip_number=2,
                       reasons=(ID_NUMBER,), could_have_been_told=())
    fine = ManualReentry(event_id="W/3", occurred_at=at, case_id="W", field="phone",
                         known_from=Provenance(kind="clerk", source="clerk"))
    result = ingest(store, [note, leaky, fine])
    assert result.stored == ("W/1", "W/3")
    stored = store.events_for_case("W")
    assert isinstance(stored[0], ClerkNote) and stored[0].text == "call [手机号]"


@pytest.mark.parametrize(
    "body, words",
    [
        (b"not json", "JSON"),
        (b"[]", "Expected `object`, got `array`"),
        (b'{"evnts": []}', "missing required field `events`"),
        (b'{"events": {}}', "Expected `array`"),
    ],
)
def test_a_malformed_body_is_a_value_error(body: bytes, words: str) -> None:
    with pytest.raises(ValueError, match="a batch is a JSON object") as err:
        decode_batch(body)
    assert words in str(err.value)


def test_an_empty_batch_is_fine(store: SqlFrictionStore) -> None:
    events, errors = decode_batch(b'{"events": []}')
    assert events == [] and errors == []
    assert ingest(store, events).stored == ()


def test_personal_values_found_and_masked() -> None:
    text = f"ID {ID_NUMBER.lower()}, tel +86 {PHONE}, backup 139 1234 5678; case 20250303-ABCDEFGH"
    assert find_personal_values(text) == [ID_NUMBER.lower(), f"+86 {PHONE}", "139 1234 5678"]
    assert mask(text) == "ID [身份证号], tel [手机号], backup [手机号]; case 20250303-ABCDEFGH"
    # A mistyped check digit is still an ID number.
    assert find_personal_values("320211198001011230") == ["320211198001011230"]


@pytest.mark.parametrize(
    "text",
    [
        "20250303-ABCDEFGH/12",  # a case number and sequence
        "4bf92f3577b34da6a3ce929d0e0e4736",  # a trace id
        "a13812345678b",  # a hex id with a phone-like run inside
        "1234567890123456789",  # 19 digits: a bank card, not an ID
        "123456789012345678",  # 18 digits but no birth date in it
        "12812345678",  # 12x is not a mobile prefix
    ],
)
def test_identifiers_are_not_mistaken_for_personal_values(text: str) -> None:
    assert find_personal_values(text) == []
    assert mask(text) == text


def test_keyed_ref_is_keyed_stable_and_short() -> None:
    import hashlib

    ref = keyed_ref(ID_NUMBER, b"k1")
    assert ref == keyed_ref(ID_NUMBER, b"k1")
    assert len(ref) == 20 and int(ref, 16) >= 0
    assert ref != keyed_ref(ID_NUMBER, b"k2")
    assert ref != keyed_ref("110105194912310038", b"k1")
    assert not hashlib.sha256(ID_NUMBER.encode()).hexdigest().startswith(ref)
    with pytest.raises(ValueError):
        keyed_ref(ID_NUMBER, b"")


@pytest.mark.parametrize(
    "text",
    [ID_NUMBER, ID_NUMBER.lower(), PHONE, f"+86 {PHONE}", "139 1234 5678", "139-1234-5678",
     f"tel:{PHONE}!", f"见\n{ID_NUMBER}\t", "320211198001011230"],
)
def test_the_quick_scan_never_misses_what_the_exact_one_finds(text: str) -> None:
    # The quick pass over an event's JSON gates the exact walk over its strings: wherever
    # a string holds a personal value, the JSON must at least look like it might.
    assert has_personal_value(text)
    event = ClerkNote(event_id="e1", occurred_at=T0, category="materials", text="ok",
                      subject=text)
    assert may_hold_personal_value(msgspec.json.encode(event))
    checked, error = check_event(event)
    assert checked is None and error == "subject holds a personal value"


def test_the_quick_scan_passes_ordinary_events() -> None:
    event = ClerkNote(event_id="C00012345/13", case_id="C00012345", occurred_at=T0,
                      category="materials", text="窗口要求提供复印件", subject="id_card_copy",
                      trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    assert not may_hold_personal_value(msgspec.json.encode(event))
    assert check_event(event) == (event, None)
