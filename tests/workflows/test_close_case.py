"""A case that cannot be completed today ends cleanly, on a real server.

A residence-permit applicant whose labour contract began three months ago cannot meet
the rule of a year's continuous work today: the clerk closes the case as not eligible,
the failed rule recorded on the case and told to the citizen in the rule's words, and the
workflow ends. Another applicant withdraws. Neither is a can't-get-it-done case.

The window's hours are dropped (as in test_residence_permit): these cases never reach a
submission, and the citizens' records are made relative to the processing date the
server's clock gives, so no outcome depends on the day or the hour the test runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from conftest import ServedApp, bundle_start, running_worker, wait_for
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from deploy.local import free_port
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.clerk import CLERK, TemporalDesk, serve_case
from deploy.sim.population import Citizen, generate, lookup_values, work_and_lease
from friction.sqlite_store import SqliteFrictionStore
from kernel.china_time import local_date
from kernel.converter import DATA_CONVERTER
from kernel.events import CantGetItDone, RepeatTrip
from workflows.bundle import BundleWorkflow
from workflows.case import (
    CLOSE_NOT_ELIGIBLE,
    RECORD_TRIP,
    WITHDRAW,
    CaseProgress,
    NotEligibleEntry,
    TripEntry,
    WithdrawalEntry,
)
from workflows.definition import BundleDefinition, Catalogue
from workflows.material_rules import RULES, add_months, latest_month

PERMIT = Catalogue.load().default("residence-permit")
HELD = ("resident_id_card", "household_register", "social_insurance_record")


def applicant(day: date, n: int, *, contract_months: int) -> Citizen:
    """An applicant as of `day`: at the employer since `contract_months` ago, insured
    every month of it, a lease valid for a year."""
    base = generate(seed=909, size=n + 1, today=day)[n]
    person = msgspec.structs.replace(
        base, last_employer="无锡示例科技有限公司", last_contribution_month=latest_month(day),
        certificates=HELD)
    return work_and_lease(
        person,
        contract_start=add_months(day, -contract_months).replace(day=1),
        contract_end=add_months(day, 24),
        employer_code="913202000000000042",
        latest_insured_not_credited=False,
        transferred_months=0,
        lease=(add_months(day, -1), add_months(day, 11)),
    )


def permit() -> BundleDefinition:
    return msgspec.structs.replace(PERMIT, window=None)


@pytest.fixture
async def applicants() -> AsyncIterator[tuple[dict[str, str], list[Citizen]]]:
    day = local_date(datetime.now(UTC))  # the processing date the dev server's cases see
    people = [applicant(day, 0, contract_months=3), applicant(day, 1, contract_months=30)]
    async with ServedApp(create_agency_sim(people), free_port()) as served:
        yield {a: f"{served.url}/{a}" for a in AGENCIES}, people


async def update(handle: WorkflowHandle[Any, Any], name: str, entry: object) -> CaseProgress:
    result: CaseProgress = await handle.execute_update(name, entry, result_type=CaseProgress)
    return result


async def refused(handle: WorkflowHandle[Any, Any], name: str, entry: object) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update(handle, name, entry)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


def at_clerk(p: CaseProgress) -> bool:
    return p.status != "open" or p.awaiting == "clerk"


async def test_a_case_the_citizen_cannot_complete_today_closes_as_not_eligible(
    dev_env: WorkflowEnvironment,
    applicants: tuple[dict[str, str], list[Citizen]],
    store: SqliteFrictionStore,
    task_queue: str,
) -> None:
    urls, people = applicants
    start = bundle_start(permit(), people[0])
    async with running_worker(dev_env.client, urls, store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        first = await wait_for(handle, at_clerk)
        failing = [f.rule for f in first.steps[0].findings]
        assert failing == ["contract_covers_12_months", "insurance_covers_12_months"]
        assert "rule:residence-permit.contract_covers_12_months" in first.outstanding

        # A reason is required and short; the actor is named.
        cause = await refused(handle, CLOSE_NOT_ELIGIBLE, NotEligibleEntry(actor="c", reason=" "))
        assert cause.type == "InvalidField" and cause.details[0] == {"field": "reason"}
        cause = await refused(handle, CLOSE_NOT_ELIGIBLE,
                              NotEligibleEntry(actor="c", reason="x" * 201))
        assert cause.details[0] == {"field": "reason"}
        cause = await refused(handle, CLOSE_NOT_ELIGIBLE, NotEligibleEntry(actor="", reason="r"))
        assert cause.details[0] == {"field": "actor"}

        closed = await update(handle, CLOSE_NOT_ELIGIBLE, NotEligibleEntry(
            actor="clerk-wang", reason="合同未满一年，满一年后再来"))
        assert closed.closure is not None and closed.closure.outcome == "not_eligible"
        final: CaseProgress = await handle.result()  # the workflow ends, nothing waits
        # Its history replays on this code, command for command.
        replayed = await Replayer(workflows=[BundleWorkflow], data_converter=DATA_CONVERTER
                                  ).replay_workflow(await handle.fetch_history(),
                                                    raise_on_replay_failure=False)
        assert replayed.replay_failure is None

        # Nothing more is taken once it is closed: the workflow has completed.
        with pytest.raises(RPCError, match="completed"):
            await update(handle, RECORD_TRIP, TripEntry())

    assert final.status == "not_eligible" and final.awaiting == "nobody"
    assert final.steps[0].status == "not_eligible" and final.steps[0].finished_at is not None
    closure = final.closure
    assert closure is not None
    assert (closure.actor, closure.reason, closure.step) == (
        "clerk-wang", "合同未满一年，满一年后再来", "residence-permit")
    assert [f.rule for f in closure.findings] == [
        "contract_covers_12_months", "insurance_covers_12_months"]
    # The citizen is told, the rule named in its general words, without particulars.
    (told,) = [n for n in final.notifications if n.event == "case_not_eligible"]
    assert "不符合办理条件" in told.text_zh
    assert RULES["contract_covers_12_months"].wording_zh in told.text_zh
    assert RULES["insurance_covers_12_months"].wording_zh.rstrip("。") in told.text_zh
    assert people[0].name not in told.text_zh
    assert not any(f.message_zh in told.text_zh for f in closure.findings)  # no dates
    # The notebook has the case closed as not eligible, and no can't-get-it-done.
    (record,) = [c for c in store.iter_cases() if c.case_id == start.case_id]
    assert record.status == "not_eligible" and record.closed_at is not None
    assert not [e for e in store.events_for_case(start.case_id)
                if isinstance(e, CantGetItDone)]


async def test_a_citizen_withdraws_and_a_case_without_a_failed_rule_is_not_closed_as_such(
    dev_env: WorkflowEnvironment,
    applicants: tuple[dict[str, str], list[Citizen]],
    store: SqliteFrictionStore,
    task_queue: str,
) -> None:
    urls, people = applicants
    start = bundle_start(permit(), people[1])  # eligible: only the papers are missing
    async with running_worker(dev_env.client, urls, store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        first = await wait_for(handle, at_clerk)
        assert first.steps[0].findings == () and first.steps[0].missing_materials

        cause = await refused(handle, CLOSE_NOT_ELIGIBLE,
                              NotEligibleEntry(actor="clerk", reason="不符合"))
        assert cause.type == "NotCurrentStep" and cause.details[0] == {"field": "step"}

        withdrawn = await update(handle, WITHDRAW, WithdrawalEntry(actor="clerk"))
        assert withdrawn.closure is not None and withdrawn.closure.reason is None
        final: CaseProgress = await handle.result()
        with pytest.raises(RPCError, match="completed"):
            await update(handle, WITHDRAW, WithdrawalEntry(actor="clerk"))

    assert final.status == "withdrawn" and final.steps[0].status == "withdrawn"
    assert [n.event for n in final.notifications] == ["case_withdrawn"]
    assert "已撤回" in final.notifications[0].text_zh
    (record,) = [c for c in store.iter_cases() if c.case_id == start.case_id]
    assert record.status == "withdrawn"
    assert not [e for e in store.events_for_case(start.case_id)
                if isinstance(e, CantGetItDone)]
    assert final.closure is not None
    assert final.closure.at - final.steps[0].started_at < timedelta(minutes=5)  # type: ignore[operator]


async def test_the_simulated_clerk_closes_what_cannot_be_mended_today_without_a_second_trip(
    dev_env: WorkflowEnvironment,
    applicants: tuple[dict[str, str], list[Citizen]],
    store: SqliteFrictionStore,
    task_queue: str,
) -> None:
    """Under a year of work is no document the citizen can bring back: the demo's clerk
    closes the case as not eligible at once, and the notebook records no repeat trip."""
    urls, people = applicants
    start = bundle_start(permit(), people[0])
    async with running_worker(dev_env.client, urls, store, task_queue):
        handle = await dev_env.client.start_workflow(
            BundleWorkflow.run, start, id=start.case_id, task_queue=task_queue)
        known = {k: v for source in ("identity", "household", "insurance_history",
                                     "employment_contract", "lease")
                 for k, v in (lookup_values(people[0], source) or {}).items()}
        final = await serve_case(TemporalDesk(handle), known, timeout=30)
        assert final.status == "not_eligible" and final.trips == 1
        assert final.closure is not None and final.closure.actor == CLERK
        assert [f.rule for f in final.closure.findings] == [
            "contract_covers_12_months", "insurance_covers_12_months"]
    assert not any(isinstance(e, RepeatTrip) for e in store.events_for_case(start.case_id))
