"""Citizen and clerk minutes per friction event, from the table in burden.toml.

The table is data so the data bureau can revise estimates without a code change; the
method is described at the top of the TOML file.
"""

from __future__ import annotations

import functools
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from kernel.events import (
    CantGetItDone,
    ClerkNote,
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    PiecemealRejection,
    RepeatTrip,
    SearchOnlyEntry,
)

DEFAULT_PATH = Path(__file__).with_name("burden.toml")

# The event carries a calendar id but not the calendar, so calendar days late are scaled
# to working days by the share of working days in a week.
_WORKING_DAYS_PER_DAY = 5 / 7


class Minutes(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    citizen: float
    clerk: float


class WaitMinutes(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    citizen: float = 0.0  # per event
    clerk: float = 0.0
    citizen_per_overrun_minute: float = 0.0  # actual_seconds beyond sla_seconds
    clerk_per_overrun_minute: float = 0.0
    citizen_per_working_day_late: float = 0.0  # occurred_at beyond due_at
    clerk_per_working_day_late: float = 0.0


class ExtraWaitMinutes(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    step: WaitMinutes
    agency_call: WaitMinutes
    queue: WaitMinutes


class BurdenTable(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    manual_reentry: Minutes
    search_only_entry: Minutes
    physical_material: Minutes
    repeat_trip: Minutes
    piecemeal_rejection: Minutes
    cant_get_it_done: Minutes
    clerk_note: Minutes
    extra_wait: ExtraWaitMinutes
    # Paper documents by material id (the event's material); physical_material is the default.
    physical_material_by_material: dict[str, Minutes] = {}
    # A form retyped by hand: the clerk's redundant round, once per form and case.
    manual_reentry_form_round: Minutes = Minutes(citizen=0.0, clerk=0.0)

    def _form_round(self, event: ManualReentry) -> float:
        return self.manual_reentry_form_round.clerk if event.first_of_form else 0.0

    def burden_of(self, event: FrictionEvent) -> tuple[float, float]:
        """(citizen minutes, clerk minutes) one event costs."""
        match event:
            case ManualReentry(typed_seconds=seconds) if seconds is not None and seconds >= 0:
                # Typing is the clerk's time; the citizen's wait includes reading out
                # and checking, which the keyboard does not see.
                return self.manual_reentry.citizen, seconds / 60 + self._form_round(event)
            case ManualReentry():
                citizen, clerk = _pair(self.manual_reentry)
                return citizen, clerk + self._form_round(event)
            case ExtraWait():
                return _wait(getattr(self.extra_wait, event.scope), event)
            case SearchOnlyEntry():
                return _pair(self.search_only_entry)
            case PhysicalMaterialRequested(material=material):
                by_material = self.physical_material_by_material
                return _pair(by_material.get(material, self.physical_material))
            case RepeatTrip():
                return _pair(self.repeat_trip)
            case PiecemealRejection():
                return _pair(self.piecemeal_rejection)
            case CantGetItDone():
                return _pair(self.cant_get_it_done)
            case ClerkNote(about_kind=kind, subject=subject) if (
                kind is not None and self._of_kind(kind, subject)
            ):
                # A note about a friction kind: what that friction costs, plus the writing.
                c, k = self._of_kind(kind, subject) or (0.0, 0.0)
                return c + self.clerk_note.citizen, k + self.clerk_note.clerk
            case ClerkNote():
                return _pair(self.clerk_note)
        raise TypeError(f"not a friction event: {type(event).__name__}")

    def _of_kind(self, kind: str, subject: str | None = None) -> tuple[float, float] | None:
        """Per-event (citizen, clerk) estimate of a friction kind; extra_wait is a late step,
        and paper costs what its material (the note's subject) costs."""
        if kind == "physical_material" and subject in self.physical_material_by_material:
            return _pair(self.physical_material_by_material[subject])
        per_kind: dict[str, Minutes] = {
            "manual_reentry": self.manual_reentry,
            "search_only_entry": self.search_only_entry,
            "physical_material": self.physical_material,
            "repeat_trip": self.repeat_trip,
            "piecemeal_rejection": self.piecemeal_rejection,
            "cant_get_it_done": self.cant_get_it_done,
        }
        if kind == "extra_wait":
            step = self.extra_wait.step
            return step.citizen, step.clerk
        m = per_kind.get(kind)
        return None if m is None else _pair(m)


def _pair(m: Minutes) -> tuple[float, float]:
    return m.citizen, m.clerk


def _wait(rate: WaitMinutes, event: ExtraWait) -> tuple[float, float]:
    if event.scope == "agency_call" and event.attended is not None:
        # The whole call is the time people at the window waited; a call the case waited
        # for in the background kept nobody waiting.
        waited = (event.actual_seconds or 0.0) / 60 if event.attended else 0.0
        return (rate.citizen + rate.citizen_per_overrun_minute * waited,
                rate.clerk + rate.clerk_per_overrun_minute * waited)
    overrun = 0.0
    if event.actual_seconds is not None and event.sla_seconds is not None:
        overrun = max(0.0, event.actual_seconds - event.sla_seconds) / 60
    days_late = 0.0
    if event.due_at is not None and _comparable(event.occurred_at, event.due_at):
        late = event.occurred_at - event.due_at
        days_late = max(timedelta(0), late) / timedelta(days=1) * _WORKING_DAYS_PER_DAY
    citizen = (
        rate.citizen
        + rate.citizen_per_overrun_minute * overrun
        + rate.citizen_per_working_day_late * days_late
    )
    clerk = (
        rate.clerk
        + rate.clerk_per_overrun_minute * overrun
        + rate.clerk_per_working_day_late * days_late
    )
    return citizen, clerk


def _comparable(a: datetime, b: datetime) -> bool:
    # Naive and aware datetimes cannot be subtracted; such an event just gets no lateness.
    return (a.tzinfo is None) == (b.tzinfo is None)


def load_burden_table(path: Path | str = DEFAULT_PATH) -> BurdenTable:
    """Read and check a burden table; a missing kind or a misspelt key is an error."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    try:
        return msgspec.convert(data, type=BurdenTable)
    except msgspec.ValidationError as exc:
        raise ValueError(f"burden table {path}: {exc}") from exc


@functools.cache
def default_burden_table() -> BurdenTable:
    return load_burden_table(DEFAULT_PATH)


def burden_of(event: FrictionEvent, table: BurdenTable | None = None) -> tuple[float, float]:
    """(citizen minutes, clerk minutes) one event costs, by the default table unless given."""
    return (table or default_burden_table()).burden_of(event)
