"""What each wait costs in the burden table: the ranking of the backlog depends on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from friction.burden import burden_of
from kernel.events import ExtraWait

AT = datetime(2026, 3, 3, 3, 20, tzinfo=UTC)  # 11:20 China time


def wait(**fields: object) -> ExtraWait:
    return ExtraWait(event_id="C1/1", occurred_at=AT, case_id="C1", bundle="b", step="s",
                     **fields)  # type: ignore[arg-type]


def test_a_review_cut_off_by_closing_time_costs_the_citizen_a_wasted_visit() -> None:
    citizen, clerk = burden_of(wait(scope="queue", due_at=AT + timedelta(minutes=10),
                                    actual_seconds=8 * 3600))
    assert (citizen, clerk) == (30.0, 0.0)


def test_a_register_case_past_its_deadline_costs_more_each_working_day_late() -> None:
    on_time = burden_of(wait(scope="queue", sla_working_days=5, due_at=AT))
    late = burden_of(wait(scope="queue", sla_working_days=5, due_at=AT - timedelta(days=3)))
    assert on_time[0] == 30.0
    assert late[0] > on_time[0]
