"""What the clerk's case page shows about a case at a glance: its header (bundle, current
step, the citizen's name for a clerk of its centre, the promised date, the prefilled
count of the fields on screen) and the dossier with structured values as tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal

import msgspec

from gateway.accounts import Account
from gateway.console.pages import N_
from gateway.names import Names
from workflows.case import CaseProgress, StepView
from workflows.definition import BundleDefinition

NAME_CONCEPT = "identity.name"
# Headers of the records a dossier value may list (workflows.material_rules.InsuranceLine);
# a key not named here is shown as it is.
RECORD_LABELS: dict[str, str] = {
    "month": N_("Month"),
    "employer": N_("Employer"),
    "employer_code": N_("Employer code"),
    "status": N_("Status"),
    "transferred_virtual": N_("Transferred from another city"),
}
YES_NO = (N_("No"), N_("Yes"))


class CaseHeader(msgspec.Struct, kw_only=True, frozen=True):
    bundle_zh: str
    bundle_en: str
    citizen_name: str | None  # only for a clerk working at the case's home centre
    due_on: date | None  # the current step's promised date, else the last step's
    due_provisional: bool
    prefilled: int  # fields of the current step shown with their prefill source
    fields: int  # fields of the current step


class Column(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    label: str  # in the reader's language where RECORD_LABELS names it, else the key


Say = Callable[[str], str]  # a message in the reader's language


class DossierRow(msgspec.Struct, kw_only=True, frozen=True):
    """One dossier item: plain text, a list of records (a table) or a mapping."""

    key: str
    label_zh: str
    label_en: str
    shape: Literal["text", "records", "mapping"]
    text: str = ""
    columns: tuple[Column, ...] = ()
    records: tuple[tuple[str, ...], ...] = ()
    pairs: tuple[tuple[Column, str], ...] = ()
    source: str = ""


def prefilled_names(step: StepView | None) -> frozenset[str]:
    """The fields the form shows as prefilled, with the source they came from."""
    if step is None:
        return frozenset()
    return frozenset(f.name for f in step.fields
                     if f.prefilled and f.source is not None and f.name not in step.missing_fields)


def current_step(progress: CaseProgress) -> StepView | None:
    return next((s for s in progress.steps if s.id == progress.current_step), None)


def case_header(progress: CaseProgress, definition: BundleDefinition,
                account: Account) -> CaseHeader:
    step = current_step(progress)
    dated = [s for s in progress.steps if s.due_on is not None]
    promised = step if step is not None and step.due_on is not None else (
        dated[-1] if dated else None)
    name = progress.dossier.get(NAME_CONCEPT)
    home_clerk = "clerk" in account.roles and account.serves(progress.centre)
    return CaseHeader(
        bundle_zh=definition.name_zh, bundle_en=definition.name_en,
        citizen_name=name.value if name is not None and home_clerk else None,
        due_on=promised.due_on if promised else None,
        due_provisional=bool(promised and promised.due_provisional),
        prefilled=len(prefilled_names(step)),
        fields=len(step.fields) if step else 0,
    )


def _labels(definition: BundleDefinition) -> dict[str, tuple[str, str]]:
    """Dossier concepts by the labels of the fields that mean them."""
    return {f.concept: (f.label_zh, f.label_en)
            for s in definition.steps for f in s.fields if f.concept}


def _column(key: str, say: Say) -> Column:
    return Column(key=key, label=say(RECORD_LABELS[key]) if key in RECORD_LABELS else key)


def _cell(value: Any, say: Say, names: Names | None = None) -> str:
    if isinstance(value, bool):
        return say(YES_NO[value])
    if value is None:
        return "—"
    if isinstance(value, (list, dict)):
        return msgspec.json.encode(value).decode()
    # A coded value (credited, urban) by its name; words and numbers as they are.
    return names.name("value", str(value)) if names is not None else str(value)


def _structured(value: str) -> Any:
    if not value.startswith(("[", "{")):
        return None
    try:
        return msgspec.json.decode(value)
    except msgspec.DecodeError:
        return None


def dossier_row(
    key: str, value: str, label: tuple[str, str], source: str, say: Say,
    names: Names | None = None,
) -> DossierRow:
    parsed = _structured(value)
    base: dict[str, Any] = {"key": key, "label_zh": label[0], "label_en": label[1],
                            "source": source}
    if isinstance(parsed, list) and parsed and all(isinstance(r, dict) for r in parsed):
        keys = list(dict.fromkeys(k for r in parsed for k in r))
        return DossierRow(**base, shape="records", columns=tuple(_column(k, say) for k in keys),
                          records=tuple(tuple(_cell(r.get(k), say, names) for k in keys)
                                        for r in parsed))
    if isinstance(parsed, dict):
        return DossierRow(**base, shape="mapping",
                          pairs=tuple((_column(k, say), _cell(v, say, names))
                                      for k, v in parsed.items()))
    return DossierRow(**base, shape="text",
                      text=names.name("value", value) if names is not None else value)


def dossier_rows(
    progress: CaseProgress, definition: BundleDefinition, say: Say, names: Names
) -> list[DossierRow]:
    """The dossier by name: each concept by the label of the field that means it, else
    its own name; coded values and where they came from by name too."""
    labels = _labels(definition)
    rows = []
    for key, entry in sorted(progress.dossier.items()):
        where = names.name("source", f"{entry.source.kind}:{entry.source.source}",
                           progress.bundle)
        if entry.source.step:
            where += f" ({names.name('step', entry.source.step, progress.bundle)})"
        concept = names.name("concept", key)
        rows.append(dossier_row(key, entry.value, labels.get(key, (concept, concept)), where,
                                say, names))
    return rows
