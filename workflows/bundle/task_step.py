"""A task step (kind = "task"): done by a field worker, milestone by milestone (each
recorded through record_milestone, with its own SLA and evidence), not by an agency."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any

from temporalio import workflow

from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Mechanism, StepKind, announce
from workflows.bundle.timers import promise, watch_deadline

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import local_date
    from workflows import detectors
    from workflows.definition import MilestoneSpec


async def watch_milestone(case: CaseState, step: StepState, milestone: MilestoneSpec) -> None:
    assert step.started_at is not None
    started_at = step.started_at
    due = case.deadline(started_at, milestone.sla_minutes, milestone.sla_working_days)
    missed = await watch_deadline(
        lambda: due,
        lambda: milestone.id in step.milestones_done or step.finished_at is not None,
        lambda at: f"milestone {milestone.id} of {step.spec.id} "
        f"({promise(milestone.sla_minutes, milestone.sla_working_days)}): due "
        f"{local_date(at).isoformat()}",
    )
    if missed is None:
        return
    case.emit(detectors.missed_deadline(
        case.event_base, step.spec.id, step.spec.agency, milestone=milestone.id,
        sla_minutes=milestone.sla_minutes, sla_working_days=milestone.sla_working_days,
        waited_seconds=(workflow.now() - started_at).total_seconds(),
        due_at=due, calendar=case.calendar.id,
    ))


class TaskStep(StepKind):
    def watches(self, case: CaseState, step: StepState) -> list[Coroutine[Any, Any, None]]:
        return [watch_milestone(case, step, m) for m in step.spec.milestones]

    async def perform(
        self, case: CaseState, step: StepState, chain: Sequence[Mechanism]
    ) -> bool | None:
        step.status = "awaiting_worker"
        case.set_awaiting("worker", step.spec.id)
        await workflow.wait_condition(lambda: step.milestones_complete() or case.closed())
        if case.closed():
            return case.close_step(step)
        case.take_outputs(step, {})
        step.status = "approved"
        announce(case, step, chain, "step_approved")
        return True
