"""What the gateway does with the notebook, whoever asks: the API's controllers and the
console's backlog, dashboard and workbench pages read and move it through
NotebookService, and its refusals become the same problem details for both."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import msgspec
from litestar.di import NamedDependency
from litestar.plugins.problem_details import ProblemDetailsException

from friction import notebook
from friction.backlog import BacklogEntry, BacklogItem, LifecycleError, Status, TransitionRequest
from friction.dashboard import (
    Dashboard,
    DashboardFilter,
    FilterOptions,
    build_dashboard,
    filter_options,
)
from friction.ingest import BatchResult, decode_indexed, ingest
from friction.notebook import NOTE_CATEGORIES, NOTE_KINDS
from friction.ocel import PreparedOcel
from friction.reports import DEFAULT_MIN_GROUP, GroupBy, Report
from friction.store import ConflictError, FrictionStore
from friction.verification import VerificationPolicy
from gateway.cases.service import CaseService
from gateway.errors import check_name, invalid_field, problem
from gateway.notebook import channel_events
from gateway.notebook.schemas import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_NOTE_CHARS,
    OTHER_SUBJECT,
    NoteBody,
    StuckPointView,
    TransitionMade,
    note_subjects,
)
from kernel.china_time import CHINA_TZ
from kernel.events import ClerkNote, subject_of
from workflows.case import CaseProgress

MAX_CASE_ID_CHARS = 64
# The instants a report or an export may ask about.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def refused(exc: ValueError) -> ProblemDetailsException:
    """The notebook's refusal as a 422 naming the field it names first."""
    field = notebook.field_of(exc)
    if field is None:
        return problem(422, "Invalid input", str(exc))
    return invalid_field(field, str(exc).partition(":")[2].strip())


