"""Chinese first: every message the console shows has its Chinese translation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from friction.backlog import Status
from friction.notebook import NOTE_CATEGORIES
from friction.register import CAUSES
from friction.stuck_points import StuckPoint, remedy_of
from gateway.accounts import ROLES
from gateway.centre_directory import CENTRES
from gateway.i18n import LOCALES_DIR, translations
from gateway.names import Of, names_in
from kernel.events import FRICTION_KINDS
from workflows.definition import Catalogue
from workflows.material_rules import RULES
from workflows.vocabulary import VOCABULARIES, VOCABULARY_FILE, terms, used_ids

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,), "say": (2,), "N_": None}


def console_messages() -> set[str]:
    """What `pybabel extract` with babel.cfg finds: the templates' and the code's msgids."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS  # type: ignore[arg-type]
    ):
        found.update([message] if isinstance(message, str) else message)
    return found


def test_every_console_message_has_a_chinese_translation() -> None:
    messages = console_messages()
    assert len(messages) > 100  # the extraction itself works
    zh = translations("zh")
    missing = sorted(m for m in messages if zh.ugettext(m) == m and m)
    assert missing == [], f"untranslated in {LOCALES_DIR / 'zh'}: {missing}"


def test_english_is_the_message_itself() -> None:
    assert translations("en").ugettext("Workbench") == "Workbench"
    assert translations("zh").ugettext("Workbench") == "窗口工作台"


# -- names instead of ids: every id the definitions and the notebook use has both names ----

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_id_the_catalogue_uses_has_a_chinese_and_an_english_name() -> None:
    """Agencies, performers, dossier concepts, coded values and e-certificate types: the
    ids every bundle definition (every version) and the lookups and rules use."""
    used = used_ids(Catalogue.load())
    assert all(used[v] for v in VOCABULARIES)  # the derivation finds each vocabulary
    named = terms()
    missing = {v: sorted(used[v] - set(named.of(v))) for v in VOCABULARIES}
    assert missing == {v: [] for v in VOCABULARIES}, f"add them to {VOCABULARY_FILE}"
    for vocabulary in VOCABULARIES:
        for key, term in named.of(vocabulary).items():
            assert CJK.search(term.zh) and term.en.strip() and term.en != key, (vocabulary, key)


@pytest.mark.parametrize(("of", "keys"), [
    ("kind", FRICTION_KINDS), ("category", NOTE_CATEGORIES), ("cause", CAUSES),
    ("rule", tuple(RULES)), ("role", ROLES), ("status", get_args(Status)),
    ("centre", tuple(CENTRES)), ("bundle", tuple(Catalogue.load().ids())),
])
def test_every_word_of_the_notebook_and_the_definitions_has_both_names(
    of: Of, keys: tuple[str, ...]
) -> None:
    zh, en = names_in("zh"), names_in("en")
    for key in keys:
        assert CJK.search(zh.name(of, key)), (of, key, zh.name(of, key))
        assert en.name(of, key) != key and not CJK.search(en.name(of, key)), (of, key)


def test_every_step_field_and_material_is_named_by_its_definition() -> None:
    catalogue = Catalogue.load()
    zh = names_in("zh")
    for bundle in catalogue.ids():
        for version in catalogue.versions(bundle):
            for step in catalogue.get(bundle, version).steps:
                assert zh.name("step", step.id, bundle) == step.name_zh
                for field in step.fields:
                    assert zh.name("field", field.name, bundle, step.id) == field.label_zh
                for material in step.materials:
                    assert zh.name("material", material.name, bundle, step.id) == (
                        material.label_zh)


def point(kind: str, subject: str, known_from: dict[str, int],
          details: dict[str, int] | None = None) -> StuckPoint:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    return StuckPoint(
        fingerprint=f"{kind}|employment-hardship|flexible-insurance-enrollment|{subject}",
        kind=kind, bundle="employment-hardship", step="flexible-insurance-enrollment",
        subject=subject, count=1, cases=1, first_seen=at, last_seen=at, citizen_minutes=1,
        clerk_minutes=1, burden_minutes=2, known_from=known_from, sample_cases=(),
        remedy="", details=details or {})


REMEDY_CASES = [
    point("manual_reentry", "form", {"agency:hrss": 2},
          {f"field:{f}": 1 for f in ("applicant_name", "id_number", "gender", "birth_date",
                                     "household_address", "phone", "bank_account")}),
    point("manual_reentry", "form", {}, {}),
    point("search_only_entry", "population-certificate", {}),
    point("physical_material", "resident_id_card", {}),
    point("physical_material", "resident_id_card", {"ecert:resident_id_card": 1}),
    point("physical_material", "resident_id_card", {"agency:public-security": 1}),
    point("piecemeal_rejection", "lease_valid_on_processing_date", {}),
    point("extra_wait", "agency_call:social-insurance", {}),
    point("extra_wait", "step", {}),
    point("repeat_trip", "trip", {}),
    point("cant_get_it_done", "approval_procedure", {}),
    point("clerk_note", "bank_account", {}),
    point("unknown_kind", "bank_account", {}),
]


@pytest.mark.parametrize("stuck", REMEDY_CASES, ids=lambda p: f"{p.kind}-{p.subject}")
def test_every_remedy_reads_in_chinese_with_names_and_in_english_with_ids(
    stuck: StuckPoint,
) -> None:
    """Every kind's remedy (and each of its variants) comes from the catalogue, its ids
    named: nothing of the Chinese sentence is an id or English."""
    said = names_in("zh").remedy(stuck)
    assert CJK.search(said) and not re.search(r"[A-Za-z_]{2,}", said), said
    english = remedy_of(stuck.kind, stuck.subject, stuck.step, stuck.known_from,
                        stuck.details)
    assert translations("en").ugettext(english.message) == english.message
    assert names_in("en").remedy(stuck) != english.english or not english.terms


def test_a_subject_is_named_as_its_kind_of_stuck_point_names_it() -> None:
    zh = names_in("zh")
    assert zh.name("subject", "system", kind="clerk_note") == zh.name("category", "system")
    assert zh.name("subject", "system", kind="cant_get_it_done") == zh.name("cause", "system")
    catalogue = Catalogue.load()
    bundle, step, milestone = next(
        (b, s.id, m) for b in catalogue.ids() for s in catalogue.default(b).steps
        for m in s.milestones)
    waited = zh.name("subject", f"step:{milestone.id}", bundle, step, "extra_wait")
    assert waited.endswith(milestone.name_zh), waited
    assert zh.name("subject", "agency_call:hrss", kind="extra_wait").endswith("人社")
