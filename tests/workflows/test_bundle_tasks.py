"""Task steps with milestones on the clock, steps chosen by the case's answers, and the
citizen's notifications: the mechanisms the service bundles beyond agencies run on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    running_worker,
    time_skipping_calendar,
    wait_for,
)
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.events import ExtraWait
from workflows.bundle import BundleWorkflow
from workflows.case import (
    RECORD_MILESTONE,
    SUBMIT_FIELDS,
    CaseProgress,
    FieldEntry,
    MilestoneEntry,
)
from workflows.definition import (
    BundleDefinition,
    Catalogue,
    Condition,
    DefinitionError,
    FieldSpec,
    MilestoneSpec,
    StepSpec,
    validate,
)

URGENCY = FieldSpec(name="urgency", label_zh="紧急程度", label_en="Urgency", type="enum",
                    options=("urgent", "general"), concept="repair.urgency")


def repair_like() -> BundleDefinition:
    """Intake (the clerk types the urgency), then one of two task steps by urgency."""
    employment = Catalogue.load().default("employment-hardship")
    known = tuple(f for f in employment.steps[0].fields if f.concept in
                  ("identity.name", "identity.id_number"))
    intake = StepSpec(
        id="intake", name_zh="受理", name_en="Intake", agency="community", kind="task",
        sla_minutes=30, fields=(*known, URGENCY), notify=True,
        milestones=(MilestoneSpec(id="dispatched", name_zh="派单", name_en="Dispatched",
                                  sla_minutes=15),),
    )
    urgent = StepSpec(
        id="urgent-repair", name_zh="紧急维修", name_en="Urgent repair", agency="community",
        kind="task", sla_minutes=120, when=Condition(concept="repair.urgency", equals="urgent"),
        notify=True,
        milestones=(
            MilestoneSpec(id="contacted", name_zh="联系", name_en="Contacted", sla_minutes=30),
            MilestoneSpec(id="on_site", name_zh="到场", name_en="On site", sla_minutes=120,
                          evidence="photo"),
        ),
    )
    general = msgspec.structs.replace(
        urgent, id="general-repair", name_zh="一般维修", name_en="General repair",
        sla_minutes=1440, when=Condition(concept="repair.urgency", equals="general"),
        milestones=(MilestoneSpec(id="contacted", name_zh="联系", name_en="Contacted",
                                  sla_minutes=1440),),
    )
    lookups = tuple(lk for lk in employment.lookups if lk.source == "identity")
    return validate(BundleDefinition(id="repair-test", version=1, name_zh="报修",
                                     name_en="Repair", lookups=lookups,
                                     steps=(intake, urgent, general)))


def test_definitions_refuse_what_a_case_would_trip_over() -> None:
    good = repair_like()
    intake = good.steps[0]
    for broken, message in (
        (msgspec.structs.replace(intake, milestones=()), "needs at least one milestone"),
        (msgspec.structs.replace(intake, sla_working_days=2), "give one SLA"),
        (msgspec.structs.replace(intake, kind="agency"), "milestones belong to task steps"),
        (msgspec.structs.replace(intake, when=Condition(concept="repair.urgency",
                                                        equals="x")), "first step always"),
    ):
        with pytest.raises(DefinitionError, match=message):
            validate(msgspec.structs.replace(good, steps=(broken, *good.steps[1:])))


async def test_the_case_takes_the_path_its_answers_choose_and_records_milestones(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    start = bundle_start(repair_like(), citizen_where(population, ecerts=True))
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        first = await wait_for(handle, lambda p: p.awaiting == "clerk")
        assert first.steps[0].missing_fields == ("urgency",)
        await handle.execute_update(
            SUBMIT_FIELDS, FieldEntry(step="intake", values={"urgency": "urgent"}),
            result_type=CaseProgress)
        await wait_for(handle, lambda p: p.awaiting == "worker")
        await handle.execute_update(
            RECORD_MILESTONE, MilestoneEntry(step="intake", milestone="dispatched",
                                             actor="网格员张"), result_type=CaseProgress)
        urgent = await wait_for(handle, lambda p: p.current_step == "urgent-repair"
                                and p.awaiting == "worker")
        # Refused before history: a milestone needing a photo without one, an unknown one.
        for entry, field in (
            (MilestoneEntry(step="urgent-repair", milestone="on_site", actor="维修工李"),
             "evidence_ref"),
            (MilestoneEntry(step="urgent-repair", milestone="fixed", actor="维修工李"),
             "milestone"),
            (MilestoneEntry(step="urgent-repair", milestone="contacted", actor=" "), "actor"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(RECORD_MILESTONE, entry, result_type=CaseProgress)
            assert refused.value.cause.details[0] == {"field": field}  # type: ignore[attr-defined]
        step = next(s for s in urgent.steps if s.id == "urgent-repair")
        assert step.due_at is not None and step.started_at is not None
        assert step.due_at - step.started_at == timedelta(minutes=120)
        assert [m.due_at - step.started_at for m in step.milestones if m.due_at] == [
            timedelta(minutes=30), timedelta(minutes=120)]
        for milestone, ref in (("contacted", None), ("on_site", "photo://repair/0001.jpg")):
            await handle.execute_update(
                RECORD_MILESTONE, MilestoneEntry(step="urgent-repair", milestone=milestone,
                                                 actor="维修工李", evidence_ref=ref),
                result_type=CaseProgress)
        final: CaseProgress = await handle.result()

    assert final.status == "completed"
    assert [s.status for s in final.steps] == ["approved", "approved", "skipped"]
    done = next(s for s in final.steps if s.id == "urgent-repair")
    on_site = next(m for m in done.milestones if m.id == "on_site")
    assert (on_site.actor, on_site.evidence_ref) == ("维修工李", "photo://repair/0001.jpg")
    assert final.outstanding == ()
    # The citizen heard of each notified step and of the end, in order, once each.
    assert [n.event for n in final.notifications] == [
        "step_started", "step_approved", "step_started", "step_approved", "case_completed"]
    assert len({n.notification_id for n in final.notifications}) == 5
    assert all(start.case_id in n.text_zh for n in final.notifications)


async def test_a_missed_milestone_is_friction_of_its_own(
    time_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    # The intake's form is filled by the records, so it waits on the worker at once: the
    # time-skipping server then lets its 15-minute and 30-minute clocks run out.
    definition = repair_like()
    intake = msgspec.structs.replace(definition.steps[0], fields=definition.steps[0].fields[:2])
    definition = msgspec.structs.replace(definition, steps=(intake, *definition.steps[1:]))
    start = bundle_start(definition, citizen_where(population, ecerts=True),
                         calendar=time_skipping_calendar())
    async with running_worker(time_env.client, agency_urls, store, task_queue):
        handle = await time_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue,
            execution_timeout=timedelta(days=2))
        for _ in range(100):
            progress = await handle.query(BundleWorkflow.progress)
            if progress.awaiting == "worker":
                break
            await asyncio.sleep(0.05)
        await time_env.sleep(timedelta(hours=1))
        for _ in range(100):
            waits = [e for e in store.events_for_case(start.case_id) if isinstance(e, ExtraWait)]
            if len(waits) == 2:
                break
            await asyncio.sleep(0.05)
        await handle.terminate()
    by_subject = {(w.milestone, w.sla_seconds) for w in waits}
    assert by_subject == {("dispatched", 900.0), (None, 1800.0)}
    milestone = next(w for w in waits if w.milestone)
    assert milestone.actual_seconds is not None and milestone.actual_seconds >= 900
