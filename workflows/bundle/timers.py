"""One timer for every promise a step makes: its SLA and each milestone's.

watch_deadline waits for a deadline unless the thing is done first, and sets its timer
again when the deadline moves (a published calendar moves a working-day SLA). Deadlines
is the mechanism that watches each step's SLA; the task step watches its milestones with
the same helper.

A step past its SLA is also counted on the worker's Temporal metrics (BREACHES_METRIC,
served as `onething_sla_breaches_total{bundle,step}`), for operators' alerts; the SDK
records no metric while it replays a history.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Mechanism

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import CHINA_TZ, local_date
    from workflows import detectors

BREACHES_METRIC = "onething_sla_breaches"


async def watch_deadline(
    due: Callable[[], datetime], done: Callable[[], bool], summary: Callable[[datetime], str]
) -> datetime | None:
    """The instant the deadline passed with the thing not done, or None when it was done
    in time. `due` is read again whenever it may have moved; `summary` names the timer
    for Temporal's UI (which promise, due when)."""
    def moved_or_done(breach_at: datetime) -> Callable[[], bool]:
        return lambda: done() or due() != breach_at

    while True:
        breach_at = due()
        try:
            await workflow.wait_condition(
                moved_or_done(breach_at),
                timeout=max(breach_at - workflow.now(), timedelta(seconds=1)),
                timeout_summary=summary(breach_at),
            )
        except TimeoutError:
            return breach_at
        if done():
            return None


def promise(minutes: int, working_days: int) -> str:
    """An SLA as people say it: working days, or minutes on the clock."""
    return f"{working_days} working days" if working_days else f"{minutes} min"


def due_day(step: StepState, at: datetime) -> str:
    """The day a deadline falls due, China time: its last working day for working days."""
    if step.due_on is not None and step.due_at == at:
        return step.due_on.isoformat()
    return f"{local_date(at).isoformat()} {at.astimezone(CHINA_TZ).strftime('%H:%M')}"


def _due_at(step: StepState) -> datetime:
    assert step.due_at is not None
    return step.due_at


async def watch_sla(case: CaseState, step: StepState) -> None:
    spec = step.spec
    sla = promise(spec.sla_minutes, spec.sla_working_days)
    breach_at = await watch_deadline(
        lambda: _due_at(step), lambda: step.finished_at is not None,
        lambda at: f"SLA of {spec.id} ({spec.name_zh}, {sla}): due {due_day(step, at)}")
    if breach_at is None:
        return
    assert step.started_at is not None
    case.emit(detectors.missed_deadline(
        case.event_base, spec.id, spec.agency,
        sla_minutes=spec.sla_minutes, sla_working_days=spec.sla_working_days,
        waited_seconds=(workflow.now() - step.started_at).total_seconds(),
        due_at=breach_at, calendar=case.calendar.id,
    ))
    workflow.metric_meter().create_counter(
        BREACHES_METRIC, "Steps of bundle cases still open when their SLA ended"
    ).add(1, {"bundle": case.bundle.id, "step": spec.id})


class Deadlines(Mechanism):
    """Every step's SLA: a step still open when it ends is an extra wait."""

    def watches(self, case: CaseState, step: StepState) -> list[Coroutine[Any, Any, None]]:
        return [watch_sla(case, step)]