def parse_instant(field: str, value: str | None) -> datetime | None:
    """A query parameter as an instant: a date is China-local midnight, a time must carry
    its offset (a naive one could be read two ways)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), CHINA_TZ)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise invalid_field(field, "a date (YYYY-MM-DD) or a time with offset") from exc
    if moment.tzinfo is None:
        raise invalid_field(field, "a time needs its offset, e.g. +08:00")
    if not EARLIEST <= moment < LATEST:
        raise invalid_field(field, f"between {EARLIEST.date()} and {LATEST.date()}")
    return moment


class NotebookService:
    """The notebook's store, the policy its verifier judges fixes by, and the cases a
    clerk's note is about."""

    def __init__(
        self, store: FrictionStore, policy: VerificationPolicy, cases: CaseService
    ) -> None:
        self.store = store
        self.policy = policy
        self._cases = cases

    async def backlog(self, bundle: str | None, limit: int) -> list[BacklogEntry]:
        """Stuck points ranked by burden. A read: the verifier has run on the gateway's
        schedule and when a fix was deployed."""
        return await asyncio.to_thread(notebook.backlog, self.store, bundle, limit)

    async def owners(self) -> list[str]:
        """Every owner a backlog item names, sorted."""
        items = await asyncio.to_thread(self.store.backlog_items)
        return sorted({i.owner for i in items.values() if i.owner})

    async def trends(self, since: date, split: date, until: date) -> dict[str, int]:
        """Each stuck point's events in [split, until) less those in [since, split)."""
        counts = await asyncio.to_thread(self.store.recent_counts, since, split, until)
        return {fp: recent - before for fp, (recent, before) in counts.items()}

    async def stuck_point(self, fingerprint: str) -> StuckPointView:
        """A stuck point's evidence, trend and history; 404 for none. Reads only."""
        store = self.store

        def read() -> StuckPointView:
            point = store.stuck_point(fingerprint)
            if point is None:
                raise problem(404, "No such stuck point", f"no stuck point {fingerprint}")
            return StuckPointView(
                point=point,
                item=store.backlog_item(fingerprint) or BacklogItem(fingerprint=fingerprint),
                trend_by_day=tuple(store.trend(fingerprint, "day")),
                trend_by_week=tuple(store.trend(fingerprint, "week")),
                transitions=tuple(store.transitions(fingerprint)),
            )

        return await asyncio.to_thread(read)

    async def transition(
        self,
        fingerprint: str,
        request: TransitionRequest,
        actor: str,
        expected_status: Status | None,
    ) -> TransitionMade:
        """Move a backlog item: 422 for a move the lifecycle refuses, 409 when the item
        moved meanwhile (from `expected_status`), 404 for no such stuck point."""
        try:
            item, made = await asyncio.to_thread(
                notebook.transition, self.store, fingerprint, request, actor,
                datetime.now(UTC), expected_status, self.policy,
            )
        except LifecycleError as exc:
            raise refused(exc) from exc
        except ConflictError as exc:
            raise problem(409, "Changed meanwhile", str(exc)) from exc
        except notebook.NotFoundError as exc:
            raise problem(404, "No such stuck point", str(exc)) from exc
        return TransitionMade(item=item, transition=made)

    async def log_case_note(self, case_id: str, data: NoteBody, actor: str) -> ClerkNote:
        """A clerk's notebook entry by `actor` (the logged-in account), given the case's
        context: its bundle, step and centre."""
        if data.category not in NOTE_CATEGORIES:
            raise invalid_field("category", f"one of {', '.join(NOTE_CATEGORIES)}")
        if data.about_kind is not None and data.about_kind not in NOTE_KINDS:
            raise invalid_field("about_kind", f"one of {', '.join(NOTE_KINDS)}")
        check_name("subject", data.subject, required=False)
        if not data.text.strip() or len(data.text) > MAX_NOTE_CHARS:
            raise invalid_field("text", f"1-{MAX_NOTE_CHARS} characters")
        progress, centre = await self._cases.progress_and_centre(case_id)
        if data.subject is not None:
            await self._check_subject(case_id, progress, data.subject)
        steps = [s.id for s in progress.steps]
        step = data.step or progress.current_step
        if step is None:  # closed: the last step the case reached
            step = next((s.id for s in reversed(progress.steps) if s.started_at), None)
        if data.step is not None and data.step not in steps:
            raise invalid_field("step", f"the case's steps are {', '.join(steps)}")
        note = ClerkNote(
            event_id=notebook.note_id(case_id, actor, data.category, data.text,
                                      data.subject, data.about_kind, step),
            occurred_at=datetime.now(UTC),
            case_id=case_id,
            bundle=progress.bundle,
            bundle_version=progress.bundle_version,
            step=step,
            centre=centre,
            category=data.category,
            text=data.text,
            subject=data.subject,
            about_kind=data.about_kind,
            actor=actor,
        )
        try:
            return await asyncio.to_thread(notebook.log_note, self.store, note)
        except notebook.InputError as exc:
            raise refused(exc) from exc

    async def _check_subject(self, case_id: str, progress: CaseProgress, subject: str) -> None:
        """A note's subject is what the case's definition names (a step, a field, a
        material, the service), what its friction so far is about, or "other" with the
        text saying what: so notes join stuck points rather than mint them."""
        catalogue = self._cases.catalogue
        if progress.bundle_version in catalogue.versions(progress.bundle):
            definition = catalogue.get(progress.bundle, progress.bundle_version)
        else:  # a version this gateway does not carry: its current one names the same things
            definition = catalogue.default(progress.bundle)
        if subject in note_subjects(definition):
            return
        events = await asyncio.to_thread(self.store.events_for_case, case_id)
        if subject not in {subject_of(e) for e in events}:
            raise invalid_field(
                "subject", f"name a step, field or material of {definition.id}, what the "
                f"case's friction is about, or {OTHER_SUBJECT!r} (and say what in the text)")

    async def ingest(self, raw: bytes, account: str) -> BatchResult:
        """A batch of friction events from a channel outside Temporal, sent by `account`
        (the logged-in one): stored under ids in its namespace, each event that names a
        case checked against it. A batch none of whose events is taken is a 422 naming
        the first one's field."""
        if len(raw) > MAX_BATCH_BYTES:
            raise problem(413, "Batch too large", f"at most {MAX_BATCH_BYTES} bytes")
        try:
            # No event is dated before the platforms existed or after a day past now:
            # the rollups count by day and week, and a year 9999 breaks them.
            decoded, errors = decode_indexed(raw, latest=datetime.now(UTC) + timedelta(days=1))
        except ValueError as exc:
            raise problem(400, "Malformed batch", str(exc), field="events") from exc
        if len(decoded) + len(errors) > MAX_BATCH_EVENTS:
            raise invalid_field("events", f"at most {MAX_BATCH_EVENTS} events a batch")
        named = channel_events.cases_named(decoded)
        if len(named) > channel_events.MAX_CASES_PER_BATCH:
            raise problem(413, "Batch too large", f"at most "
                          f"{channel_events.MAX_CASES_PER_BATCH} cases a batch", field="events")
        known = await asyncio.gather(*(self._known_case(c) for c in named))
        events, refused = channel_events.vet(decoded, account, dict(zip(named, known,
                                                                        strict=True)),
                                             self._cases.catalogue)
        errors = sorted(errors + refused, key=lambda e: e.index)
        result = await asyncio.to_thread(ingest, self.store, events)
        if errors and not (result.stored or result.duplicates):
            first = errors[0]
            raise problem(422, "Invalid events", f"events[{first.index}]: {first.error}",
                          field=first.field or "events",
                          rejected=[msgspec.to_builtins(e) for e in errors])
        return BatchResult(stored=result.stored, duplicates=result.duplicates, rejected=errors)

    async def _known_case(self, case_id: str) -> channel_events.KnownCase | None:
        """The case a channel's event names, as Temporal holds it or, once Temporal has
        let a closed case go, as the notebook's case record has it."""
        if len(case_id) > MAX_CASE_ID_CHARS:
            return None
        opened = await self._cases.opened_as(case_id)
        if opened is not None:
            return channel_events.KnownCase(
                bundle=opened.bundle.id, bundle_version=opened.bundle.version,
                centre=opened.centre, steps=tuple(s.id for s in opened.bundle.steps))
        recorded = await asyncio.to_thread(self.store.case_bundle, case_id)
        return None if recorded is None else channel_events.KnownCase(bundle=recorded)

    async def ocel(self, since: datetime | None, until: datetime | None) -> PreparedOcel:
        """Cases and friction as an OCEL 2.0 event log (JSON), read from the store now
        (so its failure is an ordinary error response) and sorted through temporary
        files: its chunks() are what the response streams."""
        return await asyncio.to_thread(
            lambda: PreparedOcel(self.store.iter_cases(since, until),
                                 self.store.iter_events(since, until))
        )

    async def filter_options(self) -> FilterOptions:
        """The bundles and centres the dashboard's filter may choose from."""
        return await asyncio.to_thread(filter_options, self.store)

    async def dashboard(self, flt: DashboardFilter, top: int) -> Dashboard:
        """The data bureau's figures for `flt`, small groups withheld."""
        return await asyncio.to_thread(
            lambda: build_dashboard(self.store, flt, top=top, min_group=DEFAULT_MIN_GROUP)
        )

    async def report(
        self,
        group_by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        min_group: int,
        bundle: str | None,
    ) -> Report:
        try:
            return await asyncio.to_thread(
                notebook.report, self.store, group_by, since, until, min_group, bundle
            )
        except notebook.InputError as exc:
            raise refused(exc) from exc


def provide_notebook_service(
    store: NamedDependency[FrictionStore],
    verification_policy: NamedDependency[VerificationPolicy],
    case_service: NamedDependency[CaseService],
) -> NotebookService:
    """The request's NotebookService, from the app's dependencies (Provide in gateway.app)."""
    return NotebookService(store, verification_policy, case_service)


# A handler takes the service as `notebook_service: Notebook`; the parameter's name is the key.
Notebook = NamedDependency[NotebookService]
