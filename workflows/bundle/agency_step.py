"""An agency step (kind = "agency", the default): the clerk's form and materials go to
the agency, which approves or rejects; a rejection goes back to the clerk with every
reason at once, and after MAX_REJECTIONS the case goes to the can't-get-it-done
register."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.bundle import rules
from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Mechanism, StepKind, announce, gates_pass
from workflows.bundle.outage import agency_call

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import local_date
    from workflows import detectors, material_rules, ports
    from workflows.cant_get_it_done import register_from_bundle
    from workflows.case import Failure, Rejection

MAX_REJECTIONS = 3  # after this many, the case goes to the can't-get-it-done register
FIRST_POLL = timedelta(seconds=5)
LONGEST_POLL = timedelta(hours=1)


async def submit(case: CaseState, step: StepState) -> ports.AgencyDecision:
    spec = step.spec
    step.status = "awaiting_agency"
    case.set_awaiting("agency", spec.id)
    step.submitted_form = dict(step.values)
    step.submitted_facts.append((local_date(workflow.now()), case.facts(step)))
    submission = ports.Submission(
        case_id=case.start.case_id,
        step=spec.id,
        agency=spec.agency,
        round=step.round,
        form=step.submitted_form,
        materials={
            name: ("ecert" if status == "held_ecert" else "paper")
            for name, status in step.materials.items()
        },
        outputs=tuple(o.concept for o in spec.outputs),
    )
    decision = await agency_call(
        case, step, spec.agency, ports.SUBMIT_STEP, submission, ports.AgencyDecision,
        f"{spec.agency}: submit {spec.id} ({spec.name_zh}), round {step.round + 1}")
    case.emit(detectors.slow_agency_call(
        case.event_base, spec.id, spec.agency, spec.agency_call_sla_seconds,
        decision.elapsed_seconds, case.attended(),
    ))
    interval = FIRST_POLL
    while decision.status == "pending":
        await workflow.sleep(interval, summary=f"{spec.agency}: ask again for its decision "
                             f"on {spec.id}")
        interval = min(interval * 2, LONGEST_POLL)
        decision = await agency_call(
            case, step, spec.agency, ports.POLL_DECISION,
            ports.PollRequest(agency=spec.agency, receipt=decision.receipt),
            ports.AgencyDecision, f"{spec.agency}: decision on {spec.id} ({spec.name_zh})?",
        )
    return decision


def take_rejection(case: CaseState, step: StepState, reasons: tuple[Rejection, ...]) -> None:
    # A deficiency detectable at an earlier rejection should have been named then too.
    for event in detectors.piecemeal_rejections(
        case.event_base, step.spec.id, codes=[(r.code, r.field) for r in reasons],
        round_=step.round, earlier_codes=step.earlier_rejection_codes,
        submitted_form=step.submitted_form, rules=material_rules.RULES,
        rule_failed_at=lambda rule: rules.rule_failed_at(step, rule),
    ):
        case.emit(event)
    step.earlier_rejection_codes.update(r.code for r in reasons)
    step.rejections = reasons
    step.round += 1
    step.status = "rejected"
    fixable = False
    for r in reasons:
        if r.field and r.field in step.values:
            del step.values[r.field]
            step.sources.pop(r.field, None)
            fixable = True
        if r.material and r.material in step.materials:
            step.materials[r.material] = "missing"
            fixable = True
    # Nothing the clerk can retype: wait for the clerk to resubmit after dealing with it.
    step.awaiting_resubmit = not fixable


class AgencyStep(StepKind):
    def watches(self, case: CaseState, step: StepState) -> list[Coroutine[Any, Any, None]]:
        return []

    async def perform(
        self, case: CaseState, step: StepState, chain: Sequence[Mechanism]
    ) -> bool | None:
        spec = step.spec
        if not await gates_pass(case, step, chain):
            return None  # back to the clerk with every finding at once
        decision = await submit(case, step)
        if decision.status == "approved":
            case.take_outputs(step, decision.outputs)
            step.status = "approved"
            announce(case, step, chain, "step_approved")
            return True
        announce(case, step, chain, "step_rejected")
        take_rejection(case, step, decision.reasons)
        if step.round < MAX_REJECTIONS:
            return None
        step.status = "rejected"
        case.failure = Failure(cause="rejected_too_often", step=spec.id, agency=spec.agency,
                               at=workflow.now())
        if workflow.patched("register-cant-get-it-done"):
            # The register's own workflow records this friction (cgid/<case>).
            await register_from_bundle(case.start, step=spec.id, department=spec.agency)
        else:
            case.emit(detectors.rejected_too_often(case.event_base, spec.id, spec.agency))
        return False
