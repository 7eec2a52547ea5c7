"""AllowanceMatchWorkflow: the monthly match that makes the allowance for residents aged
80 and over proactive (免申即享).

One activity asks civil affairs which residents household data make due the allowance in
the month and who are not paid yet; for each, the workflow starts the case of the bundle
"elderly-allowance" as a child workflow, which a grid worker then confirms.

Why child workflows rather than an activity that starts the cases with a client: each
start is one command in this history, so which cases this run opened and which existed
already is decided once and survives replays and worker crashes; an activity retried
after a timeout would find its own earlier starts and count them "already open". The
children are abandoned when the match closes (ParentClosePolicy.ABANDON), so a case lives
its weeks on its own, and their ids are never reused (REJECT_DUPLICATE): a re-run of the
same month opens nothing twice, even for a case that has finished. A run starts at most
`cases_per_run` children, then continues as new with the rest, so its history stays small
(Temporal's advice for fan-out from one workflow).

Deterministic code only: the month comes from the schedule's time or the input, and the
case ids from the activity, which holds the HMAC key.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    import msgspec

    from kernel.china_time import local_date, month_of
    from workflows import ports
    from workflows.allowance_case import (
        MATCH_WORKFLOW,
        MEMO_PERSON_REF,
        PROACTIVE_CHANNEL,
        AllowanceMatchInput,
        AllowanceMatchSummary,
        MatchCarry,
        check_month,
    )
    from workflows.case import SA_AWAITING, SA_BUNDLE, SA_CENTRE, SA_CITIZEN, CaseStart
    from workflows.operator_view import case_details, case_memo, case_summary

# Children started at once; the server takes a batch of start commands per workflow task.
START_BATCH = 50
# Set by the server on every workflow a schedule starts: the time it was due, which names
# the month even when a run is late (a server down on the first catches up afterwards).
_SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)
_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)
_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
_CITIZEN = SearchAttributeKey.for_keyword(SA_CITIZEN)


@workflow.defn(name=MATCH_WORKFLOW)
class AllowanceMatchWorkflow:
    @workflow.run
    async def run(self, params: AllowanceMatchInput) -> AllowanceMatchSummary:
        if params.cases_per_run < 1:
            raise ApplicationError("cases_per_run: 1 or more", {"field": "cases_per_run"},
                                   type="InvalidField", non_retryable=True)
        carried = params.carried or await self._match(params)
        batch = carried.remaining[: params.cases_per_run]
        rest = carried.remaining[params.cases_per_run :]
        summary = carried.summary
        opened = list(summary.opened_cases)
        already_open = summary.already_open
        for at in range(0, len(batch), START_BATCH):
            chunk = batch[at : at + START_BATCH]
            started = await asyncio.gather(*(self._open(c, carried, params) for c in chunk))
            for candidate, new in zip(chunk, started, strict=True):
                if new:
                    opened.append(candidate.case_id)
                else:
                    already_open += 1
        summary = msgspec.structs.replace(
            summary, opened=len(opened), already_open=already_open, opened_cases=tuple(opened)
        )
        if rest:
            workflow.continue_as_new(
                msgspec.structs.replace(
                    params,
                    month=summary.month,
                    carried=msgspec.structs.replace(carried, remaining=rest, summary=summary),
                )
            )
        workflow.logger.info(
            "allowance match %s: %d candidates, %d opened, %d already open",
            summary.month, summary.candidates, summary.opened, summary.already_open,
        )
        return summary

    def _month(self, params: AllowanceMatchInput) -> str:
        if params.month is not None:
            if (wrong := check_month(params.month)) is not None:
                raise ApplicationError(f"month: {wrong}", {"field": "month"},
                                       type="InvalidField", non_retryable=True)
            return params.month
        info = workflow.info()
        scheduled: datetime | None = info.typed_search_attributes.get(_SCHEDULED_AT)
        return month_of(local_date(scheduled or info.start_time))

    async def _match(self, params: AllowanceMatchInput) -> MatchCarry:
        month = self._month(params)
        found: ports.AllowanceCandidates = await workflow.execute_activity(
            ports.FIND_ALLOWANCE_CANDIDATES,
            ports.AllowanceCandidatesRequest(month=month, bundle=params.bundle),
            result_type=ports.AllowanceCandidates,
            start_to_close_timeout=ports.ALLOWANCE_MATCH_TIMEOUT,
            retry_policy=ports.ALLOWANCE_RETRY,
        )
        return MatchCarry(
            bundle=found.bundle,
            calendar=found.calendar,
            remaining=found.to_open,
            summary=AllowanceMatchSummary(
                month=month,
                candidates=len(found.to_open) + found.already_open,
                opened=0,
                already_open=found.already_open,
            ),
        )

    async def _open(
        self, candidate: ports.AllowanceCandidate, carried: MatchCarry,
        params: AllowanceMatchInput,
    ) -> bool:
        """Start the candidate's case; False when a case with its id exists already."""
        try:
            await workflow.start_child_workflow(
                "BundleWorkflow",
                CaseStart(
                    case_id=candidate.case_id,
                    bundle=carried.bundle,
                    calendar=carried.calendar,
                    citizen_id_number=candidate.citizen_id_number,
                    centre=params.centre,
                    channel=PROACTIVE_CHANNEL,
                ),
                id=candidate.case_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(_BUNDLE, carried.bundle.id),
                    SearchAttributePair(_CENTRE, params.centre),
                    SearchAttributePair(_AWAITING, "lookup"),
                    # Found by the desk's search by ID number, as the gateway's cases are.
                    SearchAttributePair(_CITIZEN, candidate.person_ref),
                ]),
                memo={**case_memo(carried.bundle, params.centre),
                      MEMO_PERSON_REF: candidate.person_ref},
                static_summary=case_summary(carried.bundle, params.centre),
                static_details=case_details(carried.bundle, params.centre, PROACTIVE_CHANNEL),
            )
        except WorkflowAlreadyStartedError:
            return False
        return True
