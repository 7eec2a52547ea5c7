"""Material rules: every rule of a step's materials judged at once, as of the processing
date, into the one-time notice; records read afresh on the day they are judged.

Only steps whose materials name rules reach the look-ups below, so the histories of
bundles without them replay command for command.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Gate, Mechanism
from workflows.bundle.outage import look_up

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import local_date
    from workflows import material_rules
    from workflows.definition import LOOKUP_SOURCES


def review(case: CaseState, step: StepState) -> None:
    """Every rule of the step's materials at once, as of today's processing date."""
    if step.rules():
        step.findings = material_rules.review(
            step.rules(), case.facts(step), local_date(workflow.now())
        )


def rule_failed_at(step: StepState, rule: str) -> int | None:
    """The first earlier round whose submitted facts failed `rule` as of its day."""
    for round_, (day, facts) in enumerate(step.submitted_facts[: step.round]):
        if material_rules.check(rule, facts, day) is not None:
            return round_
    return None


async def refresh_records(case: CaseState, step: StepState) -> None:
    """Read again the records the step's rules judge when they were read on an earlier
    day: a record is judged as of the processing date, so the case reads it afresh
    instead of asking the citizen for a new printout."""
    today = local_date(workflow.now())
    reads = {c for rule, _ in step.rules() for c in material_rules.RULES[rule].reads}
    stale = tuple(
        lk
        for lk in case.bundle.lookups
        if reads & set(LOOKUP_SOURCES.get(lk.source, ()))
        and case.looked_up_on.get(lk.source, today) < today
    )
    if not stale:
        return
    await look_up(case, stale)
    for f in step.spec.fields:  # prefilled values the clerk has not corrected
        if f.name in step.sources and f.concept in case.dossier:
            entry = case.dossier[f.concept]
            step.values[f.name] = entry.value
            step.sources[f.name] = entry.source


def failed_rules(step: StepState) -> tuple[material_rules.Finding, ...]:
    """What makes the case not eligible: the rules failing at the last review, or the
    rules an agency named when it returned the application."""
    if step.findings:
        return step.findings
    return tuple(
        material_rules.Finding(
            rule=r.code, message_zh=r.message_zh, message_en=r.message_en,
            material=r.material,
        )
        for r in step.rejections
        if r.code in material_rules.RULES
    )


class MaterialRules(Mechanism):
    def started(self, case: CaseState, step: StepState) -> None:
        review(case, step)

    async def returned(self, case: CaseState, step: StepState) -> None:
        """A return visit: judged again as of its day, on records read that day."""
        if step.rules():
            await refresh_records(case, step)
            review(case, step)

    async def before_submit(self, case: CaseState, step: StepState) -> Gate:
        if not step.rules():
            return "pass"
        await refresh_records(case, step)
        review(case, step)
        return "back" if step.findings else "pass"
