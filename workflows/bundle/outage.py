"""An agency outage is a wait, not a death.

Every call to an agency (a look-up, a submission, a poll) is one activity whose retries
have no count: Temporal retries it with backoff (ports.AGENCY_OUTAGE_RETRY) until the
bundle's outage policy gives up (its schedule-to-close timeout). Retries are the
server's, so the history holds one scheduled and one closed event however long the
outage lasts, and a worker restart loses nothing. Meanwhile the step's SLA keeps running
(timers.watch_sla records the extra wait as for any slow agency).

Past `escalate_after_hours` the case is registered as can't-get-it-done with cause
`system`, the citizen is told that nothing is asked of them, and operators are alerted:
the worker's Temporal metrics count the escalation by agency (ESCALATIONS_METRIC, served
as `onething_agency_outage_escalations_total`) and a warning names the agency and the
case number. Past `give_up_after_working_days` the call fails with AgencyGaveUp and the case
ends as failed (cause `agency_outage`).

Histories recorded before this module replay the bounded retries they ran with: new
cases take this path behind the OUTAGE_PATCH marker.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TypeVar

import msgspec
from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.notify import notify

with workflow.unsafe.imports_passed_through():
    from workflows import ports
    from workflows.cant_get_it_done import register_from_bundle
    from workflows.case import Outage
    from workflows.definition import LookupSpec

T = TypeVar("T")

OUTAGE_PATCH = "agency-outage-wait"
ESCALATIONS_METRIC = "onething_agency_outage_escalations"


class AgencyGaveUp(Exception):
    """The agency did not answer within the bundle's outage policy."""

    def __init__(self, agency: str, step: str | None) -> None:
        super().__init__(f"agency {agency} did not answer within the outage policy")
        self.agency = agency
        self.step = step


def waits_out_outages(case: CaseState) -> bool:
    """Whether this case waits out outages (every case started since the patch)."""
    if case.waits_out_outages is None:
        case.waits_out_outages = workflow.patched(OUTAGE_PATCH)
    return case.waits_out_outages


async def agency_call(
    case: CaseState, step: StepState | None, agency: str, name: str, arg: object,
    result_type: type[T], summary: str,
) -> T:
    """One call to `agency`; `summary` is what Temporal's UI shows for it (which agency,
    what for: never a value of the case)."""
    if not waits_out_outages(case):
        result: T = await workflow.execute_activity(
            name, arg, result_type=result_type,
            start_to_close_timeout=ports.AGENCY_CALL_TIMEOUT, retry_policy=ports.AGENCY_RETRY,
            summary=summary,
        )
        return result
    policy = case.bundle.outage
    since = workflow.now()
    give_up_at = case.deadline(since, 0, policy.give_up_after_working_days)
    handle = workflow.start_activity(
        name, arg, result_type=result_type,
        start_to_close_timeout=ports.AGENCY_CALL_TIMEOUT,
        schedule_to_close_timeout=give_up_at - since,
        retry_policy=ports.AGENCY_OUTAGE_RETRY,
        summary=summary,
    )
    outage: Outage | None = None
    try:
        # Each attempt ends within AGENCY_CALL_TIMEOUT: a call still open this long has
        # failed attempt after attempt.
        await workflow.wait_condition(
            handle.done, timeout=timedelta(hours=policy.escalate_after_hours),
            timeout_summary=f"{agency}: escalate as an outage if still unanswered after "
            f"{policy.escalate_after_hours} h")
    except TimeoutError:
        outage = await escalate(case, step, agency, since, give_up_at)
    try:
        answer: T = await handle
        return answer
    except ActivityError as exc:
        # Out of time: the schedule-to-close passed, during an attempt (a timeout) or
        # before the next one (the last attempt's failure, retry state TIMEOUT).
        if not (isinstance(exc.cause, ActivityTimeout) or exc.retry_state == RetryState.TIMEOUT):
            raise
        if outage is None:  # gave up before the escalation's hour (a short policy)
            outage = await escalate(case, step, agency, since, give_up_at)
        raise AgencyGaveUp(agency, step.spec.id if step else None) from exc
    finally:
        if outage is not None:
            ended = msgspec.structs.replace(outage, ended_at=workflow.now())
            case.outages = [ended if o is outage else o for o in case.outages]


async def escalate(
    case: CaseState, step: StepState | None, agency: str, since: datetime,
    give_up_at: datetime,
) -> Outage:
    step_id = step.spec.id if step else None
    outage = Outage(agency=agency, step=step_id, since=since, escalated_at=workflow.now(),
                    give_up_at=give_up_at)
    case.outages.append(outage)
    hours = (outage.escalated_at - since).total_seconds() / 3600
    # The case number and the agency only: never the citizen.
    workflow.logger.warning(
        "agency outage: %s has not answered case %s (step %s) for %.1f hours; registered "
        "as can't-get-it-done (cause system), waiting until %s",
        agency, case.start.case_id, step_id or "lookup", hours, give_up_at.isoformat(),
    )
    workflow.metric_meter().create_counter(
        ESCALATIONS_METRIC,
        "Cases escalated because an agency did not answer for the bundle's outage policy",
    ).add(1, {"agency": agency, "bundle": case.bundle.id})
    notify(case, "agency_outage", step)
    await register_from_bundle(case.start, step=step_id, department=agency, cause="system")
    return outage


async def look_up(case: CaseState, lookups: tuple[LookupSpec, ...] | None = None) -> None:
    """Read what the agencies hold (all of the bundle's look-ups, or those given)."""
    requests = case.lookup_requests(lookups)
    results = await asyncio.gather(*(
        agency_call(case, None, r.agency, ports.LOOK_UP, r, ports.LookupResult,
                    f"{r.agency}: look up {r.source}")
        for r in requests
    ))
    case.take_lookups(requests, list(results))
