"""The demo's clerk against a closed window, on the time-skipping server at fixed moments:
18:45 China time (after closing) and 12:00 (the lunch break) on a working day of 2055,
after the suite's pinned clock (the time-skipping server only moves forward).

The case is held for the window's next opening; the step says until when (held_until),
the demo's clerk leaves it there, and the demo's summary counts it as held, not failed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
import pytest
from conftest import ServedApp, bundle_start, pin_clock, running_worker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from deploy.local import free_port
from deploy.settings import AGENCIES
from deploy.sim.agencies import create_app as create_agency_sim
from deploy.sim.clerk import TemporalDesk, held_until, serve_case
from deploy.sim.demo import HELD, Outcome, outcome_of, summary
from deploy.sim.population import Citizen, generate, work_and_lease
from friction.sqlite_store import SqliteFrictionStore
from kernel.china_time import CHINA_TZ
from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar
from workflows.case import CaseProgress
from workflows.definition import BundleDefinition, Catalogue, validate
from workflows.material_rules import add_months, latest_month

PERMIT = Catalogue.load().default("residence-permit")
DAY = date(2055, 3, 9)  # a Tuesday: a working day by weekdays alone
CALENDAR = WorkingCalendar(id="weekdays-2055")
HELD_CERTS = ("resident_id_card", "household_register", "social_insurance_record",
              "labour_contract_filing", "lease_registration")

pytestmark = pytest.mark.own_clock


def applicant(day: date) -> Citizen:
    """Eligible as of `day` and the days after: a long contract, a valid lease, the
    latest month credited; every material held as a record, so no clerk is needed (the
    time-skipping server takes no updates)."""
    base = generate(seed=2055, size=1, today=day)[0]
    person = msgspec.structs.replace(base, last_contribution_month=latest_month(day),
                                     certificates=HELD_CERTS)
    return work_and_lease(
        person, contract_start=add_months(day, -20).replace(day=1),
        contract_end=add_months(day, 22), employer_code="913202000000000041",
        latest_insured_not_credited=False, transferred_months=0,
        lease=(add_months(day, -3), add_months(day, 9)))


def on_file() -> BundleDefinition:
    step = PERMIT.steps[0]
    held = {"labour_contract": "labour_contract_filing", "lease": "lease_registration"}
    materials = tuple(msgspec.structs.replace(m, ecert=held.get(m.name, m.ecert))
                      for m in step.materials)
    return validate(msgspec.structs.replace(PERMIT, steps=(
        msgspec.structs.replace(step, materials=materials),)))


def china(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA_TZ)


@pytest.mark.parametrize(("at", "opens", "said"), [
    (china(DAY, 18, 45), china(DAY + timedelta(days=1), 9, 0),
     "held until the window opens at 09:00 on 03-10"),
    (china(DAY, 12, 0), china(DAY, 13, 30), "held until the window opens at 13:30 on 03-09"),
], ids=["evening", "lunch"])
async def test_the_demos_clerk_leaves_a_case_held_for_the_window(
    time_env: WorkflowEnvironment, store: SqliteFrictionStore, task_queue: str,
    at: datetime, opens: datetime, said: str,
) -> None:
    await pin_clock(time_env, at)
    now = await time_env.get_current_time()
    assert at <= now < at + timedelta(minutes=5)
    person = applicant(DAY)
    case = msgspec.structs.replace(bundle_start(on_file(), person), calendar=CALENDAR)
    async with ServedApp(create_agency_sim([person]), free_port()) as sim:
        urls = {a: f"{sim.url}/{a}" for a in AGENCIES}
        async with running_worker(time_env.client, urls, store, task_queue):
            handle: WorkflowHandle[Any, Any] = await time_env.client.start_workflow(
                BundleWorkflow.run, case, id=case.case_id, task_queue=task_queue,
                execution_timeout=timedelta(days=60))
            final = await serve_case(TemporalDesk(handle), {}, timeout=30, every=0.05)
            outcome = outcome_of(case.case_id, final)
            # Once the window opens the case goes on by itself and completes.
            done: CaseProgress = await handle.result()

    assert final.status == "open" and final.awaiting == "agency"
    [step] = final.steps
    assert step.status == "awaiting_agency"
    assert held_until(final) == step.held_until == opens
    assert outcome == Outcome(case_id=case.case_id, status=HELD, trips=final.trips,
                              detail=said)
    assert done.status == "completed"
    assert done.steps[0].held_until is None
    assert done.steps[0].finished_at is not None and done.steps[0].finished_at >= opens

    line = summary([outcome, Outcome(case_id="X", status="completed", trips=1)], 12.5)
    assert f"1 completed, 0 failed, 1 held ({said}), in 12.5 s wall time" in line
