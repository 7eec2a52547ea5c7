"""The names of what bundle definitions refer to by id: agencies, performers, dossier
concepts, coded values and e-certificate types, in Chinese and English (vocabulary.toml),
and the ids a catalogue uses of each, so a check can tell which lack a name."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, get_args

import msgspec

from workflows.definition import LOOKUP_SOURCES, Catalogue
from workflows.material_rules import RULES, InsuranceStatus

VOCABULARY_FILE = Path(__file__).parent / "vocabulary.toml"

Vocabulary = Literal["agencies", "performers", "concepts", "values", "ecerts"]
VOCABULARIES: tuple[Vocabulary, ...] = get_args(Vocabulary)


class Term(msgspec.Struct, kw_only=True, frozen=True):
    zh: str
    en: str


class Terms(msgspec.Struct, kw_only=True, frozen=True):
    agencies: dict[str, Term]
    performers: dict[str, Term]
    concepts: dict[str, Term]
    values: dict[str, Term]
    ecerts: dict[str, Term]

    def of(self, vocabulary: Vocabulary) -> dict[str, Term]:
        found: dict[str, Term] = getattr(self, vocabulary)
        return found


@functools.cache
def terms() -> Terms:
    return msgspec.toml.decode(VOCABULARY_FILE.read_bytes(), type=Terms)


def _coded(value: str) -> bool:
    """A value written as a code (yes, urban), not in words a person reads as they are."""
    return value.isascii() and any(c.isalpha() for c in value)


def used_ids(catalogue: Catalogue) -> dict[Vocabulary, set[str]]:
    """Every id of each vocabulary the catalogue's definitions (every version) use."""
    used: dict[Vocabulary, set[str]] = {v: set() for v in VOCABULARIES}
    used["concepts"].update(c for concepts in LOOKUP_SOURCES.values() for c in concepts)
    used["concepts"].update(c for rule in RULES.values() for c in rule.reads)
    used["values"].update(get_args(InsuranceStatus))  # shown in a dossier's insurance lines
    for bundle in catalogue.ids():
        for version in catalogue.versions(bundle):
            definition = catalogue.get(bundle, version)
            used["agencies"].update(lookup.agency for lookup in definition.lookups)
            if definition.window is not None:
                used["agencies"].add(definition.window.run_by)
            for step in definition.steps:
                used["agencies"].add(step.agency)
                used["performers"].add(step.performer)
                if step.when is not None:
                    used["concepts"].add(step.when.concept)
                    if _coded(step.when.equals):
                        used["values"].add(step.when.equals)
                for field in step.fields:
                    if field.concept:
                        used["concepts"].add(field.concept)
                    used["values"].update(o for o in field.options if _coded(o))
                for material in step.materials:
                    if material.ecert:
                        used["ecerts"].add(material.ecert)
                for output in step.outputs:
                    used["concepts"].add(output.concept)
                    if output.ecert:
                        used["ecerts"].add(output.ecert)
    return used
