"""The employment-hardship bundle driven by a clerk's updates, on the real dev server."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta

import pytest
from conftest import (
    ServedApp,
    bundle_start,
    citizen_where,
    clerk_completes,
    running_worker,
    set_behaviour,
    wait_for,
)
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from deploy.sim.clerk import waiting_on_clerk
from deploy.sim.population import Citizen
from friction.sqlite_store import SqliteFrictionStore
from kernel.events import (
    CantGetItDone,
    ManualReentry,
    PhysicalMaterialRequested,
    PiecemealRejection,
    RepeatTrip,
)
from workflows.bundle import MAX_REJECTIONS, BundleWorkflow
from workflows.case import (
    RECORD_MATERIAL,
    RECORD_TRIP,
    SUBMIT_FIELDS,
    CaseProgress,
    FieldEntry,
    MaterialEntry,
    TripEntry,
)
from workflows.definition import Catalogue
from workflows.register_case import REGISTER_PROGRESS, RegisterProgress, register_workflow_id

EMPLOYMENT = Catalogue.load().default("employment-hardship")
INSURANCE_FORM = "flexible-insurance-enrollment"


async def start_case(env: WorkflowEnvironment, citizen: Citizen, task_queue: str):  # type: ignore[no-untyped-def]
    start = bundle_start(EMPLOYMENT, citizen)
    handle = await env.client.start_workflow(
        BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue
    )
    return start, handle


async def test_clerk_runs_the_bundle_and_the_insurance_form_is_retyped(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        start, handle = await start_case(dev_env, citizen, task_queue)
        first = await wait_for(handle, waiting_on_clerk)
        # The dossier was filled before anyone was asked anything, with provenance.
        assert first.dossier["identity.name"].source.source == "public-security"
        assert first.dossier["bank.account"].source.source == "hrss"
        registration = first.steps[0]
        assert registration.status == "awaiting_clerk"
        assert set(registration.missing_fields) == {"left_on", "unemployment_reason"}
        assert registration.missing_materials == ()  # both held as e-certificates
        progress = await clerk_completes(handle, citizen)

    assert progress.status == "completed"
    assert [s.status for s in progress.steps] == ["approved"] * 4
    # The subsidy claim reused what the earlier steps produced: nothing to type.
    subsidy = progress.steps[3]
    assert all(f.prefilled for f in subsidy.fields)
    assert subsidy.fields[2].source is not None
    assert subsidy.fields[2].source.step == "hardship-certification"

    events = store.events_for_case(start.case_id)
    reentries = [e for e in events if isinstance(e, ManualReentry)]
    assert {e.step for e in reentries} == {INSURANCE_FORM}
    assert {e.field for e in reentries} == {
        "applicant_name",
        "id_number",
        "gender",
        "birth_date",
        "household_address",
        "registration_type",
        "phone",
        "bank_account",
    }
    known = {e.field: e.known_from for e in reentries}
    assert known["id_number"].source == "public-security"
    assert known["bank_account"].source == "hrss"
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.event_id.startswith(f"{start.case_id}/") for e in events)
    # Nothing personal reached the store.
    raw = repr(events)
    assert citizen.id_number not in raw and citizen.name not in raw and citizen.phone not in raw


async def test_validator_refuses_bad_values_naming_the_field(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    citizen = citizen_where(population, ecerts=True)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        _, handle = await start_case(dev_env, citizen, task_queue)
        await wait_for(handle, waiting_on_clerk)
        step = "unemployment-registration"
        tomorrow = (date.today() + timedelta(days=2)).isoformat()
        bad = [
            ({"left_on": tomorrow}, "left_on", "future"),
            ({"unemployment_reason": "bored"}, "unemployment_reason", "must be one of"),
            ({"id_number": "320211198001011230"}, "id_number", "check digit"),
            ({"shoe_size": "42"}, "shoe_size", "no such field"),
        ]
        for values, field, words in bad:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(
                    SUBMIT_FIELDS, FieldEntry(step=step, values=values), result_type=CaseProgress
                )
            cause = err.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "InvalidField"
            assert field in cause.message and words in cause.message
            assert cause.details[0] == {"field": field}
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                SUBMIT_FIELDS,
                FieldEntry(step="subsidy-claim", values={"contribution_grade": "60%"}),
                result_type=CaseProgress,
            )
        assert "not the current step" in str(err.value.cause)
        # Refused input never reached the history: the step still lacks the same fields.
        progress = await wait_for(handle, waiting_on_clerk)
        assert set(progress.steps[0].missing_fields) == {"left_on", "unemployment_reason"}
        await handle.terminate("test over")


async def test_paper_asked_despite_e_certificate_and_a_second_trip_are_friction(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    with_certs = citizen_where(population, ecerts=True)
    without = citizen_where(population, ecerts=False)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        habit, h1 = await start_case(dev_env, with_certs, task_queue)
        await clerk_completes(h1, with_certs, paper_for_held=True)

        lacking, h2 = await start_case(dev_env, without, task_queue)
        first = await wait_for(h2, waiting_on_clerk)
        # The one-time notice names every material of every step at once.
        assert "material:unemployment-registration.resident_id_card" in first.outstanding
        assert "material:unemployment-registration.household_register" in first.outstanding
        assert "material:flexible-insurance-enrollment.resident_id_card" in first.outstanding
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h2.execute_update(
                RECORD_MATERIAL,
                MaterialEntry(
                    step="unemployment-registration", material="resident_id_card", form="ecert"
                ),
                result_type=CaseProgress,
            )
        assert "no e-certificate" in str(err.value.cause)
        reason = "material:unemployment-registration.household_register"
        await h2.execute_update(RECORD_TRIP, TripEntry(reasons=(reason,)), result_type=CaseProgress)
        await clerk_completes(h2, without)

    papers = [
        e for e in store.events_for_case(habit.case_id) if isinstance(e, PhysicalMaterialRequested)
    ]
    assert {(e.step, e.material) for e in papers} >= {
        ("unemployment-registration", "resident_id_card"),
        ("unemployment-registration", "household_register"),
    }
    assert all(e.held_by.kind == "ecert" for e in papers)
    lacking_events = store.events_for_case(lacking.case_id)
    assert not any(isinstance(e, PhysicalMaterialRequested) for e in lacking_events)
    trips = [e for e in lacking_events if isinstance(e, RepeatTrip)]
    assert len(trips) == 1 and trips[0].trip_number == 2
    assert trips[0].could_have_been_told == (reason,)


async def test_rejection_names_every_reason_and_the_case_recovers(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    reasons = [
        {
            "code": "grade_not_allowed",
            "message_zh": "缴费档次不符",
            "message_en": "Grade not allowed",
            "field": "contribution_grade",
            "material": None,
        },
        {
            "code": "phone_unreachable",
            "message_zh": "电话无法接通",
            "message_en": "Phone unreachable",
            "field": "phone",
            "material": None,
        },
    ]
    await set_behaviour(fresh_agencies, "social-insurance", reject_rate=1.0, reject_reasons=reasons)
    citizen = citizen_where(population, ecerts=True, bank=True)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        start, handle = await start_case(dev_env, citizen, task_queue)
        progress = await clerk_completes(handle, citizen)

    rejected = progress.steps[2]
    assert {r.code for r in rejected.rejections} == {"grade_not_allowed", "phone_unreachable"}
    assert progress.status == "completed"
    assert progress.steps[2].round == 1
    events = store.events_for_case(start.case_id)
    assert not any(isinstance(e, PiecemealRejection) for e in events)
    counts = Counter(type(e).__name__ for e in events)
    assert counts["ManualReentry"] == 8  # retyping after a rejection is not counted twice


async def test_a_case_refused_three_times_goes_to_the_cant_get_it_done_window(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    refusal = {"code": "grade_not_allowed", "message_zh": "缴费档次不符",
               "message_en": "Grade not allowed", "field": "contribution_grade",
               "material": None}
    await set_behaviour(fresh_agencies, "social-insurance", reject_rate=1.0,
                        reject_rounds=MAX_REJECTIONS, reject_reasons=[refusal])
    citizen = citizen_where(population, ecerts=True, bank=True)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        start, handle = await start_case(dev_env, citizen, task_queue)
        progress = await clerk_completes(handle, citizen)
        assert progress.status == "failed"
        assert progress.steps[2].status == "rejected"
        assert progress.steps[2].round == MAX_REJECTIONS
        # The register's own workflow took the case: registered, deadline set, running on.
        register = dev_env.client.get_workflow_handle(register_workflow_id(start.case_id))
        for _ in range(100):
            answer = await register.query(REGISTER_PROGRESS, result_type=RegisterProgress)
            if answer.record is not None:
                break
            await asyncio.sleep(0.1)
    assert answer.status == "registered" and answer.record is not None
    assert (answer.record.cause, answer.record.department) == (
        "approval_procedure", "social-insurance")
    [row] = [r for r in store.cant_get_it_done_cases() if r.case_id == start.case_id]
    assert row.step == "flexible-insurance-enrollment" and row.resolved_at is None
    # Its friction is recorded once, by the register.
    assert [e.event_id for e in store.events_for_case(start.case_id)
            if isinstance(e, CantGetItDone)] == [f"cgid/{start.case_id}"]


async def test_a_prefilled_value_typed_again_is_a_reentry_and_a_different_one_a_correction(
    dev_env: WorkflowEnvironment,
    fresh_agencies: ServedApp,
    agency_urls: dict[str, str],
    store: SqliteFrictionStore,
    population: list[Citizen],
    task_queue: str,
) -> None:
    citizen = citizen_where(population, ecerts=True, bank=True)
    async with running_worker(dev_env.client, agency_urls, store, task_queue):
        start, handle = await start_case(dev_env, citizen, task_queue)
        first = await wait_for(handle, waiting_on_clerk)
        step = first.steps[0]
        prefilled = [f for f in step.fields if f.prefilled and f.value]
        same = prefilled[0]
        other = next(f for f in prefilled[1:] if f.type == "text")
        changed = f"{other.value}号"
        after: CaseProgress = await handle.execute_update(
            SUBMIT_FIELDS,
            FieldEntry(step=step.id, values={same.name: same.value or "",
                                             other.name: changed},
                       typed_seconds={same.name: 6.0}),
            result_type=CaseProgress,
        )
        # Typed twice over: still one re-entry of that field.
        await handle.execute_update(
            SUBMIT_FIELDS, FieldEntry(step=step.id, values={same.name: same.value or ""}),
            result_type=CaseProgress,
        )
        await handle.terminate("test done")
    view = {f.name: f for f in after.steps[0].fields}
    assert view[same.name].prefilled and view[same.name].source == same.source
    assert not view[other.name].prefilled  # a correction keeps no prefilled source
    reentries = [f for f in after.friction if f.kind == "manual_reentry"]
    assert len(reentries) == 1
    stored = await asyncio.to_thread(store.events_for_case, start.case_id)
    typed_again = [e for e in stored if isinstance(e, ManualReentry)]
    assert [(e.field, e.known_from, e.typed_seconds) for e in typed_again] == [
        (same.name, same.source, 6.0)
    ]
