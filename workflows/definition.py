"""Bundle definitions: a bundle is data, one TOML file per bundle and version.

A case receives its definition when it starts and keeps it, so a changed file never
changes a case already running. Loading validates everything a workflow would otherwise
discover half-way through a case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Literal

import msgspec

from workflows.material_rules import RULES

# date: a day that has happened (born on, left on); term_date: a day of a term, which
# may lie ahead (a lease's start or end).
FieldType = Literal["text", "id_number", "date", "enum", "phone", "bank_account", "term_date"]
# agency: the step is submitted to an agency and waits for its decision. task: people of
# ours do it (a grid worker, a repair crew, a mediator) and record each milestone.
StepKind = Literal["agency", "task"]
Evidence = Literal["none", "photo", "minutes"]

# Sources the case looks up before asking anyone for anything, and the dossier concepts
# each one may provide. Agencies answer with concept -> value; the e-certificate library
# answers with the certificate types a citizen holds.
LOOKUP_SOURCES: dict[str, tuple[str, ...]] = {
    "identity": ("identity.name", "identity.id_number", "identity.gender", "identity.birth_date"),
    "household": ("household.address", "household.registration_type", "household.size"),
    "insurance_history": (
        "insurance.last_employer",
        "insurance.last_contribution_month",
        "insurance.contribution_months",
        "contact.phone",
    ),
    "low_income": ("civil.low_income", "civil.low_income_certificate_no"),
    "bank_account": ("bank.account", "bank.name"),
    "ecert": (),
    # The labour contract filed with human resources and social security (劳动用工备案).
    "employment_contract": (
        "employment.contract_employer",
        "employment.contract_start",
        "employment.contract_end",
    ),
    # The month-by-month insurance lines, as JSON (workflows.material_rules.InsuranceLine),
    # in the insurance system's own order: transferred virtual employer lines last.
    "insurance_lines": ("insurance.lines",),
    # The lease registered with the police (出租房屋租住登记).
    "lease": ("housing.lease_address", "housing.lease_start", "housing.lease_end"),
}


_CONCEPT = re.compile(r"[a-z_]+\.[a-z_]+")


class DefinitionError(ValueError):
    """A bundle definition file is malformed; the message names the file and the place."""


class FieldSpec(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    label_zh: str
    label_en: str
    type: FieldType = "text"
    options: tuple[str, ...] = ()  # allowed values of an enum field
    concept: str | None = None  # the dossier key this field means, if the case may know it
    prefill: bool = True  # whether the form is wired to take the concept from the dossier
    type_minutes: float = 1.0  # clerk time to type it, the burden of a re-entry


class MaterialSpec(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    label_zh: str
    label_en: str
    ecert: str | None = None  # the e-certificate type that holds it, if one exists
    # Rules of workflows.material_rules the material must pass as of the processing date;
    # all of a step's rules run at once at every review (the one-time notice).
    rules: tuple[str, ...] = ()


class Output(msgspec.Struct, kw_only=True, frozen=True):
    """A value an agency's approval adds to the dossier, e.g. a registration number."""

    concept: str
    ecert: str | None = None  # the approval also issues this e-certificate


class Condition(msgspec.Struct, kw_only=True, frozen=True):
    """A step runs only when the dossier holds `equals` under `concept` by then: an
    earlier answer (a registry check, an urgency) chooses the path."""

    concept: str
    equals: str


class MilestoneSpec(msgspec.Struct, kw_only=True, frozen=True):
    """A point of a task someone must reach within its SLA from the step's start, and
    record with who did it, when, and the evidence (a photo or minutes reference)."""

    id: str
    name_zh: str
    name_en: str
    sla_minutes: int = 0  # on the clock: repairs and call-backs do not stop at weekends
    sla_working_days: int = 0
    evidence: Evidence = "none"


