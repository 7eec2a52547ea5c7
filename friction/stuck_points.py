"""Stuck points: the events that share a fingerprint, counted, costed and given a remedy.

The store builds them from its rollups; this module holds the value type and the parts
that are not storage: where a re-entered value or a paper document was already held, and
what to do about each kind of stuck point.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import msgspec

from kernel.events import (
    ClerkNote,
    FrictionEvent,
    ManualReentry,
    PhysicalMaterialRequested,
    RepeatTrip,
)

Granularity = Literal["day", "week"]

MAX_SAMPLE_CASES = 5
MAX_SAMPLE_TRACES = 5
REMEDY_FIELDS_SHOWN = 5


class StuckPoint(msgspec.Struct, kw_only=True, frozen=True):
    fingerprint: str
    kind: str
    bundle: str | None
    step: str | None
    subject: str  # the field, material, service, rule or cause it is about
    count: int  # events
    cases: int  # distinct cases
    first_seen: datetime
    last_seen: datetime
    citizen_minutes: float
    clerk_minutes: float
    burden_minutes: float  # citizen + clerk: the ranking key
    known_from: dict[str, int]  # "<provenance kind>:<source>" -> events
    sample_cases: tuple[str, ...]  # up to MAX_SAMPLE_CASES case ids, to look at
    remedy: str
    # Evidence counts: "field:<name>" (re-entries), "reason:<code>" (repeat trips),
    # "material:<name>" (paper asked for), "category:<c>" (clerks' notes) -> events.
    details: dict[str, int] = {}
    sample_traces: tuple[str, ...] = ()  # up to MAX_SAMPLE_TRACES trace ids, most recent first
    notes: int = 0  # clerks' notes about another kind merged into it (counted in `count`)


class TrendPoint(msgspec.Struct, kw_only=True, frozen=True):
    """A stuck point's events in one day or week (China local dates; weeks start Monday)."""

    period_start: date
    count: int
    citizen_minutes: float
    clerk_minutes: float


def period_start(day: date, granularity: Granularity) -> date:
    """The period a China-local day counts in: the day itself, or its week's Monday."""
    return day - timedelta(days=day.weekday()) if granularity == "week" else day


def periods(first: date, last: date, granularity: Granularity) -> list[date]:
    """Every period from first's to last's, quiet ones included, so a chart's x axis is
    time."""
    step = timedelta(days=7 if granularity == "week" else 1)
    start, end = period_start(first, granularity), period_start(last, granularity)
    return [start + i * step for i in range((end - start) // step + 1)]


def known_from_of(event: FrictionEvent) -> str | None:
    """Where the value or document was already held, as "<kind>:<source>", for the kinds
    whose remedy is to use that source."""
    match event:
        case ManualReentry(known_from=p) | PhysicalMaterialRequested(held_by=p):
            return f"{p.kind}:{p.source}"
    return None


def details_of(event: FrictionEvent) -> tuple[str, ...]:
    """The evidence an event adds to its stuck point's details."""
    match event:
        case ManualReentry(field=f):
            return (f"field:{f}",)
        case RepeatTrip(reasons=reasons):
            return tuple(dict.fromkeys(f"reason:{r}" for r in reasons))
        case PhysicalMaterialRequested(material=m):
            return (f"material:{m}",)
        case ClerkNote(category=c, subject=s, about_kind="manual_reentry") if s:
            # A note about a form names the field the clerk had to type.
            return (f"category:{c}", f"field:{s}")
        case ClerkNote(category=c):
            return (f"category:{c}",)
    return ()


def ranked(counts: dict[str, int]) -> list[str]:
    """Keys by count, largest first, ties alphabetically (stable between reads)."""
    return sorted(counts, key=lambda key: (-counts[key], key))


def most_common(counts: dict[str, int]) -> str | None:
    if not counts:
        return None
    # Ties go to the alphabetically first source so the remedy is stable between reads.
    return min(counts, key=lambda source: (-counts[source], source))


def remedy_for(
    kind: str,
    subject: str,
    step: str | None,
    known_from: dict[str, int],
    details: dict[str, int] | None = None,
) -> str:
    """A one-sentence fix for a stuck point, phrased for the backlog."""
    source = most_common(known_from)
    where = step or "the bundle"
    match kind:
        case "manual_reentry":
            fields = [d.removeprefix("field:") for d in ranked(details or {})
                      if d.startswith("field:")]
            shown = ", ".join(fields[:REMEDY_FIELDS_SHOWN]) or "its fields"
            if len(fields) > REMEDY_FIELDS_SHOWN:
                shown += f" (+{len(fields) - REMEDY_FIELDS_SHOWN} more)"
            return (f"link form {step or '-'} to the dossier: prefill {shown} "
                    f"from {source or 'the source that held them'}")
        case "search_only_entry":
            return f"add a direct entry for {subject}"
        case "physical_material":
            if source is None:
                return f"find an e-certificate or shared record for {subject} and query it first"
            held_kind, _, held_source = source.partition(":")
            if held_kind == "ecert":
                return f"query the e-certificate {held_source} before asking for {subject}"
            return f"query {held_kind} {held_source} before asking for {subject}"
        case "piecemeal_rejection":
            return f"check rule {subject} at the first review"
        case "extra_wait":
            if subject.startswith("agency_call:"):
                agency = subject.removeprefix("agency_call:")
                return f"add capacity or change the SLA of {where} (calls to {agency})"
            return f"add capacity or change the SLA of {where}"
        case "repeat_trip":
            return "tell every deficiency at the first trip (one-time notice)"
        case "cant_get_it_done":
            return f"review the {subject.replace('_', ' ')} cause that stalls cases at {where}"
        case "clerk_note":
            return f"read the clerks' notes on {subject} and fix what they name"
    return f"investigate {subject} at {where}"
