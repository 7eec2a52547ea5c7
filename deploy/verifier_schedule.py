"""The notebook verifier's Temporal Schedule: VerifierWorkflow every VERIFY_EVERY, one at a
time (a run still going skips the next), made or brought up to date by `onething setup`."""

from __future__ import annotations

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from workflows.verifier import (
    VERIFIER_TIMEOUT,
    VERIFIER_WORKFLOW,
    VERIFIER_WORKFLOW_ID,
    VERIFY_EVERY,
)


def verifier_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            VERIFIER_WORKFLOW,
            id=VERIFIER_WORKFLOW_ID,
            task_queue=task_queue,
            # The activity's retries and a margin; a stuck run must not hold the next.
            execution_timeout=VERIFIER_TIMEOUT * 5,
            static_summary="错题本验证: 按案件数据评判每个已部署的修复",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=VERIFY_EVERY)]),
        # A run missed while the server was down is caught up once, not period by period.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=VERIFY_EVERY),
    )
