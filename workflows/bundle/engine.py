"""The step engine: runs one step through its chain of mechanisms.

STEP_KINDS says how a step of each kind gets done; MECHANISMS are the bundle's other
mechanisms, each in its own module, in the order their hooks are called (mechanism.py
says when). A new mechanism is a module with a Mechanism subclass and an entry here;
README.md ("How a step mechanism works") walks through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from temporalio import workflow

from workflows.bundle.agency_step import AgencyStep
from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Mechanism, StepKind
from workflows.bundle.notify import Notifications
from workflows.bundle.rules import MaterialRules
from workflows.bundle.task_step import TaskStep
from workflows.bundle.timers import Deadlines
from workflows.bundle.window import ServiceWindow

STEP_KINDS: Mapping[str, StepKind] = {"agency": AgencyStep(), "task": TaskStep()}
# The order is the history's: the SLA's timer before a task's milestones' and the
# window's; the rules' review before the step's first notification.
DEADLINES = Deadlines()
MECHANISMS: tuple[Mechanism, ...] = (MaterialRules(), ServiceWindow(), Notifications())


def chain_of(step: StepState) -> tuple[StepKind, tuple[Mechanism, ...]]:
    kind = STEP_KINDS[step.spec.kind]
    return kind, (DEADLINES, kind, *MECHANISMS)


async def await_clerk(case: CaseState, step: StepState, chain: Sequence[Mechanism]) -> None:
    """Wait for the clerk to complete the step; each return visit is told to the chain."""
    while True:
        step.recheck = False
        await workflow.wait_condition(lambda: step.ready() or step.recheck or case.closed())
        if step.ready() or case.closed():
            return
        for mechanism in chain:
            await mechanism.returned(case, step)


async def run_step(case: CaseState, step: StepState) -> bool:
    """Run one step to approval; False when it cannot be done."""
    spec = step.spec
    if spec.when is not None and not case.holds(spec.when):
        step.status = "skipped"  # the case's answers chose another path
        return True
    kind, chain = chain_of(step)
    case.current = step
    step.started_at = workflow.now()
    case.set_due(step)
    watches = [asyncio.create_task(w) for m in chain for w in m.watches(case, step)]
    case.served_at = step.started_at
    case.prefill(step)
    for mechanism in chain:
        mechanism.started(case, step)
    try:
        while True:
            if not step.ready():
                step.status = "awaiting_clerk"
                case.set_awaiting("clerk", spec.id)
                await await_clerk(case, step, chain)
                if case.closed():
                    return case.close_step(step)
            done = await kind.perform(case, step, chain)
            if done is not None:
                return done
    finally:
        step.finished_at = workflow.now()
        await asyncio.gather(*watches)
