"""The activity of the monthly allowance match: who is due the allowance for residents
aged 80+ and not yet paid, and what each one's case is called.

Civil affairs answers with ID numbers (household data matched against its payments). The
case number of each is derived here, with the worker's HMAC key (ONETHING_PSEUDONYM_KEY),
so the key never enters a workflow's history and no id, search attribute, memo or log
line holds an ID number. A resident whose case from an earlier month is still open is not
opened again: open cases carry the keyed reference of their citizen in their memo.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.agency_calls import AgencyCalls, counted
from kernel.case_number import allowance_case_id
from kernel.pseudonym import keyed_ref
from workflows import ports
from workflows.allowance_case import MEMO_PERSON_REF, check_month
from workflows.calendar import WorkingCalendar
from workflows.calendar_source import PublishedCalendar
from workflows.case import SA_BUNDLE
from workflows.definition import Catalogue

ALLOWANCE_AGENCY = "civil-affairs"


class _Candidates(msgspec.Struct, frozen=True):
    as_of: str
    candidates: tuple[str, ...]


class AllowanceCalls(AgencyCalls):
    def __init__(
        self,
        agency_urls: dict[str, str],
        http: httpx.AsyncClient,
        client: Client,
        pseudonym_key: bytes | None,
        catalogue: Catalogue | None = None,
        calendar: Callable[[], WorkingCalendar] | None = None,
    ) -> None:
        super().__init__(agency_urls, http)
        self._client = client
        self._key = pseudonym_key
        self._catalogue = catalogue
        # The calendar as published when each month's match runs (PublishedCalendar).
        self._calendar = calendar or PublishedCalendar()

    @activity.defn(name=ports.FIND_ALLOWANCE_CANDIDATES)
    async def find_allowance_candidates(
        self, request: ports.AllowanceCandidatesRequest
    ) -> ports.AllowanceCandidates:
        if not self._key:
            raise ApplicationError(
                "the worker has no pseudonym key (ONETHING_PSEUDONYM_KEY): cases of the "
                "allowance match are named by a keyed HMAC", type="NoPseudonymKey",
                non_retryable=True)
        if (wrong := check_month(request.month)) is not None:
            raise ApplicationError(f"month: {wrong}", {"field": "month"}, type="InvalidField",
                                   non_retryable=True)
        # Definitions and calendar as deployed now: this month's cases start on them.
        catalogue = self._catalogue or Catalogue.load()
        calendar = self._calendar()
        if request.bundle not in catalogue.ids():
            raise ApplicationError(f"bundle: no bundle {request.bundle!r}", {"field": "bundle"},
                                   type="InvalidField", non_retryable=True)
        with counted(ALLOWANCE_AGENCY, ports.FIND_ALLOWANCE_CANDIDATES):
            response = await self._http.get(
                self._url(ALLOWANCE_AGENCY, "allowance-candidates"),
                params={"as_of": request.month},
            )
            self._raise_for(response)
        due = msgspec.json.decode(response.content, type=_Candidates).candidates
        open_refs = await self._open_case_refs(request.bundle)
        to_open: list[ports.AllowanceCandidate] = []
        already_open = 0
        for id_number in sorted(set(due)):
            ref = keyed_ref(id_number, self._key)
            if ref in open_refs:
                already_open += 1
                continue
            to_open.append(ports.AllowanceCandidate(
                case_id=allowance_case_id(request.month, id_number, self._key),
                person_ref=ref,
                citizen_id_number=id_number,
            ))
        activity.logger.info("allowance candidates for %s: %d to open, %d with an open case",
                             request.month, len(to_open), already_open)
        return ports.AllowanceCandidates(
            bundle=catalogue.default(request.bundle),
            calendar=calendar,
            to_open=tuple(to_open),
            already_open=already_open,
        )

    async def _open_case_refs(self, bundle: str) -> set[str]:
        """Whose cases of the bundle are open, by keyed reference. Visibility lags a
        little behind: a case started seconds ago may be missing, which the workflow's
        deterministic case ids cover within a month."""
        if "'" in bundle:
            raise ApplicationError("bundle: no quotes", {"field": "bundle"},
                                   type="InvalidField", non_retryable=True)
        query = (f"WorkflowType = 'BundleWorkflow' AND {SA_BUNDLE} = '{bundle}' "
                 "AND ExecutionStatus = 'Running'")
        refs: set[str] = set()
        async for execution in self._client.list_workflows(query):
            ref = (await execution.memo()).get(MEMO_PERSON_REF)
            if isinstance(ref, str):
                refs.add(ref)
        return refs
