"""The limits on return trips, judged on a case's state for a given China-local day: one
trip a day unless the clerk says the citizen came again, never more than the day's most,
and reasons that are the case's own. The workflow applies these in record_trip's
validator by workflow time (tests/gateway/test_forged_friction.py goes through it)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import bundle_start
from temporalio.exceptions import ApplicationError

from deploy.sim.population import Citizen
from workflows.bundle.case_state import CaseState
from workflows.bundle.trips import check_trip, count_trip, trips_on
from workflows.case import MAX_TRIP_REASONS, MAX_TRIPS_A_DAY, TripEntry
from workflows.definition import Catalogue

DAY = date(2026, 12, 7)
MATERIAL = "material:unemployment-registration.household_register"


@pytest.fixture
def case(population: list[Citizen]) -> CaseState:
    definition = Catalogue.load().default("employment-hardship")
    return CaseState(bundle_start(definition, population[0]))


def refusal(case: CaseState, entry: TripEntry, day: date = DAY) -> tuple[str, str]:
    """(the ApplicationError's type, the field it names) for a trip the rules refuse."""
    with pytest.raises(ApplicationError) as err:
        check_trip(case, entry, day)
    details = err.value.details[0]
    assert isinstance(details, dict)
    return str(err.value.type), str(details["field"])


def record(case: CaseState, entry: TripEntry, day: date = DAY) -> None:
    check_trip(case, entry, day)
    count_trip(case, day)


def test_a_second_trip_the_same_day_needs_the_clerk_to_say_so(case: CaseState) -> None:
    record(case, TripEntry(reasons=(MATERIAL,)))
    assert refusal(case, TripEntry(reasons=(MATERIAL,))) == ("TripRecordedToday", "again_today")
    # Saying so takes a reason, and one without personal values.
    assert refusal(case, TripEntry(again_today=True)) == ("InvalidField", "again_today_reason")
    assert refusal(case, TripEntry(again_today=True, again_today_reason="电话13912345678")) \
        == ("InvalidField", "again_today_reason")
    assert refusal(case, TripEntry(again_today_reason="forgot")) == \
        ("InvalidField", "again_today_reason")
    said = TripEntry(again_today=True, again_today_reason="went home for the booklet")
    for _ in range(MAX_TRIPS_A_DAY - 1):
        record(case, said)
    assert trips_on(case, DAY) == MAX_TRIPS_A_DAY
    # The day's most, however it is stated.
    assert refusal(case, said) == ("TripRecordedToday", "again_today")
    # The next China-local day is a new visit.
    tomorrow = DAY + timedelta(days=1)
    assert trips_on(case, tomorrow) == 0
    record(case, TripEntry(reasons=(MATERIAL,)), tomorrow)
    assert trips_on(case, tomorrow) == 1


def test_reasons_are_the_case_own_items_or_a_general_one(case: CaseState) -> None:
    case.outstanding_at_first_trip = case.outstanding()
    assert MATERIAL in case.outstanding_at_first_trip
    check_trip(case, TripEntry(reasons=(MATERIAL, "consultation",
                                        "field:flexible-insurance-enrollment.bank_account")), DAY)
    for garbage in ("made-up", "material:no-such-step.x", "x" * 500):
        assert refusal(case, TripEntry(reasons=(garbage,))) == ("InvalidField", "reasons")
    assert refusal(case, TripEntry(reasons=("other",) * (MAX_TRIP_REASONS + 1))) == \
        ("InvalidField", "reasons")
