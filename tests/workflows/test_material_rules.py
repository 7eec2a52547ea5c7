"""The material rules and the window's hours on the article's own dates (Hangzhou, 2017).

Mr Jiang worked in Hangzhou from April 2016, his contributions paid without a break; his
earlier months, from another city, were transferred in and listed last under a
"transferred virtual employer". Trip 1 (April 2017): refused because March was "insured
but not yet credited". Trip 2 (May): refused over the virtual employer line; the clerk
stopped near the 11:30 closing. Trip 3 (1 June): the printout was now stale and the lease
had expired. Pure functions, so every trip is judged as of its own processing date.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import msgspec
import pytest

from deploy.sim.population import (
    FAILS,
    RESIDENCE_MIX,
    generate,
    lookup_values,
    work_and_lease,
)
from kernel.china_time import CHINA_TZ
from workflows.calendar_source import load_calendar
from workflows.definition import (
    LOOKUP_SOURCES,
    Catalogue,
    DefinitionError,
    OpeningHours,
    WindowSpec,
    validate,
)
from workflows.material_rules import (
    CONTRACT_EMPLOYER,
    CONTRACT_START,
    INSURANCE_LINES,
    LEASE_END,
    LEASE_START,
    RULES,
    VIRTUAL_EMPLOYER_ZH,
    InsuranceLine,
    current_employer,
    decode_lines,
    encode_lines,
    latest_month,
    review,
)
from workflows.opening_hours import cut_off, next_opening, session_at, takes_submissions

EMPLOYER = "杭州钱江科技有限公司"
CODE = "913301000000000001"
TRIP_1 = date(2017, 4, 17)
TRIP_2 = date(2017, 5, 16)
TRIP_3 = date(2017, 6, 1)
PERMIT = Catalogue.load().default("residence-permit")
ALL_RULES = tuple((r, m.name) for m in PERMIT.steps[0].materials for r in m.rules)


def months(first: str, last: str) -> list[str]:
    y, m = (int(x) for x in first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def printout(as_of: date) -> list[InsuranceLine]:
    """The insurance record as printed on `as_of`: Hangzhou months from April 2016 up to
    the latest month, which is insured but not yet credited; the transferred months from
    the other city (April 2015 - March 2016) listed last, as the system always does."""
    latest = latest_month(as_of)
    lines = [
        InsuranceLine(month=m, employer=EMPLOYER, employer_code=CODE,
                      status="insured_not_credited" if m == latest else "credited")
        for m in months("2016-04", latest)
    ]
    lines += [
        InsuranceLine(month=m, employer=VIRTUAL_EMPLOYER_ZH, employer_code="ZY00000001",
                      status="credited", transferred_virtual=True)
        for m in months("2015-04", "2016-03")
    ]
    return lines


def facts(lines: list[InsuranceLine], lease_end: str = "2017-04-30") -> dict[str, str]:
    return {
        CONTRACT_EMPLOYER: EMPLOYER,
        CONTRACT_START: "2016-04-01",
        INSURANCE_LINES: encode_lines(lines),
        LEASE_START: "2016-05-01",
        LEASE_END: lease_end,
    }


def failing(found: tuple[object, ...]) -> list[str]:
    return [f.rule for f in found]  # type: ignore[attr-defined]


def test_trip_one_would_have_been_the_only_trip() -> None:
    # March insured but not yet credited, judged in April: within its crediting window,
    # it counts. The virtual employer line is last but is not the current employer.
    lines = printout(TRIP_1)
    assert lines[-1].employer == VIRTUAL_EMPLOYER_ZH
    assert next(ln for ln in lines if ln.month == "2017-03").status == "insured_not_credited"
    assert current_employer(lines, TRIP_1) == EMPLOYER
    assert review(ALL_RULES, facts(lines), TRIP_1) == ()


def test_trip_two_had_one_real_deficiency_and_it_was_not_the_virtual_line() -> None:
    found = review(ALL_RULES, facts(printout(TRIP_2)), TRIP_2)
    assert failing(found) == ["lease_valid_on_processing_date"]
    assert found[0].material == "lease"
    assert "2017-04-30" in found[0].message_zh


def test_trip_three_names_the_stale_printout_and_the_lease_together() -> None:
    # The printout made on trip 2 lacks May, which 1 June requires, and still shows April
    # as not yet credited, past its window by June: everything is named at once. Read
    # afresh on 1 June, the record is fine and only the lease is not.
    stale = review(ALL_RULES, facts(printout(TRIP_2)), TRIP_3)
    assert failing(stale) == ["insurance_covers_12_months", "insurance_includes_latest_month",
                              "lease_valid_on_processing_date"]
    assert "2017-04" in stale[0].message_zh and "2017-05" in stale[1].message_zh
    fresh = review(ALL_RULES, facts(printout(TRIP_3)), TRIP_3)
    assert failing(fresh) == ["lease_valid_on_processing_date"]
    renewed = review(ALL_RULES, facts(printout(TRIP_3), lease_end="2018-04-30"), TRIP_3)
    assert renewed == ()


def test_insured_but_not_credited_counts_only_within_its_crediting_window() -> None:
    # March still not credited on 16 May is an arrear: it no longer counts.
    lines = [
        msgspec.structs.replace(ln, status="insured_not_credited") if ln.month == "2017-03"
        else ln
        for ln in printout(TRIP_2)
    ]
    found = review(ALL_RULES, facts(lines, lease_end="2018-04-30"), TRIP_2)
    assert failing(found) == ["insurance_covers_12_months"]
    assert "2017-03" in found[0].message_zh


def test_the_current_employer_is_found_by_month_never_by_position() -> None:
    lines = printout(TRIP_2)
    # Even if a system marked nothing as virtual, the latest month decides.
    unmarked = [msgspec.structs.replace(ln, transferred_virtual=False) for ln in lines]
    assert current_employer(unmarked, TRIP_2) == EMPLOYER
    other = {**facts(lines, lease_end="2018-04-30"), CONTRACT_EMPLOYER: "另一家公司"}
    assert "insurance_matches_contract_employer" in failing(review(ALL_RULES, other, TRIP_2))


def test_a_contract_short_of_a_year_or_ended_fails_as_of_the_processing_date() -> None:
    rule = (("contract_covers_12_months", "labour_contract"),)
    assert review(rule, {CONTRACT_START: "2016-04-20"}, TRIP_1)
    assert review(rule, {CONTRACT_START: "2016-04-20"}, TRIP_2) == ()
    ended = {CONTRACT_START: "2015-01-01", "employment.contract_end": "2017-05-01"}
    assert "2017-05-01" in review(rule, ended, TRIP_2)[0].message_zh
    # Without the facts a rule says nothing: the notice asks for the field or material.
    assert review(ALL_RULES, {}, TRIP_2) == ()


def test_every_rule_is_stated_in_both_languages_and_lines_round_trip() -> None:
    for rule in RULES.values():
        assert rule.wording_zh and rule.wording_en and rule.reads
    assert "已参保未到账" in RULES["insurance_covers_12_months"].wording_zh
    lines = printout(TRIP_3)
    assert decode_lines(encode_lines(lines)) == lines
    assert decode_lines("not json") is None


def test_the_population_holds_the_records_the_rules_read() -> None:
    today = date(2026, 4, 2)
    people = generate(seed=5, size=120, today=today)
    assert people == generate(seed=5, size=120, today=today)
    with_lease = [p for p in people if p.lease_end is not None]
    assert 0.8 < len(with_lease) / len(people) < 0.95
    assert any(p.lease_end < today.isoformat() for p in with_lease)  # type: ignore[operator]
    virtual = 0
    for p in people:
        for source in ("employment_contract", "insurance_lines", "lease"):
            values = lookup_values(p, source)
            assert values is None or set(values) <= set(LOOKUP_SOURCES[source])
        lines = decode_lines(p.insurance_lines or "")
        assert lines
        assert lines[0].employer == p.last_employer
        assert max(ln.month for ln in lines if not ln.transferred_virtual) == (
            p.last_contribution_month
        )
        if lines[-1].transferred_virtual:
            virtual += 1
            assert all(ln.month < lines[0].month for ln in lines if ln.transferred_virtual)
    assert virtual > 10
    jiang = work_and_lease(
        people[0], contract_start=date(2025, 1, 1), contract_end=None, employer_code=CODE,
        latest_insured_not_credited=True, transferred_months=3, lease=None,
    )
    assert lookup_values(jiang, "lease") is None
    assert "employment.contract_end" not in (lookup_values(jiang, "employment_contract") or {})


@pytest.mark.parametrize("today", [
    date(2026, 12, 7), date(2026, 12, 31), date(2027, 1, 1), date(2027, 2, 7),  # Spring Festival
    date(2028, 2, 29), date(2027, 3, 31), date(2030, 7, 1),
])
def test_the_population_fails_the_rules_its_standing_says_on_any_processing_date(
    today: date,
) -> None:
    """Who fails the residence-permit rules, and which, is the population's design
    (RESIDENCE_MIX), whatever day it is generated and judged on."""
    people = generate(seed=9, size=400, today=today)
    standings = Counter(p.residence_standing for p in people)
    assert set(standings) == set(RESIDENCE_MIX)
    for standing, share in RESIDENCE_MIX.items():
        assert abs(standings[standing] / len(people) - share) < 0.06, standing
    for p in people:
        facts: dict[str, str] = {}
        for source in ("employment_contract", "insurance_lines", "lease"):
            facts.update(lookup_values(p, source) or {})
        failed = {f.rule for f in review(ALL_RULES, facts, today)}
        assert p.residence_standing is not None
        expected = FAILS[p.residence_standing]
        if p.residence_standing == "left_job":
            assert expected <= failed, (p.residence_standing, failed)
        else:
            assert failed == expected, (p.residence_standing, failed)


# -- the definition ------------------------------------------------------------------------


def test_the_definition_names_only_known_rules_and_sane_hours() -> None:
    step = PERMIT.steps[0]
    assert PERMIT.window is not None and PERMIT.window.run_by == step.agency == "public-security"
    assert {r for r, _ in ALL_RULES} == set(RULES)
    bad_rule = msgspec.structs.replace(
        step, materials=(msgspec.structs.replace(step.materials[1], rules=("vibes",)),))
    with pytest.raises(DefinitionError, match="unknown rule 'vibes'"):
        validate(msgspec.structs.replace(PERMIT, steps=(bad_rule,)))
    blind = msgspec.structs.replace(PERMIT, lookups=(), steps=(msgspec.structs.replace(
        step, fields=()),))
    with pytest.raises(DefinitionError, match="reads nothing"):
        validate(blind)
    for hours, margin, message in (
        ((), 15, "at least one"),
        ((OpeningHours(opens=time(12), closes=time(9)),), 15, "opens before it closes"),
        ((OpeningHours(opens=time(13), closes=time(17)),
          OpeningHours(opens=time(9), closes=time(11))), 15, "in order"),
        ((OpeningHours(opens=time(9), closes=time(9, 10)),), 15, "shorter than the period"),
    ):
        window = WindowSpec(run_by="public-security", hours=hours, closing_margin_minutes=margin)
        with pytest.raises(DefinitionError, match=message):
            validate(msgspec.structs.replace(PERMIT, window=window))


# -- the window's hours --------------------------------------------------------------------


def china(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA_TZ).astimezone(UTC)


def test_the_window_takes_submissions_until_its_closing_margin() -> None:
    assert PERMIT.window is not None
    window, calendar = PERMIT.window, load_calendar()
    monday = date(2026, 3, 16)
    assert takes_submissions(window, calendar, china(monday, 11, 10))
    # 11:15 on trip 2: within 15 minutes of the 11:30 closing.
    at = china(monday, 11, 15)
    assert cut_off(window, calendar, at) and not takes_submissions(window, calendar, at)
    session = session_at(window, calendar, at)
    assert session is not None and session.closes == china(monday, 11, 30)
    assert next_opening(window, calendar, at) == china(monday, 13, 30)
    assert not cut_off(window, calendar, china(monday, 12, 0))  # lunch: closed, no cut-off
    friday = date(2026, 3, 20)
    assert next_opening(window, calendar, china(friday, 16, 50)) == china(monday + timedelta(7), 9)
    # The Labour Day holiday of the 2026 calendar: no opening until it ends.
    assert next_opening(window, calendar, china(date(2026, 4, 30), 17, 0)).date() > date(
        2026, 5, 1)
