"""The one small interface between the step engine and a step mechanism.

A step runs through a chain of mechanisms: its deadlines, its kind (how it is done: by
an agency, by a field worker), then the bundle's other mechanisms (material rules, the
service window, notifications), in the order engine.MECHANISMS lists them. The engine
calls each hook of each mechanism at its moment, in that order; every hook does nothing
unless a mechanism needs it. A hook that starts a timer or an activity adds commands to
the history: keep a bundle that does not use a mechanism free of its commands, so older
histories replay command for command.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, Literal

from workflows.bundle.case_state import CaseState, StepState

# What a mechanism says before a submission: go on, back to the clerk (with everything
# it found at once), or look again from the first mechanism (the case waited meanwhile).
Gate = Literal["pass", "back", "again"]
# What the citizen hears of, by the step's outcome (see notify.NOTICE_TEXT).
Outcome = Literal["step_approved", "step_rejected"]


class Mechanism:
    def watches(self, case: CaseState, step: StepState) -> list[Coroutine[Any, Any, None]]:
        """Watches that run while the step is open (each ends once step.finished_at is set)."""
        return []

    def started(self, case: CaseState, step: StepState) -> None:
        """The step has started and its form is prefilled."""

    async def returned(self, case: CaseState, step: StepState) -> None:
        """The citizen came back while the step waits on the clerk (record_trip)."""

    async def before_submit(self, case: CaseState, step: StepState) -> Gate:
        """Before the step goes to its agency."""
        return "pass"

    def finished(self, case: CaseState, step: StepState, outcome: Outcome) -> None:
        """The agency (or the field worker) has approved or rejected the step."""


class StepKind(Mechanism):
    """How a step of one `kind` (definition.StepKind) gets done once the clerk has what
    it needs."""

    async def perform(
        self, case: CaseState, step: StepState, chain: Sequence[Mechanism]
    ) -> bool | None:
        """True: approved; False: the step cannot be done (the case ends); None: back to
        the clerk."""
        raise NotImplementedError


async def gates_pass(case: CaseState, step: StepState, chain: Sequence[Mechanism]) -> bool:
    """Every mechanism's say before a submission; False: back to the clerk."""
    while True:
        for mechanism in chain:
            gate = await mechanism.before_submit(case, step)
            if gate == "back":
                return False
            if gate == "again":
                break
        else:
            return True


def announce(case: CaseState, step: StepState, chain: Sequence[Mechanism],
             outcome: Outcome) -> None:
    for mechanism in chain:
        mechanism.finished(case, step, outcome)
