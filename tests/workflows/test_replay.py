"""Histories recorded before the material rules and the window's hours replay command for
command with today's BundleWorkflow: cases in flight keep running after a deploy.

histories/ holds cases run with the engine as it was before those changes: an
employment-hardship case (lookups, a return visit, paper asked despite e-certificates,
a rejection and its correction) and a task-step case (an urgency choosing the path,
milestones). Record a new one whenever a change to the engine could touch old paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.bundle import BundleWorkflow
from workflows.converter import DATA_CONVERTER

RECORDED = {
    p.stem: p.read_text(encoding="utf-8")
    for p in sorted((Path(__file__).parent / "histories").glob("*.json"))
}


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays(name: str) -> None:
    replayer = Replayer(workflows=[BundleWorkflow], data_converter=DATA_CONVERTER)
    history = WorkflowHistory.from_json(name, RECORDED[name])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
