"""Where each kind of friction is detected: one builder per way a kind arises, each
making its event from the case's state, or None when that state shows no friction.

Pure functions, no I/O and no clock: the workflows (the bundle, the can't-get-it-done
register) and the gateway's channels call them, each with its own `Stamp`, the common
fields of an event (its id, time, case, bundle, step, centre, channel). A builder calls
the stamp only once it knows it makes an event, so a workflow's event ids (a sequence)
come out as they always did. DETECTORS maps each kind (kernel.events.FRICTION_KINDS)
to its builders; a new way of detecting a kind is a function here and an entry there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict

from friction.register import event_of as registered_cant_get_it_done
from kernel.events import (
    CantGetItDone,
    ExtraWait,
    ManualReentry,
    PhysicalMaterialRequested,
    PiecemealRejection,
    Provenance,
    RepeatTrip,
    SearchOnlyEntry,
)


class EventBase(TypedDict):
    """The fields every event of a case shares."""

    event_id: str
    occurred_at: datetime
    case_id: str
    bundle: str
    bundle_version: int | None
    step: str | None
    centre: str
    channel: str


# The common fields of the next event about `step` (None: the case as a whole).
Stamp = Callable[[str | None], EventBase]


# -- manual_reentry -------------------------------------------------------------------


def reentered_value(
    stamp: Stamp, step: str, field: str, known_from: Provenance,
    typed_seconds: float | None, first_of_form: bool,
) -> ManualReentry:
    """A value typed by hand that the case knew: from a look-up, an earlier step, or the
    very value the form showed prefilled."""
    return ManualReentry(
        **stamp(step), field=field, known_from=known_from, typed_seconds=typed_seconds,
        first_of_form=first_of_form,
    )


# -- physical_material ----------------------------------------------------------------


def paper_despite_record(
    stamp: Stamp, step: str, material: str, held_by: Provenance | None
) -> PhysicalMaterialRequested | None:
    """A paper taken for a material an e-certificate on file holds."""
    if held_by is None:
        return None
    return PhysicalMaterialRequested(**stamp(step), material=material, held_by=held_by)


# -- repeat_trip ----------------------------------------------------------------------


def return_visit(
    stamp: Stamp, step: str | None, trip_number: int, reasons: tuple[str, ...],
    known_at_first_trip: Iterable[str], again_today_reason: str | None = None,
) -> RepeatTrip:
    """The citizen came back; the reasons the first notice could have named."""
    known = set(known_at_first_trip)
    return RepeatTrip(
        **stamp(step), trip_number=trip_number, reasons=reasons,
        could_have_been_told=tuple(r for r in reasons if r in known),
        again_today_reason=again_today_reason,
    )


# -- extra_wait -----------------------------------------------------------------------


def slow_agency_call(
    stamp: Stamp, step: str, agency: str, sla_seconds: float, elapsed_seconds: float,
    attended: bool,
) -> ExtraWait | None:
    """An agency's answer to a submission slower than its call SLA."""
    if elapsed_seconds <= sla_seconds:
        return None
    return ExtraWait(
        **stamp(step), scope="agency_call", agency=agency, sla_seconds=sla_seconds,
        actual_seconds=elapsed_seconds, attended=attended,
    )


def missed_deadline(
    stamp: Stamp, step: str, agency: str, *, sla_minutes: int, sla_working_days: int,
    waited_seconds: float, due_at: datetime, calendar: str, milestone: str | None = None,
) -> ExtraWait:
    """A step, or one of its milestones, still not done when its SLA ended."""
    return ExtraWait(
        **stamp(step), scope="step", agency=agency, milestone=milestone,
        sla_working_days=sla_working_days or None, sla_seconds=sla_minutes * 60 or None,
        actual_seconds=waited_seconds, due_at=due_at, calendar=calendar,
    )


