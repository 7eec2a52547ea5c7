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


def N_(message: str) -> str:
    """Marks a remedy's message for the gettext catalogues; the pages translate it."""
    return message


class Term(msgspec.Struct, kw_only=True, frozen=True):
    """What a remedy's placeholder names: an id of a vocabulary (a step, the fields of a
    step, a source "<kind>:<id>", a material, a rule, a cause, a service, an agency, a
    subject), or a phrase that is itself a message."""

    of: Literal["step", "fields", "source", "ecert", "material", "rule", "cause",
                "service", "agency", "subject", "phrase", "count"]
    id: str


class Remedy(msgspec.Struct, kw_only=True, frozen=True):
    """A fix for a stuck point as a message with named placeholders, so each reader gets
    it in their language with names instead of ids; `english` is it with the ids."""

    message: str
    terms: dict[str, Term] = {}

    @property
    def english(self) -> str:
        return self.message % {name: term.id.replace("_", " ") if term.of == "cause"
                               else term.id for name, term in self.terms.items()}


def remedy_of(
    kind: str,
    subject: str,
    step: str | None,
    known_from: dict[str, int],
    details: dict[str, int] | None = None,
) -> Remedy:
    """A one-sentence fix for a stuck point, phrased for the backlog."""
    source = most_common(known_from)
    where = Term(of="step", id=step) if step else Term(of="phrase", id=N_("the bundle"))
    match kind:
        case "manual_reentry":
            fields = [d.removeprefix("field:") for d in ranked(details or {})
                      if d.startswith("field:")]
            terms = {
                "step": Term(of="step", id=step or "-"),
                "fields": (Term(of="fields", id=", ".join(fields[:REMEDY_FIELDS_SHOWN]))
                           if fields else Term(of="phrase", id=N_("its fields"))),
                "source": (Term(of="source", id=source) if source
                           else Term(of="phrase", id=N_("the source that held them"))),
            }
            if len(fields) > REMEDY_FIELDS_SHOWN:
                terms["more"] = Term(of="count", id=str(len(fields) - REMEDY_FIELDS_SHOWN))
                return Remedy(message=N_("link form %(step)s to the dossier: prefill "
                                         "%(fields)s (+%(more)s more) from %(source)s"),
                              terms=terms)
            return Remedy(message=N_("link form %(step)s to the dossier: prefill %(fields)s "
                                     "from %(source)s"), terms=terms)
        case "search_only_entry":
            return Remedy(message=N_("add a direct entry for %(service)s"),
                          terms={"service": Term(of="service", id=subject)})
        case "physical_material":
            material = Term(of="material", id=subject)
            if source is None:
                return Remedy(message=N_("find an e-certificate or shared record for "
                                         "%(material)s and query it first"),
                              terms={"material": material})
            held_kind, _, held_source = source.partition(":")
            if held_kind == "ecert":
                return Remedy(message=N_("query the e-certificate %(ecert)s before asking "
                                         "for %(material)s"),
                              terms={"ecert": Term(of="ecert", id=held_source),
                                     "material": material})
            return Remedy(message=N_("query %(source)s before asking for %(material)s"),
                          terms={"source": Term(of="source", id=source), "material": material})
        case "piecemeal_rejection":
            return Remedy(message=N_("check rule %(rule)s at the first review"),
                          terms={"rule": Term(of="rule", id=subject)})
        case "extra_wait":
            if subject.startswith("agency_call:"):
                agency = subject.removeprefix("agency_call:")
                return Remedy(message=N_("add capacity or change the SLA of %(where)s "
                                         "(calls to %(agency)s)"),
                              terms={"where": where, "agency": Term(of="agency", id=agency)})
            return Remedy(message=N_("add capacity or change the SLA of %(where)s"),
                          terms={"where": where})
        case "repeat_trip":
            return Remedy(message=N_("tell every deficiency at the first trip "
                                     "(one-time notice)"))
        case "cant_get_it_done":
            return Remedy(message=N_("review the %(cause)s cause that stalls cases at "
                                     "%(where)s"),
                          terms={"cause": Term(of="cause", id=subject), "where": where})
        case "clerk_note":
            return Remedy(message=N_("read the clerks' notes on %(subject)s and fix what "
                                     "they name"),
                          terms={"subject": Term(of="subject", id=subject)})
    return Remedy(message=N_("investigate %(subject)s at %(where)s"),
                  terms={"subject": Term(of="subject", id=subject), "where": where})


def remedy_for(
    kind: str,
    subject: str,
    step: str | None,
    known_from: dict[str, int],
    details: dict[str, int] | None = None,
) -> str:
    """The remedy in English with its ids, as the API and the store give it."""
    return remedy_of(kind, subject, step, known_from, details).english
