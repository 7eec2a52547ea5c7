"""The monthly allowance match as Temporal runs it: the Schedule `onething setup` keeps, and
a run by hand for one month (`onething allowance-match --month YYYY-MM`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.common import WorkflowIDConflictPolicy

from deploy.schedules import ScheduleChange, ensure_schedule
from workflows.allowance_case import (
    CASES_PER_RUN,
    MATCH_WORKFLOW,
    MATCH_WORKFLOW_ID,
    SCHEDULE_DAY_OF_MONTH,
    SCHEDULE_HOUR,
    SCHEDULE_ID,
    SCHEDULE_TIME_ZONE,
    AllowanceMatchInput,
    AllowanceMatchSummary,
    match_workflow_id,
)

# A match takes minutes; one still running after a day is stuck and the next month's
# must not wait on it.
MATCH_TIMEOUT = timedelta(days=1)
# A server down on the first runs the missed match when it is back, within the month.
CATCHUP_WINDOW = timedelta(days=27)


def monthly_spec() -> ScheduleSpec:
    """The first of every month at 02:00, China time."""
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                day_of_month=[ScheduleRange(SCHEDULE_DAY_OF_MONTH)],
                hour=[ScheduleRange(SCHEDULE_HOUR)],
                minute=[ScheduleRange(0)],
                comment="高龄津贴免申即享: monthly match of household and civil affairs data",
            )
        ],
        time_zone_name=SCHEDULE_TIME_ZONE,
    )


def allowance_schedule(task_queue: str, centre: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MATCH_WORKFLOW,
            AllowanceMatchInput(centre=centre),
            id=MATCH_WORKFLOW_ID,
            task_queue=task_queue,
            execution_timeout=MATCH_TIMEOUT,
        ),
        spec=monthly_spec(),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
    )


async def ensure_allowance_schedule(client: Client, task_queue: str, centre: str) -> ScheduleChange:
    """Create the monthly schedule, or bring an existing one to this spec and action: run
    at every setup, it leaves exactly one schedule. Whether an operator paused it is kept."""
    return await ensure_schedule(client, SCHEDULE_ID, allowance_schedule(task_queue, centre),
                                 [AllowanceMatchInput])


async def run_allowance_match(
    client: Client, task_queue: str, month: str, centre: str, cases_per_run: int | None = None
) -> AllowanceMatchSummary:
    """Run the match for `month` now and wait for its summary. Asked again while that
    month's run is still going, it waits for the same run instead of starting another."""
    handle = await client.start_workflow(
        MATCH_WORKFLOW,
        AllowanceMatchInput(centre=centre, month=month,
                            cases_per_run=cases_per_run or CASES_PER_RUN),
        id=match_workflow_id(month),
        task_queue=task_queue,
        execution_timeout=MATCH_TIMEOUT,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=AllowanceMatchSummary,
    )
    summary: AllowanceMatchSummary = await handle.result()
    return summary