def window_wait(
    stamp: Stamp, step: str, run_by: str, *, closes: datetime, waits_from: datetime,
    reopens: datetime, calendar: str,
) -> ExtraWait:
    """The window's hours keep a case waiting for its next opening: a submission cut off
    by the closing margin (waits from now), or a case the clerk was serving when the
    window closed (waits from the closing)."""
    return ExtraWait(
        **stamp(step), scope="queue", agency=run_by,
        actual_seconds=(reopens - waits_from).total_seconds(), due_at=closes,
        calendar=calendar,
    )


def register_deadline_passed(
    stamp: Stamp, step: str | None, department: str, *, sla_working_days: int,
    waited_seconds: float, due_at: datetime, calendar: str,
) -> ExtraWait:
    """The can't-get-it-done register's answer not given by its deadline."""
    return ExtraWait(
        **stamp(step), scope="queue", agency=department, sla_working_days=sla_working_days,
        actual_seconds=waited_seconds, due_at=due_at, calendar=calendar,
    )


# -- piecemeal_rejection --------------------------------------------------------------


def piecemeal_rejections(
    stamp: Stamp, step: str, *, codes: Iterable[tuple[str, str | None]], round_: int,
    earlier_codes: set[str], submitted_form: Mapping[str, str],
    rule_failed_at: Callable[[str], int | None], rules: Iterable[str],
) -> list[PiecemealRejection]:
    """Deficiencies a rejection names that an earlier rejection could have named: a
    material rule the facts submitted then already failed as of that day, or a value
    that has not changed since. `codes` are the rejection's (code, field) pairs."""
    if round_ == 0:
        return []
    stated = set(rules)
    found: list[PiecemealRejection] = []
    for code, field in codes:
        if code in stated:
            first = rule_failed_at(code)
            if code not in earlier_codes and first is not None:
                found.append(PiecemealRejection(
                    **stamp(step), rule=code, first_rejection_round=first,
                    later_rejection_round=round_))
            continue
        unchanged = field is not None and field in submitted_form
        if code not in earlier_codes and unchanged:
            found.append(PiecemealRejection(
                **stamp(step), rule=code, first_rejection_round=round_ - 1,
                later_rejection_round=round_))
    return found


# -- cant_get_it_done -----------------------------------------------------------------


def rejected_too_often(stamp: Stamp, step: str, department: str) -> CantGetItDone:
    """A step rejected as often as allowed, in a case from before the register had its
    own workflow (the register's own event is registered_cant_get_it_done)."""
    return CantGetItDone(**stamp(step), cause="approval_procedure", department=department)


# -- search_only_entry ----------------------------------------------------------------


def search_only_entry(
    case_id: str, bundle: str, bundle_version: int, centre: str, channel: str, at: datetime,
    catalogue_version: int | str, searched: bool, search_only: bool,
) -> SearchOnlyEntry | None:
    """A citizen reached a service by search in a channel whose catalogue gives it no
    direct entry (no home tile, no menu). One per case however often the start is tried.
    The online channel (gateway.channels) records it through this function."""
    if not (searched and search_only):
        return None
    return SearchOnlyEntry(
        event_id=f"{case_id}/entry", occurred_at=at, case_id=case_id, bundle=bundle,
        bundle_version=bundle_version, centre=centre, channel=channel, service=bundle,
        entry_path=f"search (no home_tile or menu in {channel} catalogue "
        f"v{catalogue_version})",
    )


DETECTORS: Mapping[str, tuple[Callable[..., Any], ...]] = {
    "manual_reentry": (reentered_value,),
    "physical_material": (paper_despite_record,),
    "repeat_trip": (return_visit,),
    "extra_wait": (slow_agency_call, missed_deadline, window_wait, register_deadline_passed),
    "piecemeal_rejection": (piecemeal_rejections,),
    "cant_get_it_done": (rejected_too_often, registered_cant_get_it_done),
    "search_only_entry": (search_only_entry,),
    # clerk_note: written by a clerk in the notebook, never detected.
}
