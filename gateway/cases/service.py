"""What the gateway does with a case, whoever asks: the API's controllers and the clerk's
console pages both open cases, read their progress, send them a clerk's input, close them
and list the worklist through CaseService, so the two never drift apart.

Calls into the case's workflow are typed: each update names BundleWorkflow's own method,
so its argument's type is the one the workflow takes.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

import msgspec
from litestar.di import NamedDependency
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from gateway.accounts import EVERY_CENTRE, Account, AccountBook
from gateway.auth import SERVICE_PREFIX
from gateway.cases.agency_wait import with_agency_wait
from gateway.cases.ended import ENDED, ENDED_QUERY, as_ended
from gateway.cases.lookup import (
    BUNDLE_CASES,
    CITIZEN,
    case_number_clause,
    centres_clause,
    citizen_clause,
    citizen_ref,
    open_cases_of,
)
from gateway.cases.row_details import NO_DETAILS, RowDetails, read_details
from gateway.cases.schemas import (
    CHANNELS,
    DEFAULT_CENTRES,
    MAX_FIELDS,
    MAX_VALUE_CHARS,
    CaseOpened,
    Found,
    OpenCase,
    Worklist,
    WorklistItem,
    WorklistOrder,
)
from gateway.centres import check_opening
from gateway.channels.service import OnlineEntries
from gateway.errors import check_name, from_temporal, invalid_field, problem
from gateway.shared_state import IdempotencyKeys
from kernel.case_number import CASE_ALPHABET, case_number, case_tail
from kernel.china_time import local_date
from workflows.bundle import BundleWorkflow
from workflows.calendar import WorkingCalendar
from workflows.case import (
    AWAITING_FAILED,
    SA_AWAITING,
    SA_BUNDLE,
    SA_CENTRE,
    SA_DUE_DATE,
    SA_STEP,
    SA_WAITING_SINCE,
    CaseAccess,
    CaseProgress,
    CaseStart,
    CrossCentreEntry,
    FieldEntry,
    MaterialEntry,
    MilestoneEntry,
    NotEligibleEntry,
    TripEntry,
    WithdrawalEntry,
)
from workflows.definition import Catalogue
from workflows.fields import check_id_number
from workflows.operator_view import case_details, case_memo, case_summary

_BUNDLE = SearchAttributeKey.for_keyword(SA_BUNDLE)
_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)
_AWAITING = SearchAttributeKey.for_keyword(SA_AWAITING)
_STEP = SearchAttributeKey.for_keyword(SA_STEP)
# The most cases a list reads from visibility to sort and page; beyond it the list says
# there are more and asks for a filter (a desk with a thousand cases waiting needs one).
MAX_LISTED = 1000
MAX_FOUND = 50  # cases a search shows at most, saying when there are more
_DUE_DATE = SearchAttributeKey.for_datetime(SA_DUE_DATE)
_WAITING_SINCE = SearchAttributeKey.for_datetime(SA_WAITING_SINCE)

Entry = TypeVar("Entry")
FAILED_LISTED_FOR = timedelta(days=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ClosingOutcome = Literal["not_eligible", "withdrawn"]
CaseHandle = WorkflowHandle[BundleWorkflow, CaseProgress]


OVERDUE_MARGIN = timedelta(seconds=1)


def worklist_query(
    *, awaiting: str, scope: Collection[str], now: datetime, overdue_only: bool = False
) -> str:
    """The visibility query of a worklist of cases waiting on `awaiting` within `scope`
    (clauses naming centres and bundle); "" when it can list nothing. With "clerk", the
    cases that failed in the last FAILED_LISTED_FOR too; `overdue_only`: the open ones
    due at or before `now` (Due.overdue), by the gateway's clock."""
    since = (datetime.now(UTC) - FAILED_LISTED_FOR).isoformat()
    failed = (f"({BUNDLE_CASES} AND CloseTime > '{since}' "
              f"AND ({SA_AWAITING} = '{AWAITING_FAILED}' OR {ENDED_QUERY}))")
    # A second's margin: the dev server's SQLite visibility compares instants as text and
    # misses one due exactly now, other stores may round; the list judges each row
    # exactly (Due.overdue) after.
    before = (now + OVERDUE_MARGIN).astimezone(UTC).isoformat()
    due = f" AND {SA_DUE_DATE} < '{before}'" if overdue_only else ""
    running = f"(ExecutionStatus = 'Running' AND {SA_AWAITING} = '{awaiting}'{due})"
    if overdue_only:
        failed = ""  # a failed case has no step running late
    which = {"clerk": f"({running} OR {failed})" if failed else running,
             "failed": failed}.get(awaiting, running)
    return " AND ".join([which, *scope]) if which else ""


