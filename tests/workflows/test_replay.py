"""Saved histories replay command for command with today's workflows: cases in flight
keep running after a deploy.

histories/ holds cases run with the engine as it was before a change, each replayed by
the workflow its history names:

- employment_hardship_v1, repair_task_steps: recorded before the material rules and the
  window's hours (look-ups, a return visit, paper asked despite e-certificates, a
  rejection and its correction; an urgency choosing the path, milestones).
- recorded before BundleWorkflow was split into its mechanisms, by
  record_histories.py (see its SCENARIOS): material rules and their findings
  (permit_first_review), three rejections and the can't-get-it-done register
  (permit_three_rejections, cgid_from_bundle), the service window (permit_window_cut_off,
  permit_window_closed_on_clerk), closed as not eligible and withdrawn, a published
  calendar moving an SLA (calendar_published_sla), missed SLAs and milestones of task
  steps, notifications (allowance_case_notified), re-entry over a prefilled value, the
  register's escalations and answer, the monthly allowance match.
- recorded once return trips were limited to one a day: a third visit stated as another
  the same day (permit_trip_stated_again_today).

Record new ones (`python tests/workflows/record_histories.py NAME`) with the code as it
is before any change to a workflow that could touch old paths, then make the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from activities.worker import workflow_runner
from kernel.converter import DATA_CONVERTER
from workflows.allowance_match import AllowanceMatchWorkflow
from workflows.bundle import BundleWorkflow
from workflows.cant_get_it_done import CantGetItDoneWorkflow

RECORDED = {
    p.stem: p.read_text(encoding="utf-8")
    for p in sorted((Path(__file__).parent / "histories").glob("*.json"))
}
WORKFLOWS = {"BundleWorkflow": BundleWorkflow, "CantGetItDoneWorkflow": CantGetItDoneWorkflow,
             "AllowanceMatchWorkflow": AllowanceMatchWorkflow}


@pytest.mark.parametrize("guarded", [False, True], ids=["worker", "guarded"])
@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays(name: str, guarded: bool) -> None:
    """Replayed by the worker's sandbox, and by the guarded one, which re-imports the
    workflow code into the sandbox and refuses a clock, randomness or I/O called from it."""
    history = WorkflowHistory.from_json(name, RECORDED[name])
    started = history.events[0].workflow_execution_started_event_attributes
    workflow = WORKFLOWS[started.workflow_type.name]
    replayer = Replayer(workflows=[workflow], data_converter=DATA_CONVERTER,
                        workflow_runner=workflow_runner(guarded=guarded))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
