"""VerifierWorkflow: the notebook's verifier, run by a Temporal Schedule (VERIFIER_SCHEDULE_ID,
registered by `onething setup`) rather than inside any gateway: one activity judges every
deployed fix by the data (friction.notebook.run_verifier) and keeps what moved. Reading the
backlog writes nothing and still shows a verdict no older than one period.

Deterministic code only: the store is the activity's.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec
from temporalio import workflow
from temporalio.common import RetryPolicy

VERIFIER_WORKFLOW = "VerifierWorkflow"
VERIFIER_WORKFLOW_ID = "notebook-verifier"
VERIFIER_SCHEDULE_ID = "notebook-verifier"
VERIFY_EVERY = timedelta(minutes=5)
RUN_VERIFIER = "run_verifier"
VERIFIER_TIMEOUT = timedelta(minutes=2)
# A database hiccup is retried a few times; the next period tries again anyway.
VERIFIER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2),
                             maximum_interval=timedelta(seconds=30), maximum_attempts=5)


class VerifierMove(msgspec.Struct, kw_only=True, frozen=True):
    """A backlog item the verifier moved: its stuck point and statuses, no value."""

    fingerprint: str
    from_status: str
    to_status: str


class VerifierRun(msgspec.Struct, kw_only=True, frozen=True):
    moved: tuple[VerifierMove, ...] = ()


@workflow.defn(name=VERIFIER_WORKFLOW)
class VerifierWorkflow:
    @workflow.run
    async def run(self) -> VerifierRun:
        result: VerifierRun = await workflow.execute_activity(
            RUN_VERIFIER,
            result_type=VerifierRun,
            start_to_close_timeout=VERIFIER_TIMEOUT,
            retry_policy=VERIFIER_RETRY,
            summary="notebook: judge every deployed fix by its cases",
        )
        return result