def actor_of(account: Account, on_behalf_of: str | None) -> str:
    """Who did it, as a case records it: the logged-in account; a service account acting
    for a person says so ("<person> via service:<name>"), a person's account never
    speaks for another (422 naming `on_behalf_of`)."""
    person = (on_behalf_of or "").strip()
    if not person:
        return account.username
    if not account.username.startswith(SERVICE_PREFIX):
        raise invalid_field("on_behalf_of", "only a service account acts for someone: "
                            "leave it out, the logged-in account is recorded")
    if len(person) > 24:
        raise invalid_field("on_behalf_of", "at most 24 characters")
    return f"{person} via {account.username}"


class KnownCentres:
    """The service centres of the installation: those configured (ONETHING_CENTRES) and
    every centre an account of its book works at, read afresh as the book changes."""

    def __init__(self, configured: Collection[str], accounts: AccountBook) -> None:
        self._configured = tuple(configured)
        self._accounts = accounts

    def _all(self) -> list[str]:
        found = dict.fromkeys(self._configured)
        for account in self._accounts.all():
            found.update(dict.fromkeys(c for c in account.centres if c != EVERY_CENTRE))
        return list(found)

    def __contains__(self, centre: object) -> bool:
        return centre in self._configured or centre in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def new_case_id(now: datetime, idempotency_key: str | None) -> str:
    """A case number a citizen can read out: date plus eight characters. With an
    idempotency key the same request always names the same case."""
    if idempotency_key:
        tail = case_tail(hashlib.sha256(idempotency_key.encode()).digest())
    else:
        tail = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return case_number(local_date(now), tail)


