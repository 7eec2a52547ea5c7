"""The notebook's verifier runs on a Temporal Schedule (registered by `onething setup`), on
the worker, not in any gateway request: triggering the schedule judges a deployed fix by
the cases since, and the backlog item moves."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.verifier_calls import VerifierCalls
from activities.worker import workflow_runner
from deploy.schedules import ensure_schedule
from deploy.verifier_schedule import verifier_schedule
from friction import notebook
from friction.backlog import TransitionRequest
from friction.sqlite_store import SqliteFrictionStore
from friction.verification import VerificationPolicy
from kernel.events import CaseRecord, ManualReentry, Provenance
from workflows.verifier import VerifierWorkflow

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"
FIELDS = ("applicant_name", "id_number", "phone", "bank_account")
POLICY = VerificationPolicy(min_cases=8)


def run_case(store: SqliteFrictionStore, case_id: str, opened: datetime, retyped: int) -> None:
    store.upsert_case(CaseRecord(
        case_id=case_id, bundle=BUNDLE, bundle_version=1, centre="liangxi-chongan",
        channel="window", status="completed", opened_at=opened,
        closed_at=opened + timedelta(minutes=30)))
    store.ingest([
        ManualReentry(event_id=f"{case_id}/{i}", occurred_at=opened + timedelta(minutes=i),
                      case_id=case_id, bundle=BUNDLE, step=FORM, field=field,
                      known_from=Provenance(kind="agency", source="public-security"))
        for i, field in enumerate(FIELDS[:retyped], start=1)])


def a_fix_with_its_cases(store: SqliteFrictionStore) -> datetime:
    """Four cases retyping the form, its fix deployed, then eight that retype nothing."""
    for i in range(4):
        run_case(store, f"V1-{i}", T0 + timedelta(hours=i), retyped=len(FIELDS))
    fixed_at = T0 + timedelta(days=1)
    # Deployed with no case after it yet: the verifier has nothing to judge at that moment.
    notebook.transition(store, POINT, TransitionRequest(
        to_status="triaged", reason="top of the backlog", owner="platform-team"), "lead",
        fixed_at)
    notebook.transition(store, POINT, TransitionRequest(
        to_status="fix_deployed", reason="v2 released", fix_description="link the form",
        fix_deployed_at=fixed_at), "dev-7", fixed_at, policy=POLICY)
    for i in range(8):
        run_case(store, f"V2-{i}", fixed_at + timedelta(hours=i + 1), retyped=0)
    return fixed_at + timedelta(days=1)


async def test_triggering_the_schedule_verifies_a_deployed_fix(
    dev_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str
) -> None:
    judged_at = a_fix_with_its_cases(store)
    assert store.backlog_items()[POINT].status == "fix_deployed"
    schedule_id = f"verifier-{uuid.uuid4().hex[:8]}"
    client = dev_env.client
    assert await ensure_schedule(client, schedule_id, verifier_schedule(task_queue)) == "created"
    handle = client.get_schedule_handle(schedule_id)
    calls = VerifierCalls(store, POLICY, clock=lambda: judged_at)
    try:
        async with Worker(client, task_queue=task_queue, workflows=[VerifierWorkflow],
                          activities=[calls.run_verifier], workflow_runner=workflow_runner()):
            await handle.trigger()
            for _ in range(200):
                if store.backlog_items()[POINT].status != "fix_deployed":
                    break
                await asyncio.sleep(0.1)
            described = await handle.describe()
        item = store.backlog_items()[POINT]
        assert item.status == "verified"
        (moved,) = [t for t in store.transitions(POINT) if t.to_status == "verified"]
        assert moved.from_status == "fix_deployed"
        # The run was the schedule's: its action started the verifier's workflow.
        assert described.info.num_actions == 1
        (action,) = described.info.recent_actions
        run = await client.get_workflow_handle_for(
            VerifierWorkflow.run, action.action.workflow_id).result()
        assert [(m.fingerprint, m.to_status) for m in run.moved] == [(POINT, "verified")]
    finally:
        await handle.delete()
