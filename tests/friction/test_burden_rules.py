"""Burden of clerk notes about a friction kind and of paper per material."""

from datetime import UTC, datetime

import msgspec
import pytest

from friction.burden import default_burden_table
from kernel.events import ClerkNote, ExtraWait, PhysicalMaterialRequested, Provenance

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _note(about: str | None) -> ClerkNote:
    return ClerkNote(
        event_id="n/1", occurred_at=AT, case_id="C-1", category="c", text="t", about_kind=about
    )


def test_a_note_about_a_kind_costs_that_friction_plus_the_writing() -> None:
    t = default_burden_table()
    assert t.burden_of(_note(None)) == (t.clerk_note.citizen, t.clerk_note.clerk)
    c, k = t.burden_of(_note("repeat_trip"))
    assert c == t.repeat_trip.citizen + t.clerk_note.citizen
    assert k == t.repeat_trip.clerk + t.clerk_note.clerk
    c, k = t.burden_of(_note("extra_wait"))
    assert (c, k) == (
        t.extra_wait.step.citizen + t.clerk_note.citizen,
        t.extra_wait.step.clerk + t.clerk_note.clerk,
    )
    assert t.burden_of(_note("no_such_kind")) == (t.clerk_note.citizen, t.clerk_note.clerk)
    # A note about paper asked for costs what that material's paper costs.
    register = msgspec.structs.replace(_note("physical_material"), subject="household_register")
    per_material = t.physical_material_by_material["household_register"]
    assert t.burden_of(register) == (per_material.citizen + t.clerk_note.citizen,
                                     per_material.clerk + t.clerk_note.clerk)
    other = msgspec.structs.replace(_note("physical_material"), subject="a_leaflet")
    assert t.burden_of(other) == (t.physical_material.citizen + t.clerk_note.citizen,
                                  t.physical_material.clerk + t.clerk_note.clerk)


def test_paper_costs_per_material_with_a_default() -> None:
    t = default_burden_table()
    held = Provenance(kind="ecert", source="x")

    def paper(material: str) -> tuple[float, float]:
        return t.burden_of(
            PhysicalMaterialRequested(
                event_id="p/1", occurred_at=AT, material=material, held_by=held
            )
        )

    assert paper("household_register")[0] > paper("resident_id_card")[0]
    assert paper("something_else") == (t.physical_material.citizen, t.physical_material.clerk)


def test_an_agency_call_costs_the_time_people_at_the_window_waited() -> None:
    table = default_burden_table()
    call = ExtraWait(event_id="c/1", occurred_at=datetime(2026, 12, 1, 2, tzinfo=UTC),
                     case_id="c", bundle="b", step="s", scope="agency_call", agency="hrss",
                     sla_seconds=2.0, actual_seconds=90.0)
    at_window = table.burden_of(msgspec.structs.replace(call, attended=True))
    background = table.burden_of(msgspec.structs.replace(call, attended=False))
    legacy = table.burden_of(call)
    assert at_window == (1.5, 1.5)  # the whole 90 s, for the citizen and the clerk
    assert background == (0.0, 0.0)
    assert legacy == pytest.approx((88 / 60, 88 / 60))  # before `attended`: the overrun


def test_a_form_retyped_by_hand_costs_the_clerk_one_redundant_round() -> None:
    from kernel.events import ManualReentry

    table = default_burden_table()
    at = datetime(2026, 12, 1, 2, tzinfo=UTC)
    known = Provenance(kind="agency", source="public-security")
    fields = [ManualReentry(event_id=f"c/{n}", occurred_at=at, case_id="c", bundle="b",
                            step="form", field=f"f{n}", known_from=known, typed_seconds=6.0,
                            first_of_form=n == 0) for n in range(8)]
    clerk = sum(table.burden_of(e)[1] for e in fields)
    # Eight fields of six seconds each, plus the form's round once.
    assert clerk == pytest.approx(8 * 0.1 + table.manual_reentry_form_round.clerk)
    assert table.manual_reentry_form_round.clerk > 0
