from pathlib import Path

import msgspec
import pytest

from workflows.definition import (
    BUNDLES_DIR,
    Catalogue,
    DefinitionError,
    load_definition,
)

GOOD = (BUNDLES_DIR / "employment_hardship.v1.toml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "b.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_employment_bundle_loads_with_the_insurance_form_unlinked() -> None:
    d = Catalogue.load().default("employment-hardship")
    assert [s.id for s in d.steps] == [
        "unemployment-registration",
        "hardship-certification",
        "flexible-insurance-enrollment",
        "subsidy-claim",
    ]
    form = d.step("flexible-insurance-enrollment")
    known = [f for f in form.fields if f.concept and f.concept.startswith(("identity", "bank"))]
    assert known and not any(f.prefill for f in known)
    assert all(f.prefill for f in d.step("subsidy-claim").fields)


def test_definition_round_trips_through_json_as_a_case_input() -> None:
    d = Catalogue.load().default("employment-hardship")
    assert msgspec.json.decode(msgspec.json.encode(d), type=type(d)) == d


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('source = "identity"', 'source = "horoscope"'), "unknown source"),
        (lambda t: t.replace("sla_working_days = 5", "sla_working_days = 0"), "sla_working_days"),
        (lambda t: t.replace('type = "enum", options = ["男", "女"]', 'type = "enum"'), "options"),
        (lambda t: t.replace('concept = "identity.gender"', 'concept = "Gender!"'), "concept"),
        (lambda t: t.replace('id = "subsidy-claim"', 'id = "hardship-certification"'), "duplicate"),
        (lambda t: t.replace("version = 1", 'version = "one"'), "version"),
        (lambda t: t.replace("give_up_after_working_days = 5", "give_up_after_working_days = 0"),
         "outage.give_up_after_working_days"),
        (lambda t: t.replace("escalate_after_hours = 4", "escalate_after_hours = 0.1"),
         "outage.escalate_after_hours"),
        (lambda t: t.replace("escalate_after_hours = 4", "escalate_after_hours = 200"),
         "outage.escalate_after_hours"),
        (lambda t: t.replace("escalate_after_hours = 4", "escalate_after_hours = \"soon\""),
         "outage"),
    ],
)
def test_bad_definitions_are_refused_naming_the_place(
    tmp_path: Path, edit: object, message: str
) -> None:
    text = edit(GOOD)  # type: ignore[operator]
    assert text != GOOD
    with pytest.raises(DefinitionError, match=message) as err:
        load_definition(write(tmp_path, text))
    assert "b.toml" in str(err.value)


def test_a_bundle_without_an_outage_policy_gets_the_default(tmp_path: Path) -> None:
    plain = GOOD.replace(
        "outage = { escalate_after_hours = 4, give_up_after_working_days = 5 }", "")
    assert plain != GOOD
    policy = load_definition(write(tmp_path, plain)).outage
    assert (policy.escalate_after_hours, policy.give_up_after_working_days) == (4.0, 5)
    medical = Catalogue.load().default("medical-insurance-enrollment").outage
    assert (medical.escalate_after_hours, medical.give_up_after_working_days) == (2.0, 3)


def test_catalogue_gives_new_cases_the_pinned_or_newest_version(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "v1.toml")
    write(tmp_path, GOOD.replace("version = 1", "version = 2"), "v2.toml")
    catalogue = Catalogue.load(tmp_path)
    assert catalogue.default("employment-hardship").version == 2
    assert catalogue.get("employment-hardship", 1).version == 1
    write(tmp_path, "[defaults]\nemployment-hardship = 1\n", "catalogue.toml")
    assert Catalogue.load(tmp_path).default("employment-hardship").version == 1
    write(tmp_path, "[defaults]\nemployment-hardship = 7\n", "catalogue.toml")
    with pytest.raises(DefinitionError, match="names no definition"):
        Catalogue.load(tmp_path)


def test_version_two_links_the_insurance_form_to_the_dossier() -> None:
    catalogue = Catalogue.load()
    assert catalogue.versions("employment-hardship") == [1, 2]
    assert catalogue.default("employment-hardship").version == 1
    form = catalogue.get("employment-hardship", 2).step("flexible-insurance-enrollment")
    assert all(f.prefill for f in form.fields)