class StepSpec(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name_zh: str
    name_en: str
    agency: str  # the agency deciding, or for a task the department doing it
    sla_working_days: int = 0  # statutory SLA in working days, or else
    sla_minutes: int = 0  # an SLA on the clock (reviews within two hours)
    kind: StepKind = "agency"
    performer: str = "clerk"  # who records a task's milestones: grid_worker, mediator, ...
    milestones: tuple[MilestoneSpec, ...] = ()
    when: Condition | None = None
    notify: bool = False  # tell the citizen when the step starts and when it ends
    agency_call_sla_seconds: float = 5.0
    clerk_minutes: float = 5.0  # standard handling time at the window, for the reports
    fields: tuple[FieldSpec, ...] = ()
    materials: tuple[MaterialSpec, ...] = ()
    outputs: tuple[Output, ...] = ()


class OpeningHours(msgspec.Struct, kw_only=True, frozen=True):
    opens: time  # China time
    closes: time


class WindowSpec(msgspec.Struct, kw_only=True, frozen=True):
    """The service window a bundle's submissions pass through, open on the calendar's
    working days. A submission attempted within closing_margin_minutes of closing waits
    for the next opening, and a case still waiting on the clerk when the window closes,
    having been served in that margin, is recorded as friction: never a silent stop."""

    run_by: str  # the agency staffing the window, e.g. public-security at a centre
    hours: tuple[OpeningHours, ...]
    closing_margin_minutes: int = 15


class OutagePolicy(msgspec.Struct, kw_only=True, frozen=True):
    """How long a case waits out an agency that does not answer (5xx, timeouts): it
    retries with backoff, never failing by a count of attempts. After
    escalate_after_hours the case is registered as can't-get-it-done (cause `system`),
    the citizen is told and operators are alerted; after give_up_after_working_days
    the case ends as failed (cause `agency_outage`)."""

    escalate_after_hours: float = 4.0
    give_up_after_working_days: int = 5


# The longest outage a definition may ask a case to wait out: a month of working days.
MAX_OUTAGE_WORKING_DAYS = 22


class LookupSpec(msgspec.Struct, kw_only=True, frozen=True):
    source: str
    agency: str


class BundleDefinition(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    version: int
    name_zh: str
    name_en: str
    lookups: tuple[LookupSpec, ...]
    steps: tuple[StepSpec, ...]
    window: WindowSpec | None = None
    outage: OutagePolicy = OutagePolicy()

    def step(self, step_id: str) -> StepSpec:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


def validate(definition: BundleDefinition, origin: str = "<definition>") -> BundleDefinition:
    """Check what msgspec's types cannot: references between parts of the definition."""

    def fail(where: str, what: str) -> DefinitionError:
        return DefinitionError(f"{origin}: {where}: {what}")

    if definition.version < 1:
        raise fail("version", "must be 1 or more")
    if not definition.steps:
        raise fail("steps", "a bundle needs at least one step")
    for i, lookup in enumerate(definition.lookups):
        if lookup.source not in LOOKUP_SOURCES:
            raise fail(f"lookups[{i}].source", f"unknown source {lookup.source!r}")
    step_ids: set[str] = set()
    for s in definition.steps:
        where = f"step {s.id!r}"
        if s.id in step_ids:
            raise fail(where, "duplicate step id")
        step_ids.add(s.id)
        if (s.sla_working_days >= 1) == (s.sla_minutes >= 1):
            raise fail(where, "give one SLA: sla_working_days or sla_minutes, 1 or more")
        if s.kind == "task" and not s.milestones:
            raise fail(where, "a task step needs at least one milestone")
        if s.kind == "agency" and s.milestones:
            raise fail(where, "milestones belong to task steps")
        milestone_ids = [m.id for m in s.milestones]
        if len(set(milestone_ids)) != len(milestone_ids):
            raise fail(where, "duplicate milestone")
        for m in s.milestones:
            if (m.sla_working_days >= 1) == (m.sla_minutes >= 1):
                raise fail(f"{where} milestone {m.id!r}",
                           "give one SLA: sla_working_days or sla_minutes, 1 or more")
        if s.when is not None:
            if not _CONCEPT.fullmatch(s.when.concept):
                raise fail(f"{where} when", f"bad concept name {s.when.concept!r}")
            if s is definition.steps[0]:
                raise fail(f"{where} when", "the first step always runs")
        names: set[str] = set()
        for f in s.fields:
            if f.name in names:
                raise fail(f"{where} field {f.name!r}", "duplicate field")
            names.add(f.name)
            if f.type == "enum" and not f.options:
                raise fail(f"{where} field {f.name!r}", "an enum field needs options")
            if f.concept is not None and not _CONCEPT.fullmatch(f.concept):
                raise fail(f"{where} field {f.name!r}", f"bad concept name {f.concept!r}")
        materials = [m.name for m in s.materials]
        if len(set(materials)) != len(materials):
            raise fail(where, "duplicate material")
        known = {c for lk in definition.lookups for c in LOOKUP_SOURCES.get(lk.source, ())}
        known |= {f.concept for f in s.fields if f.concept}
        for material in s.materials:
            for rule in material.rules:
                at = f"{where} material {material.name!r}"
                if rule not in RULES:
                    raise fail(at, f"unknown rule {rule!r}")
                if not set(RULES[rule].reads) & known:
                    raise fail(at, f"rule {rule!r} reads nothing the case looks up or asks")
    if definition.window is not None:
        _validate_window(definition.window, fail)
    _validate_outage(definition.outage, fail)
    return definition


def _validate_outage(policy: OutagePolicy, fail: Callable[[str, str], DefinitionError]) -> None:
    if not 1 <= policy.give_up_after_working_days <= MAX_OUTAGE_WORKING_DAYS:
        raise fail("outage.give_up_after_working_days",
                   f"1 to {MAX_OUTAGE_WORKING_DAYS} working days")
    # Escalated at least an hour in (a blip is no outage) and before the case gives up,
    # which is never earlier than the end of the first working day.
    if not 1 <= policy.escalate_after_hours <= 24 * policy.give_up_after_working_days:
        raise fail("outage.escalate_after_hours",
                   "1 hour or more, and within give_up_after_working_days")


def _validate_window(window: WindowSpec, fail: Callable[[str, str], DefinitionError]) -> None:
    if not window.hours:
        raise fail("window.hours", "give at least one opening period")
    previous: time | None = None
    for i, h in enumerate(window.hours):
        if h.opens.tzinfo is not None or h.closes.tzinfo is not None:
            raise fail(f"window.hours[{i}]", "give local China times without an offset")
        if h.opens >= h.closes:
            raise fail(f"window.hours[{i}]", "opens before it closes, within one day")
        if previous is not None and h.opens < previous:
            raise fail(f"window.hours[{i}]", "periods in order, not overlapping")
        previous = h.closes
        length = (h.closes.hour * 60 + h.closes.minute) - (h.opens.hour * 60 + h.opens.minute)
        if not 0 <= window.closing_margin_minutes < length:
            raise fail("window.closing_margin_minutes",
                       f"0 or more and shorter than the period {i} ({length} minutes)")


def load_definition(path: Path) -> BundleDefinition:
    try:
        definition = msgspec.toml.decode(path.read_bytes(), type=BundleDefinition)
    except msgspec.ValidationError as exc:
        raise DefinitionError(f"{path.name}: {exc}") from exc
    return validate(definition, path.name)


BUNDLES_DIR = Path(__file__).parent / "bundles"


class Defaults(msgspec.Struct, kw_only=True, frozen=True):
    defaults: dict[str, int] = {}


class Catalogue:
    """Every bundle definition in a folder, by id and version. New cases get the version
    catalogue.toml names for the bundle, or else the newest."""

    def __init__(self, definitions: list[BundleDefinition], defaults: dict[str, int]) -> None:
        self._by_key = {(d.id, d.version): d for d in definitions}
        self._default: dict[str, BundleDefinition] = {}
        for d in sorted(definitions, key=lambda d: d.version):
            self._default[d.id] = d
        for bundle_id, version in defaults.items():
            if (bundle_id, version) not in self._by_key:
                raise DefinitionError(
                    f"catalogue.toml: {bundle_id} = {version} names no definition file"
                )
            self._default[bundle_id] = self._by_key[(bundle_id, version)]

    @classmethod
    def load(cls, folder: Path = BUNDLES_DIR) -> Catalogue:
        pins = folder / "catalogue.toml"
        defaults = (
            msgspec.toml.decode(pins.read_bytes(), type=Defaults).defaults if pins.exists() else {}
        )
        definitions = [
            load_definition(p) for p in sorted(folder.glob("*.toml")) if p.name != pins.name
        ]
        return cls(definitions, defaults)

    def default(self, bundle_id: str) -> BundleDefinition:
        return self._default[bundle_id]

    def get(self, bundle_id: str, version: int) -> BundleDefinition:
        return self._by_key[(bundle_id, version)]

    def versions(self, bundle_id: str) -> list[int]:
        return sorted(v for (b, v) in self._by_key if b == bundle_id)

    def ids(self) -> list[str]:
        return sorted(self._default)
