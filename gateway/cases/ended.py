"""A case whose workflow ended without finishing (terminated by an operator, timed out,
cancelled, or failed by a bug) shows as failed everywhere, with why: no view says open
while nothing runs the case any more.

The case's own query answers as of its last step, so its progress is corrected by what
Temporal says of the run (`as_ended`), and EndedCasesSweep closes such a case's notebook
row, which the workflow never got to record. A case that fails in its own code records
itself (workflows.bundle.workflow); this is for the ends it cannot see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import msgspec
from temporalio.client import Client, WorkflowExecutionStatus

from friction.store import IngestStore
from workflows.case import CaseProgress, Failure, FailureCause

log = logging.getLogger(__name__)

ENDED: dict[WorkflowExecutionStatus, FailureCause] = {
    WorkflowExecutionStatus.FAILED: "workflow_error",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
}
# The visibility query's names for the same statuses.
ENDED_QUERY = ("ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated' OR "
               "ExecutionStatus = 'TimedOut' OR ExecutionStatus = 'Canceled'")
SWEEP_EVERY_SECONDS = 60.0
SWEEP_LOOKBACK = timedelta(days=7)  # a gateway down longer misses older ends


def as_ended(
    progress: CaseProgress, status: WorkflowExecutionStatus | None, closed_at: datetime | None
) -> CaseProgress:
    """The progress as it stands when the run has ended: failed, with the cause, if the
    workflow ended while its case was still open."""
    cause = ENDED.get(status) if status is not None else None
    if cause is None or progress.status != "open":
        return progress
    current = progress.current_step
    step = next((s for s in progress.steps if s.id == current), None)
    steps = tuple(
        msgspec.structs.replace(s, status="failed", awaiting="nobody")
        if s.id == current and s.status not in ("approved", "skipped") else s
        for s in progress.steps
    )
    return msgspec.structs.replace(
        progress, status="failed", awaiting="nobody", steps=steps,
        failure=Failure(cause=cause, step=current, agency=step.agency if step else None,
                        at=closed_at),
    )


async def close_ended_cases(temporal: Client, store: IngestStore, since: datetime) -> int:
    """Close the notebook row of every bundle case whose run ended unfinished since
    `since`; the number closed now (a row closed already is left as it is)."""
    query = (f"WorkflowType = 'BundleWorkflow' AND ({ENDED_QUERY}) "
             f"AND CloseTime > '{since.astimezone(UTC).isoformat()}'")
    closed = 0
    async for execution in temporal.list_workflows(query):
        at = execution.close_time or datetime.now(UTC)
        if await asyncio.to_thread(store.close_ended_case, execution.id, at):
            closed += 1
            log.warning("case %s ended unfinished (%s): recorded as failed",
                        execution.id, ENDED.get(execution.status, "ended") if execution.status
                        else "ended")
    return closed


class EndedCasesSweep:
    """close_ended_cases every `every` seconds while the app runs (started and stopped by
    its lifespan hooks, like the verifier)."""

    def __init__(self, temporal: Client, store: IngestStore, every: float) -> None:
        if every <= 0:
            raise ValueError("every: a period in seconds, more than 0")
        self._temporal = temporal
        self._store = store
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        return await close_ended_cases(
            self._temporal, self._store, datetime.now(UTC) - SWEEP_LOOKBACK)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                # Temporal or the store down for a while: the next period tries again.
                log.exception("sweep of ended cases failed")
            await asyncio.sleep(self._every)
