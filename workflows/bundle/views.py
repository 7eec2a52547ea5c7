"""What a case shows: its progress (the query every console, page and API call reads) and
the record the notebook counts it by."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.bundle.case_state import CaseState, StepState

with workflow.unsafe.imports_passed_through():
    from kernel.china_time import local_date
    from kernel.events import CaseRecord, StepRecord
    from workflows.case import CaseProgress, FieldView, MaterialView, MilestoneView, StepView


def progress(case: CaseState) -> CaseProgress:
    approved = [s for s in case.steps if s.status == "approved"]
    return CaseProgress(
        case_id=case.start.case_id,
        bundle=case.bundle.id,
        bundle_version=case.bundle.version,
        status=case.status,  # type: ignore[arg-type]
        current_step=case.current.spec.id if case.current else None,
        awaiting=case.awaiting,
        trips=case.trips,
        steps=tuple(step_view(case, s) for s in case.steps),
        outstanding=case.outstanding(),
        friction=tuple(case.friction),
        dossier=dict(case.dossier),
        fields_total=sum(len(s.spec.fields) for s in approved),
        fields_prefilled=sum(len(s.prefilled) for s in approved),
        notifications=tuple(case.notifications),
        closure=case.closure,
        centre=case.start.centre,
        served_elsewhere=tuple(case.served_elsewhere),
        trip_records=tuple(case.trip_records),
    )


def step_view(case: CaseState, step: StepState) -> StepView:
    spec = step.spec
    done = step.milestones_done
    return StepView(
        id=spec.id,
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        agency=spec.agency,
        status=step.status,
        awaiting=case.awaiting if step is case.current else "nobody",
        round=step.round,
        fields=tuple(
            FieldView(
                name=f.name,
                label_zh=f.label_zh,
                label_en=f.label_en,
                type=f.type,
                options=f.options,
                concept=f.concept,
                value=step.values.get(f.name),
                prefilled=f.name in step.sources,
                source=step.sources.get(f.name),
            )
            for f in spec.fields
        ),
        materials=tuple(
            MaterialView(
                name=m.name,
                label_zh=m.label_zh,
                label_en=m.label_en,
                status=step.materials[m.name],  # type: ignore[arg-type]
                ecert=m.ecert if m.ecert in case.certificates else None,
            )
            for m in spec.materials
        ),
        missing_fields=tuple(step.missing_fields()),
        missing_materials=tuple(step.missing_materials()),
        rejections=step.rejections,
        started_at=step.started_at,
        due_on=step.due_on,
        finished_at=step.finished_at,
        kind=spec.kind,
        due_at=step.due_at,
        milestones=tuple(
            MilestoneView(
                id=m.id,
                name_zh=m.name_zh,
                name_en=m.name_en,
                evidence=m.evidence,
                due_at=case.deadline(step.started_at, m.sla_minutes, m.sla_working_days)
                if step.started_at
                else None,
                done_at=done[m.id][0] if m.id in done else None,
                actor=done[m.id][1] if m.id in done else None,
                evidence_ref=done[m.id][2] if m.id in done else None,
            )
            for m in spec.milestones
        ),
        findings=step.findings,
        held_until=step.held_until,
        due_provisional=step.due_provisional,
    )


def case_record(case: CaseState, opened: datetime, now: datetime) -> CaseRecord:
    calendar = case.calendar
    closed = None if case.status == "open" else now
    steps = tuple(
        StepRecord(
            step=s.spec.id,
            status=s.status,
            started_at=s.started_at,
            finished_at=s.finished_at,
            working_days=calendar.working_days_between(
                local_date(s.started_at), local_date(s.finished_at)
            )
            if s.started_at and s.finished_at
            else None,
            rounds=s.round + (1 if s.status == "approved" else 0),
            fields_total=len(s.spec.fields),
            fields_prefilled=len(s.prefilled),
        )
        for s in case.steps
        if s.started_at is not None
    )
    done = [s for s in case.steps if s.status == "approved"]
    return CaseRecord(
        case_id=case.start.case_id,
        bundle=case.bundle.id,
        bundle_version=case.bundle.version,
        centre=case.start.centre,
        channel=case.start.channel,
        status=case.status,  # type: ignore[arg-type]
        opened_at=opened,
        closed_at=closed,
        trips=case.trips,
        fields_total=sum(len(s.spec.fields) for s in done),
        fields_prefilled=sum(len(s.prefilled) for s in done),
        working_days=calendar.working_days_between(local_date(opened), local_date(now))
        if closed
        else None,
        clerk_minutes=sum(s.spec.clerk_minutes for s in done) + case.typing_seconds / 60,
        steps=steps,
    )
