"""Burden of clerk notes about a friction kind and of paper per material."""

from datetime import UTC, datetime

from friction.burden import default_burden_table
from friction.events import ClerkNote, PhysicalMaterialRequested, Provenance

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
