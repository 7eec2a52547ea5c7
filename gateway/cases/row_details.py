"""What a console row shows beyond the search attributes: the citizen's name, and the
current step's last day (`due_on`) and whether it is provisional. Since when the step
waits and when it is due come from search attributes (OtWaitingSince, OtDueDate); these
are read too, and preferred, when a case answers.

They are read from each shown case's progress, a query per case, bounded in number and
time: a case that does not answer in time is listed with its search attributes only. The
API's worklist never reads them (one list from visibility, however many cases are down);
the console's desk and a search do, for the rows they show."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date, datetime

import msgspec
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from workflows.bundle import BundleWorkflow
from workflows.case import CaseProgress

NAME_CONCEPT = "identity.name"
DETAIL_SECONDS = 2.0  # all the page's queries together, at most
PARALLEL_READS = 8


class Due(msgspec.Struct, kw_only=True, frozen=True):
    """The current step's promised end: `at` on the clock (a working-day SLA ends at the
    local midnight after its last day, `on`); provisional while its year's official
    schedule is unpublished."""

    at: datetime | None
    on: date | None = None
    provisional: bool = False

    def overdue(self, now: datetime) -> bool:
        return self.at is not None and now >= self.at


class RowDetails(msgspec.Struct, kw_only=True, frozen=True):
    citizen_name: str | None  # shown only to a clerk of the case's centre
    waiting_since: datetime | None
    due: Due


NO_DETAILS = RowDetails(citizen_name=None, waiting_since=None, due=Due(at=None))


def due_of(progress: CaseProgress) -> Due:
    """The current step's promised date, from the case's progress."""
    step = next((s for s in progress.steps if s.id == progress.current_step), None)
    if step is None:
        return Due(at=None)
    return Due(at=step.due_at, on=step.due_on, provisional=step.due_provisional)


def details_of(progress: CaseProgress) -> RowDetails:
    step = next((s for s in progress.steps if s.id == progress.current_step), None)
    name = progress.dossier.get(NAME_CONCEPT)
    return RowDetails(citizen_name=name.value if name else None,
                      waiting_since=step.started_at if step else None, due=due_of(progress))


async def read_details(temporal: Client, case_ids: Iterable[str]) -> dict[str, RowDetails]:
    """Each case's row details; NO_DETAILS for a case that did not answer in time. The
    reads share one deadline, DETAIL_SECONDS in all: a page of cases whose worker is down
    costs a clerk that long, not that long per case."""
    gate = asyncio.Semaphore(PARALLEL_READS)

    async def one(case_id: str) -> RowDetails:
        handle = temporal.get_workflow_handle_for(BundleWorkflow.run, case_id)
        async with gate:
            try:
                progress = await handle.query(BundleWorkflow.progress)
            except (RPCError, WorkflowQueryFailedError):
                return NO_DETAILS
        return details_of(progress)

    ids = list(dict.fromkeys(case_ids))
    if not ids:
        return {}
    reads = {i: asyncio.ensure_future(one(i)) for i in ids}
    _, late = await asyncio.wait(reads.values(), timeout=DETAIL_SECONDS)
    for read in late:
        read.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return {i: NO_DETAILS if read in late else read.result() for i, read in reads.items()}
