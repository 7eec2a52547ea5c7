"""workflows.detectors: one place names how every kind of friction is detected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from gateway.cases.schemas import OpenCase
from gateway.channels.service import OnlineEntries, service_catalogue
from kernel.events import FRICTION_KINDS, ExtraWait, Provenance
from workflows import detectors
from workflows.definition import Catalogue

AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def stamper() -> detectors.Stamp:
    sequence = iter(range(1, 100))

    def stamp(step: str | None) -> detectors.EventBase:
        return {"event_id": f"C-1/{next(sequence)}", "occurred_at": AT, "case_id": "C-1",
                "bundle": "b", "bundle_version": 1, "step": step, "centre": "c",
                "channel": "window"}

    return stamp


def test_every_kind_but_a_clerks_note_has_its_detectors() -> None:
    assert set(detectors.DETECTORS) == set(FRICTION_KINDS) - {"clerk_note"}
    assert all(detectors.DETECTORS.values())


def test_a_builder_stamps_only_the_events_it_makes() -> None:
    stamp = stamper()
    assert detectors.slow_agency_call(stamp, "s", "hrss", 5.0, 4.0, attended=True) is None
    assert detectors.paper_despite_record(stamp, "s", "lease", None) is None
    slow = detectors.slow_agency_call(stamp, "s", "hrss", 5.0, 9.0, attended=False)
    assert isinstance(slow, ExtraWait) and slow.event_id == "C-1/1"
    paper = detectors.paper_despite_record(
        stamp, "s", "lease", Provenance(kind="ecert", source="lease_registration"))
    assert paper is not None and paper.event_id == "C-1/2"
    trip = detectors.return_visit(stamp, None, 2, ("a", "b"), ["b"])
    assert trip.could_have_been_told == ("b",) and trip.event_id == "C-1/3"


def test_piecemeal_rejections_name_rules_failed_earlier_and_unchanged_values() -> None:
    found = detectors.piecemeal_rejections(
        stamper(), "s", codes=[("rule_x", None), ("bad_value", "f"), ("new", None)],
        round_=2, earlier_codes=set(), submitted_form={"f": "1"},
        rule_failed_at=lambda rule: 0, rules={"rule_x"})
    assert [(e.rule, e.first_rejection_round, e.later_rejection_round) for e in found] == [
        ("rule_x", 0, 2), ("bad_value", 1, 2)]
    assert detectors.piecemeal_rejections(
        stamper(), "s", codes=[("bad_value", "f")], round_=0, earlier_codes=set(),
        submitted_form={"f": "1"}, rule_failed_at=lambda rule: 0, rules=()) == []


def test_the_online_channel_records_a_search_only_entry_through_the_detectors() -> None:
    bundle = Catalogue.load().default("population-certificate")
    data = OpenCase(bundle=bundle.id, citizen_id_number="-", centre="online-app",
                    channel="online", entry="search")  # type: ignore[arg-type]
    seen = set()
    for version in (1, 2):
        catalogue = service_catalogue("online", version)
        entries = OnlineEntries(catalogue, store=None)  # type: ignore[arg-type]
        event = entries.search_only_entry("C-2", bundle, data, AT)
        assert (event is not None) == catalogue.search_only(bundle.id)
        if event is not None:
            assert event.event_id == "C-2/entry" and f"v{version}" in event.entry_path
        seen.add(event is None)
    assert seen == {True, False}  # one catalogue version gives it a direct entry
    direct = msgspec.structs.replace(data, entry="menu")  # type: ignore[type-var]
    assert detectors.search_only_entry(
        "C-3", bundle.id, bundle.version, "c", "online", AT, 1,
        searched=direct.entry == "search", search_only=True) is None


def test_a_missed_milestone_and_a_missed_step_differ_only_in_the_milestone() -> None:
    due = AT + timedelta(hours=1)
    common = {"sla_minutes": 30, "sla_working_days": 0, "waited_seconds": 4000.0,
              "due_at": due, "calendar": "cn"}
    step = detectors.missed_deadline(stamper(), "s", "community", **common)  # type: ignore[arg-type]
    milestone = detectors.missed_deadline(
        stamper(), "s", "community", milestone="on_site", **common)  # type: ignore[arg-type]
    assert (step.scope, step.sla_seconds, step.sla_working_days, step.milestone) == (
        "step", 1800, None, None)
    assert milestone.milestone == "on_site" and milestone.due_at == step.due_at