class CaseService:
    """Cases as Temporal holds them. `calendar` is asked for the calendar as published
    now only when a case opens; `entries` is the online channel's, None for a desk that
    takes no online starts; `centres` the service centres of the installation."""

    def __init__(
        self,
        temporal: Client,
        catalogue: Catalogue,
        calendar: Callable[[], WorkingCalendar],
        task_queue: str,
        entries: OnlineEntries | None = None,
        centres: Collection[str] = DEFAULT_CENTRES,
        keys: IdempotencyKeys | None = None,
        *,
        citizen_key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.temporal = temporal
        self._keys = keys
        self._citizen_key = citizen_key
        self._now = clock
        self.catalogue = catalogue
        self._calendar = calendar
        self._task_queue = task_queue
        self._entries = entries
        self.centres = centres

    def check_centre(self, centre: str) -> None:
        """Refuse (422 naming `centre`) a centre this installation does not have."""
        check_name("centre", centre)
        if centre not in self.centres:
            raise invalid_field("centre", f"no service centre {centre!r} here (one of "
                                f"{', '.join(self.centres)})")

    def _handle(self, case_id: str) -> CaseHandle:
        return self.temporal.get_workflow_handle_for(BundleWorkflow.run, case_id)

    async def open(
        self, data: OpenCase, idempotency_key: str | None, opener: Account
    ) -> CaseOpened:
        """Open a case at one of `opener`'s centres. An online start's entry is checked
        against the channel's service catalogue, and what it tells the notebook recorded
        once the case exists."""
        catalogue, entries = self.catalogue, self._entries
        if data.bundle not in catalogue.ids():
            raise invalid_field("bundle", f"no bundle {data.bundle!r}")
        now = datetime.now(UTC)
        if (wrong := check_id_number(data.citizen_id_number, local_date(now))) is not None:
            raise invalid_field("citizen_id_number", wrong)
        # The console's form reaches here without the API's decoding: check it all again.
        self.check_centre(data.centre)
        check_opening(opener, data.centre)
        if data.channel not in CHANNELS:
            raise invalid_field("channel", f"one of {', '.join(CHANNELS)}")
        if data.bundle_version is None:
            definition = catalogue.default(data.bundle)
        elif data.bundle_version in catalogue.versions(data.bundle):
            definition = catalogue.get(data.bundle, data.bundle_version)
        else:
            raise invalid_field(
                "bundle_version", f"{data.bundle} has versions {catalogue.versions(data.bundle)}"
            )
        if data.entry is not None:
            if entries is None:
                raise invalid_field("entry", "this desk takes no entry: it is not an online "
                                    "channel")
            entries.check(data)
        # A retry names the case its first request opened, whichever gateway opened it
        # and on whichever day (the number carries its day; the key's answer stays).
        known = None
        if idempotency_key and self._keys is not None:
            known = await self._keys.answered(idempotency_key)
        case_id = known or new_case_id(now, idempotency_key)
        ref = citizen_ref(data.citizen_id_number, self._citizen_key)
        if not data.confirm_duplicate:
            await self._refuse_duplicate(ref, definition.id, case_id)
        try:
            await self.temporal.start_workflow(
                BundleWorkflow.run,
                CaseStart(
                    case_id=case_id,
                    bundle=definition,
                    calendar=self._calendar(),
                    citizen_id_number=data.citizen_id_number.upper(),
                    centre=data.centre,
                    channel=data.channel,
                ),
                id=case_id,
                # A case number names one case for good: a retried request arriving after
                # the case closed (an online case can close within a second) must not open
                # it again.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                task_queue=self._task_queue,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(_BUNDLE, definition.id),
                        SearchAttributePair(_CENTRE, data.centre),
                        SearchAttributePair(_AWAITING, "lookup"),
                        SearchAttributePair(CITIZEN, ref),
                    ]
                ),
                # What operators read in Temporal's UI: bundle, steps and centre only.
                memo=case_memo(definition, data.centre),
                static_summary=case_summary(definition, data.centre),
                static_details=case_details(definition, data.centre, data.channel),
            )
        except WorkflowAlreadyStartedError:
            if idempotency_key is None:
                raise
            # The same request again: the case already exists, answer with it.
        if idempotency_key and self._keys is not None and known is None:
            await self._keys.remember(idempotency_key, case_id)
        if entries is not None and data.entry is not None:
            await entries.record(case_id, definition, data, now)  # idempotent: one per case
        return CaseOpened(case_id=case_id, bundle=definition.id,
                          bundle_version=definition.version)

    async def _refuse_duplicate(self, ref: str, bundle: str, case_id: str) -> None:
        """A second open case of the same bundle for the same citizen is refused (409
        naming the open one in `existing_case`) unless the clerk confirms it; the same
        request again (its idempotency key names `case_id`) is no second case."""
        found = await open_cases_of(self.temporal, ref, bundle)
        existing = [e.id for e in found if e.id != case_id]
        if existing:
            raise problem(409, "An open case of this bundle already",
                          f"the citizen already has case {existing[0]} of {bundle} open; "
                          "send confirm_duplicate=true to open another",
                          field="confirm_duplicate", existing_case=existing[0])

    async def progress(self, case_id: str) -> CaseProgress:
        """The case's progress; failed, with the cause, if its run ended unfinished."""
        return (await self.progress_and_centre(case_id))[0]

    async def progress_and_centre(self, case_id: str) -> tuple[CaseProgress, str | None]:
        """The case's progress (as ended.as_ended corrects it) and the service centre it
        was opened at (a search attribute the gateway set), read together."""
        handle = self._handle(case_id)
        try:
            progress, described = await asyncio.gather(
                handle.query(BundleWorkflow.progress), handle.describe()
            )
        except RPCError as exc:
            raise from_temporal(case_id, exc) from exc
        progress = as_ended(progress, described.status, described.close_time)
        progress = with_agency_wait(progress, described)
        return progress, described.typed_search_attributes.get(_CENTRE)

    async def opened_as(self, case_id: str) -> CaseStart | None:
        """How the bundle case with this number was opened (its definition, centre and
        channel), read from its history's first event so that no worker need answer; None
        when Temporal holds no such case (a closed case past retention may live on in the
        notebook)."""
        handle = self._handle(case_id)
        try:
            async for event in handle.fetch_history_events(page_size=1):
                started = event.workflow_execution_started_event_attributes
                if started.workflow_type.name != "BundleWorkflow":
                    return None
                (start,) = await self.temporal.data_converter.decode(
                    started.input.payloads, [CaseStart])
                return start if isinstance(start, CaseStart) else None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise from_temporal(case_id, exc) from exc
        return None

    async def _update(
        self,
        case_id: str,
        update: UpdateMethodMultiParam[[BundleWorkflow, Entry], CaseProgress],
        entry: Entry,
    ) -> CaseProgress:
        try:
            return await self._handle(case_id).execute_update(update, entry)
        except (WorkflowUpdateFailedError, RPCError) as exc:
            raise from_temporal(case_id, exc) from exc

    async def submit_fields(self, case_id: str, entry: FieldEntry) -> CaseProgress:
        # The console's form reaches here without the API's decoding: bound it again, as
        # a value Temporal's payload limit refuses would stop the case for everyone.
        if len(entry.values) > MAX_FIELDS or any(
            len(v) > MAX_VALUE_CHARS for v in entry.values.values()
        ):
            raise invalid_field("values", f"at most {MAX_FIELDS} values of at most "
                                f"{MAX_VALUE_CHARS} characters")
        return await self._update(case_id, BundleWorkflow.submit_fields, entry)

    async def record_material(self, case_id: str, entry: MaterialEntry) -> CaseProgress:
        return await self._update(case_id, BundleWorkflow.record_material, entry)

    async def record_trip(self, case_id: str, entry: TripEntry) -> CaseProgress:
        return await self._update(case_id, BundleWorkflow.record_trip, entry)

    async def record_milestone(self, case_id: str, entry: MilestoneEntry) -> CaseProgress:
        return await self._update(case_id, BundleWorkflow.record_milestone, entry)

    async def serve_elsewhere(self, case_id: str, entry: CrossCentreEntry) -> CaseAccess:
        """Record that a clerk of another centre serves the case (通办), and why."""
        try:
            return await self._handle(case_id).execute_update(
                BundleWorkflow.serve_elsewhere, entry)
        except (WorkflowUpdateFailedError, RPCError) as exc:
            raise from_temporal(case_id, exc) from exc

    async def close(
        self, case_id: str, outcome: ClosingOutcome, actor: str, reason: str | None
    ) -> CaseProgress:
        """Close the case as not eligible (a reason required) or record the citizen's
        withdrawal (a reason optional, blank is none); `actor` is the logged-in account."""
        if outcome == "not_eligible":
            entry = NotEligibleEntry(actor=actor, reason=reason or "")
            return await self._update(case_id, BundleWorkflow.close_not_eligible, entry)
        withdrawal = WithdrawalEntry(actor=actor, reason=(reason or "").strip() or None)
        return await self._update(case_id, BundleWorkflow.withdraw, withdrawal)

    def _scope(self, centres: tuple[str, ...] | None, bundle: str | None) -> list[str]:
        """The clauses limiting a list to `centres` (None: every centre) and `bundle`,
        both checked against what exists (422 naming the field)."""
        clauses: list[str] = []
        if centres is not None:
            for centre in centres:
                self.check_centre(centre)
            clauses.append(centres_clause(centres))
        if bundle is not None:
            if bundle not in self.catalogue.ids():
                raise invalid_field("bundle", f"no bundle {bundle!r}")
            clauses.append(f"{SA_BUNDLE} = '{bundle}'")
        return clauses

    async def worklist(
        self,
        *,
        centres: tuple[str, ...] | None,
        bundle: str | None,
        awaiting: str = "clerk",
        limit: int = 100,
        page: int = 1,
        overdue_only: bool = False,
        with_names: bool = False,
        order: WorklistOrder = "opened",
    ) -> Worklist:
        """One page of `limit` cases waiting on `awaiting` at `centres` (None: every
        centre), oldest first; with "clerk", then the cases that failed in the last
        FAILED_LISTED_FOR ("failed": only those). `overdue_only`: the open cases past
        their current step's promised date (OtDueDate, a visibility clause). Each open
        case says since when it waits (OtWaitingSince; null for a case started before
        it existed) and when it is due (`due_at`, `overdue`), all from search attributes:
        the list asks no case anything, so cases whose worker is down cost it nothing.
        `with_names` (the console's desk, for a clerk of the case's centre: the caller
        decides who sees it) reads each shown open case's progress for the citizen's name,
        `due_on` and `due_provisional`, all the reads bounded by one deadline; without it
        those stay null and false. `order` "due": open cases nearest promised date first,
        those without one last."""
        if centres is not None and not centres:
            return Worklist(cases=(), page=page, page_size=limit, total=0)
        query = worklist_query(awaiting=awaiting, scope=self._scope(centres, bundle),
                               now=self._now(), overdue_only=overdue_only)
        if not query:
            return Worklist(cases=(), page=page, page_size=limit, total=0)
        items, complete = await self._listed(query)
        # Open cases first, oldest first; then the failed ones, latest first.
        waiting = sorted((i for i in items if i.status == "open"),
                         key=lambda i: i.opened_at or _EPOCH)
        if overdue_only:  # visibility's clause has a margin: judged exactly here
            waiting = [i for i in waiting if i.overdue]
        if order == "due":  # stable: cases due the same instant stay oldest first
            waiting.sort(key=lambda i: (i.due_at is None, i.due_at or _EPOCH))
        gone = sorted((i for i in items if i.status == "failed"),
                      key=lambda i: i.closed_at or _EPOCH, reverse=True)
        listed = [*waiting, *gone]
        shown = listed[(page - 1) * limit:page * limit]
        if with_names:
            details = await read_details(self.temporal, (i.case_id for i in shown
                                                         if i.status == "open"))
            shown = [self._with_details(i, details.get(i.case_id), with_names) for i in shown]
        # A case that failed in its own code says why in its progress.
        # Reading a closed case replays its history on a worker: the latest few only, each
        # bounded in time, so a long list of failures never holds the worklist up.
        looked_up = [i for i in shown if i.status == "failed" and i.cause is None]
        looked_up = looked_up[:MAX_CAUSE_LOOKUPS]
        found = dict(zip([i.case_id for i in looked_up],
                         await asyncio.gather(*(self._with_cause(i) for i in looked_up)),
                         strict=True))
        return Worklist(cases=tuple(found.get(i.case_id, i) for i in shown), page=page,
                        page_size=limit, total=len(listed), complete=complete)

    def _with_details(
        self, item: WorklistItem, details: RowDetails | None, with_name: bool
    ) -> WorklistItem:
        """An open row with what its case's progress said; a case that did not answer
        keeps what its search attributes said."""
        if item.status != "open" or details is None or details is NO_DETAILS:
            return item
        due_at = details.due.at or item.due_at
        return msgspec.structs.replace(
            item, waiting_since=details.waiting_since or item.waiting_since, due_at=due_at,
            due_on=details.due.on, due_provisional=details.due.provisional,
            overdue=due_at is not None and self._now() >= due_at,
            citizen_name=details.citizen_name if with_name else None)

    async def _listed(self, query: str) -> tuple[list[WorklistItem], bool]:
        """The cases `query` names, as their search attributes say (at most MAX_LISTED;
        False when there were more)."""
        items: list[WorklistItem] = []
        now = self._now()
        async for execution in self.temporal.list_workflows(query, limit=MAX_LISTED + 1):
            attrs = execution.typed_search_attributes
            ended = execution.status != WorkflowExecutionStatus.RUNNING
            due_at = None if ended else attrs.get(_DUE_DATE)
            items.append(
                WorklistItem(
                    case_id=execution.id,
                    bundle=attrs.get(_BUNDLE),
                    centre=attrs.get(_CENTRE),
                    awaiting="nobody" if ended else attrs.get(_AWAITING),
                    step=attrs.get(_STEP),
                    opened_at=execution.start_time,
                    status="failed" if ended else "open",
                    cause=ENDED.get(execution.status) if execution.status else None,
                    closed_at=execution.close_time,
                    waiting_since=None if ended else attrs.get(_WAITING_SINCE),
                    due_at=due_at,
                    overdue=due_at is not None and now >= due_at,
                )
            )
        return items[:MAX_LISTED], len(items) <= MAX_LISTED

    async def find(
        self,
        *,
        centres: tuple[str, ...] | None,
        case_number: str | None = None,
        citizen_id_number: str | None = None,
        with_names: bool = False,
    ) -> Found:
        """Bundle cases of `centres` by case number (whole or its start) or by the
        citizen's ID number (as its keyed reference), newest first, at most MAX_FOUND;
        the open ones with their current step's dates (and, `with_names`, the citizen's
        name: for the console's clerk of the case's centre)."""
        if (case_number is None) == (citizen_id_number is None):
            raise invalid_field("case_id", "give a case number or an ID number, one of them")
        if citizen_id_number is not None:
            wanted = citizen_id_number.strip().upper()
            if (wrong := check_id_number(wanted, local_date(self._now()))) is not None:
                raise invalid_field("citizen_id_number", wrong)
            which = citizen_clause(citizen_ref(wanted, self._citizen_key))
        else:
            which = case_number_clause(case_number or "")
        if centres is not None and not centres:
            return Found(cases=(), more=False)
        query = " AND ".join([BUNDLE_CASES, which, *self._scope(centres, None)])
        items: list[WorklistItem] = []
        now = self._now()
        async for execution in self.temporal.list_workflows(query, limit=MAX_FOUND + 1):
            attrs = execution.typed_search_attributes
            running = execution.status == WorkflowExecutionStatus.RUNNING
            due_at = attrs.get(_DUE_DATE) if running else None
            items.append(WorklistItem(
                case_id=execution.id, bundle=attrs.get(_BUNDLE), centre=attrs.get(_CENTRE),
                awaiting=attrs.get(_AWAITING) if running else "nobody",
                step=attrs.get(_STEP), opened_at=execution.start_time,
                status="open" if running else "closed", closed_at=execution.close_time,
                waiting_since=attrs.get(_WAITING_SINCE) if running else None,
                due_at=due_at, overdue=due_at is not None and now >= due_at))
        items.sort(key=lambda i: i.opened_at or _EPOCH, reverse=True)
        shown = items[:MAX_FOUND]
        details = await read_details(self.temporal, (i.case_id for i in shown
                                                     if i.status == "open"))
        return Found(cases=tuple(self._with_details(i, details.get(i.case_id), with_names)
                                 for i in shown), more=len(items) > MAX_FOUND)

    async def _with_cause(self, item: WorklistItem) -> WorklistItem:
        if item.status != "failed" or item.cause is not None:
            return item
        try:
            progress = await asyncio.wait_for(
                self._handle(item.case_id).query(BundleWorkflow.progress),
                timeout=CAUSE_LOOKUP_SECONDS)
        except (RPCError, TimeoutError):
            return item  # shown as failed; the case page says why once it can be read
        failure = progress.failure
        return msgspec.structs.replace(item, cause=failure.cause if failure else None)


