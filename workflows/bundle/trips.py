"""Return trips: at most one a China-local day unless the clerk says the citizen came
again that day, with reasons drawn from the case itself.

Checked in the workflow, by workflow time, so the limits hold whichever door a trip
comes in by (API, console, a script on the client). Validators do not run when a
history replays, and the day counted is state only (no command), so histories recorded
before these limits replay as they were.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.bundle.case_state import CaseState, invalid

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import local_date
    from kernel.privacy import has_personal_value
    from workflows.case import (
        GENERAL_TRIP_REASONS,
        MAX_AGAIN_TODAY_REASON_CHARS,
        MAX_TRIP_REASON_CHARS,
        MAX_TRIP_REASONS,
        MAX_TRIPS_A_DAY,
        TripEntry,
    )
    from workflows.fields import N_


def today() -> date:
    """The China-local day of the workflow's now."""
    return local_date(workflow.now())


def trips_on(case: CaseState, day: date) -> int:
    """Return trips recorded on the case on `day`."""
    return case.trips_that_day if case.trip_day == day else 0


def count_trip(case: CaseState, today: date) -> None:
    if case.trip_day != today:
        case.trip_day, case.trips_that_day = today, 0
    case.trips_that_day += 1


def reasons_allowed(case: CaseState) -> set[str]:
    """What a trip may give as its reasons: what the case lacks now or lacked at its first
    notice, any field or material of its definition, or a general reason."""
    allowed = set(case.outstanding()) | set(case.outstanding_at_first_trip)
    for step in case.bundle.steps:
        allowed.update(f"field:{step.id}.{f.name}" for f in step.fields)
        allowed.update(f"material:{step.id}.{m.name}" for m in step.materials)
    allowed.update(GENERAL_TRIP_REASONS)
    return allowed


def check_trip(case: CaseState, entry: TripEntry, today: date) -> None:
    """Refuse a trip the limits do not take: 409 (`again_today`) for another trip the same
    day not stated as such or past the day's limit, 422 naming the field otherwise."""
    if len(entry.reasons) > MAX_TRIP_REASONS:
        raise invalid("reasons", f"at most {MAX_TRIP_REASONS} reasons")
    allowed = reasons_allowed(case)
    for reason in entry.reasons:
        if len(reason) > MAX_TRIP_REASON_CHARS or reason not in allowed:
            raise invalid(
                "reasons", f"{reason[:MAX_TRIP_REASON_CHARS]!r} is not an item of this case: "
                "name what its notice lists (field:, material:, rule:, rejection:) or one of "
                + ", ".join(GENERAL_TRIP_REASONS))
    said = (entry.again_today_reason or "").strip()
    if entry.again_today:
        if not said or len(said) > MAX_AGAIN_TODAY_REASON_CHARS:
            raise invalid("again_today_reason", "say in 1-"
                          f"{MAX_AGAIN_TODAY_REASON_CHARS} characters why the citizen came "
                          "again today")
        if has_personal_value(said):
            raise invalid("again_today_reason",
                          N_("no ID or mobile numbers: refer to the case"))
    elif entry.again_today_reason is not None:
        raise invalid("again_today_reason", "only with again_today")
    already = trips_on(case, today)
    if already >= MAX_TRIPS_A_DAY:
        raise _day_full(f"{already} return trips are recorded today already, the most a "
                        "day takes")
    if already and not entry.again_today:
        raise _day_full(N_("a return trip is recorded today already; if the citizen came "
                           "again, say so (again_today with again_today_reason)"))


def _day_full(problem: str) -> ApplicationError:
    return ApplicationError(f"again_today: {problem}", {"field": "again_today"},
                            type="TripRecordedToday")