# The failed cases of a worklist whose cause is read from the case, and how long each read
# may take (beyond either, the case is listed as failed and its page says why).
MAX_CAUSE_LOOKUPS = 20
CAUSE_LOOKUP_SECONDS = 2.0
# Seconds before asking a case again whose query buffer was cleared; None: give up.
ACCESS_QUERY_RETRIES: tuple[float | None, ...] = (0.05, 0.2, 0.5, None)


async def case_access(temporal: Client, case_id: str) -> CaseAccess:
    """The case's home centre and who serves it from elsewhere, for the centre policy."""
    handle = temporal.get_workflow_handle_for(BundleWorkflow.run, case_id)
    for pause in ACCESS_QUERY_RETRIES:
        try:
            return await handle.query(BundleWorkflow.access)
        except RPCError as exc:
            # A query that arrives while many updates reach the case may find its buffer
            # cleared ("please retry"); a query writes nothing, so asking again is safe.
            if exc.status != RPCStatusCode.UNAVAILABLE or pause is None:
                raise from_temporal(case_id, exc) from exc
        except WorkflowQueryFailedError as exc:  # a worker older than the access query
            raise problem(503, "Case service unavailable", f"case {case_id} could not say "
                          "whose it is; try again", case_id=case_id) from exc
        await asyncio.sleep(pause)
    raise AssertionError("unreachable: the last pause is None")


def provide_case_service(
    temporal: NamedDependency[Client],
    catalogue: NamedDependency[Catalogue],
    calendar_source: NamedDependency[Callable[[], WorkingCalendar]],
    task_queue: NamedDependency[str],
    online_entries: NamedDependency[OnlineEntries],
    centres: NamedDependency[KnownCentres],
    idempotency_keys: NamedDependency[IdempotencyKeys],
    pseudonym_key: NamedDependency[bytes],
    clock: NamedDependency[Callable[[], datetime]],
) -> CaseService:
    """The request's CaseService, from the app's dependencies (Provide in gateway.app)."""
    return CaseService(temporal, catalogue, calendar_source, task_queue, online_entries,
                       centres, idempotency_keys, citizen_key=pseudonym_key, clock=clock)


# A handler takes the service as `case_service: Cases`; the parameter's name is the key.
Cases = NamedDependency[CaseService]
