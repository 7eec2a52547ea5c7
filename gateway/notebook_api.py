"""The notebook's loop over HTTP, for the data bureau and developers: the ranked backlog
with its lifecycle, a stuck point's evidence and trend, clerks' notes on a case, the
can't-get-it-done register, reports per bundle, step or centre, and the event log as
OCEL 2.0. The work is in friction.notebook; this module maps HTTP to it and its errors
to problem details that name the field at fault.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from friction import notebook
from friction.backlog import (
    BacklogEntry,
    BacklogItem,
    LifecycleError,
    Status,
    Transition,
    TransitionRequest,
)
from friction.events import ClerkNote
from friction.ocel import encode
from friction.register import CantGetItDoneRecord
from friction.reports import DEFAULT_MIN_GROUP, Report
from friction.store import ConflictError, FrictionStore
from friction.stuck_points import StuckPoint, TrendPoint
from friction.verification import VerificationPolicy
from gateway import register_desk
from gateway.auth import current_account, requires
from gateway.cases import CaseId, IdempotencyKey
from gateway.errors import from_temporal, invalid_field, problem
from workflows.calendar import CHINA_TZ, WorkingCalendar
from workflows.case import PROGRESS, SA_CENTRE, CaseProgress
from workflows.register_case import RegisterProgress, ResolutionEntry, TaskForceEntry

_CENTRE = SearchAttributeKey.for_keyword(SA_CENTRE)
# Names that end up inside a fingerprint ("kind|bundle|step|subject") and in URL paths.
_NAME = r"^[^|/]{1,64}$"
MAX_NOTE_CHARS = 2000
GROUP_BYS = ("bundle", "step", "centre")

Fingerprint = Annotated[str, Parameter(min_length=7, max_length=400)]
# A register entry may come from a channel outside the platform, so any plain case number.
RegisterCaseId = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]


class BacklogView(msgspec.Struct, kw_only=True, frozen=True):
    entries: tuple[BacklogEntry, ...]
    verification: str  # the policy the verifier judges fixes by


class StuckPointView(msgspec.Struct, kw_only=True, frozen=True):
    point: StuckPoint
    item: BacklogItem
    trend_by_day: tuple[TrendPoint, ...]
    trend_by_week: tuple[TrendPoint, ...]
    transitions: tuple[Transition, ...]


class TransitionBody(msgspec.Struct, kw_only=True, frozen=True):
    to_status: Status
    reason: str
    actor: str
    owner: str | None = None
    fix_description: str | None = None
    fix_deployed_at: datetime | None = None
    expected_status: Status | None = None  # the status the caller saw; 409 if it moved


class TransitionMade(msgspec.Struct, kw_only=True, frozen=True):
    item: BacklogItem
    transition: Transition


class NoteBody(msgspec.Struct, kw_only=True, frozen=True):
    category: str
    text: str
    actor: str
    about_kind: str | None = None
    subject: str | None = None
    step: str | None = None  # default: the case's current step


class RegisterBody(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str = ""  # an existing case's number; none for a walk-in
    bundle: str
    centre: str
    department: str
    cause: str
    step: str | None = None
    # A walk-in with no case yet: registered under a WALKIN- number the register makes.
    walk_in: bool = False


class ResolutionBody(msgspec.Struct, kw_only=True, frozen=True):
    resolution: str
    explanation: str
    actor: str


class Register(msgspec.Struct, kw_only=True, frozen=True):
    cases: tuple[notebook.RegisterEntry, ...]


def refused(exc: ValueError) -> ProblemDetailsException:
    field = notebook.field_of(exc)
    if field is None:
        return problem(422, "Invalid input", str(exc))
    return invalid_field(field, str(exc).partition(":")[2].strip())


def _conflict(exc: ConflictError) -> ProblemDetailsException:
    return problem(409, "Changed meanwhile", str(exc))


def _name(field: str, value: str | None, required: bool = True) -> None:
    if value is None and not required:
        return
    if value is None or not re.fullmatch(_NAME, value) or not value.strip():
        raise invalid_field(field, "1-64 characters, without '|' or '/'")


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
    return moment


async def log_case_note(
    temporal: Client, store: FrictionStore, case_id: str, data: NoteBody
) -> ClerkNote:
    """A clerk's notebook entry, given the case's context: its bundle, step and centre."""
    _name("category", data.category)
    _name("subject", data.subject, required=False)
    _name("actor", data.actor)
    if not data.text.strip() or len(data.text) > MAX_NOTE_CHARS:
        raise invalid_field("text", f"1-{MAX_NOTE_CHARS} characters")
    handle = temporal.get_workflow_handle(case_id)
    try:
        # The note carries the case's context: its bundle, step and centre.
        progress, described = await asyncio.gather(
            handle.query(PROGRESS, result_type=CaseProgress), handle.describe()
        )
    except RPCError as exc:
        raise from_temporal(case_id, exc) from exc
    steps = [s.id for s in progress.steps]
    step = data.step or progress.current_step
    if step is None:  # closed: the last step the case reached
        step = next((s.id for s in reversed(progress.steps) if s.started_at), None)
    if data.step is not None and data.step not in steps:
        raise invalid_field("step", f"the case's steps are {', '.join(steps)}")
    note = ClerkNote(
        event_id=notebook.note_id(case_id, data.actor, data.category, data.text,
                                  data.subject, data.about_kind, step),
        occurred_at=datetime.now(UTC),
        case_id=case_id,
        bundle=progress.bundle,
        bundle_version=progress.bundle_version,
        step=step,
        centre=described.typed_search_attributes.get(_CENTRE),
        category=data.category,
        text=data.text,
        subject=data.subject,
        about_kind=data.about_kind,
        actor=data.actor,
    )
    try:
        return await asyncio.to_thread(notebook.log_note, store, note)
    except notebook.InputError as exc:
        raise refused(exc) from exc


class BacklogController(Controller):
    path = "/api/friction"
    tags = ("notebook",)
    guards = [requires("analyst", "developer")]

    @get("/backlog", summary="Stuck points ranked by burden, with their backlog items")
    async def backlog(
        self,
        store: NamedDependency[FrictionStore],
        verification_policy: NamedDependency[VerificationPolicy],
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> BacklogView:
        # A read: the verifier has run on its schedule and when a fix was deployed.
        entries = await asyncio.to_thread(notebook.backlog, store, bundle, limit)
        return BacklogView(entries=tuple(entries), verification=verification_policy.describe())

    @get("/stuck-points/{fingerprint:str}", summary="A stuck point: evidence, trend, history")
    async def stuck_point(
        self, fingerprint: Fingerprint, store: NamedDependency[FrictionStore]
    ) -> StuckPointView:
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

    @post("/backlog/{fingerprint:str}/transitions", status_code=201,
          summary="Move a backlog item: triage, start, deploy a fix, reopen",
          guards=[requires("developer")])
    async def transition(
        self,
        fingerprint: Fingerprint,
        data: JSONBody[TransitionBody],
        store: NamedDependency[FrictionStore],
        verification_policy: NamedDependency[VerificationPolicy],
    ) -> TransitionMade:
        request = TransitionRequest(
            to_status=data.to_status, reason=data.reason, owner=data.owner,
            fix_description=data.fix_description, fix_deployed_at=data.fix_deployed_at,
        )
        try:
            item, made = await asyncio.to_thread(
                notebook.transition, store, fingerprint, request, data.actor,
                datetime.now(UTC), data.expected_status, verification_policy,
            )
        except LifecycleError as exc:
            raise refused(exc) from exc
        except ConflictError as exc:
            raise _conflict(exc) from exc
        except notebook.NotFoundError as exc:
            raise problem(404, "No such stuck point", str(exc)) from exc
        return TransitionMade(item=item, transition=made)

    @get("/ocel", summary="Cases and friction as an OCEL 2.0 event log (JSON)",
         media_type="application/json")
    async def ocel(
        self,
        store: NamedDependency[FrictionStore],
        since: Annotated[str | None, Parameter(max_length=40)] = None,
        until: Annotated[str | None, Parameter(max_length=40)] = None,
    ) -> Response[bytes]:
        start, end = parse_instant("since", since), parse_instant("until", until)
        log = await asyncio.to_thread(lambda: encode(notebook.export_ocel(store, start, end)))
        return Response(content=log, media_type="application/json")


class NotesController(Controller):
    path = "/api/cases"
    tags = ("notebook",)
    guards = [requires("clerk")]

    @post("/{case_id:str}/notes", status_code=201,
          summary="A clerk's notebook entry on a case, in the case's context")
    async def log_note(
        self,
        case_id: CaseId,
        data: JSONBody[NoteBody],
        temporal: NamedDependency[Client],
        store: NamedDependency[FrictionStore],
    ) -> ClerkNote:
        return await log_case_note(temporal, store, case_id, data)


class CantGetItDoneController(Controller):
    """The register's cases run as workflows (gateway.register_desk); the list reads the
    register in the notebook's store, which those workflows write."""

    path = "/api/cant-get-it-done"
    tags = ("notebook",)

    @post("/", summary="Register a case that cannot get done (办不成事)",
          description="`case_id` must name an existing case (422 naming `case_id` "
          "otherwise). A walk-in with no case yet is registered with `walk_in: true` and "
          "no `case_id`, under a `WALKIN-<date>-<eight>` number the register makes (the "
          "same one for a repeated request with the same `Idempotency-Key`).",
          guards=[requires("clerk")])
    async def register(
        self,
        data: JSONBody[RegisterBody],
        temporal: NamedDependency[Client],
        store: NamedDependency[FrictionStore],
        calendar: NamedDependency[WorkingCalendar],
        task_queue: NamedDependency[str],
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[CantGetItDoneRecord]:
        if data.walk_in and data.case_id:
            raise invalid_field("case_id", "a walk-in has no case number yet: leave it out")
        if not data.walk_in and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}",
                                                 data.case_id):
            raise invalid_field("case_id", "a case number: letters, digits and '-' (or "
                                "walk_in: true for a walk-in with no case yet)")
        for field in ("bundle", "centre", "department"):
            _name(field, getattr(data, field))
        _name("step", data.step, required=False)
        if data.walk_in:
            # A key names a request of one caller: another caller's same key is another.
            scoped = f"api:{current_account(request).username}:{idempotency_key}" \
                if idempotency_key else None
            case_id = register_desk.walk_in_number(datetime.now(UTC), scoped)
        else:
            case_id = data.case_id
            await register_desk.check_case(temporal, store, case_id, data.bundle)
        record, created = await register_desk.register_case(
            temporal, calendar, task_queue, case_id=case_id, bundle=data.bundle,
            step=data.step, centre=data.centre, department=data.department, cause=data.cause,
        )
        # 201 for a new registration, 200 for a repeated one (same record back).
        return Response(content=record, status_code=201 if created else 200)

    @get("/{case_id:str}", summary="A registered case: status, deadline, task force, "
         "escalations, answer", guards=[requires("clerk", "analyst")])
    async def case(
        self, case_id: RegisterCaseId, temporal: NamedDependency[Client]
    ) -> RegisterProgress:
        return await register_desk.register_progress(temporal, case_id)

    @post("/{case_id:str}/task-force", status_code=200,
          summary="Assign the task force that finds the cause and answers",
          guards=[requires("clerk")])
    async def assign_task_force(
        self,
        case_id: RegisterCaseId,
        data: JSONBody[TaskForceEntry],
        temporal: NamedDependency[Client],
        store: NamedDependency[FrictionStore],
        calendar: NamedDependency[WorkingCalendar],
        task_queue: NamedDependency[str],
    ) -> RegisterProgress:
        desk = register_desk.Desk(temporal, store, calendar, task_queue)
        return await register_desk.assign_task_force(desk, case_id, data)

    @post("/{case_id:str}/resolution", status_code=200,
          summary="Answer a registered case: resolved, or documented as not possible",
          guards=[requires("clerk")])
    async def resolve(
        self,
        case_id: RegisterCaseId,
        data: JSONBody[ResolutionBody],
        temporal: NamedDependency[Client],
        store: NamedDependency[FrictionStore],
        calendar: NamedDependency[WorkingCalendar],
        task_queue: NamedDependency[str],
    ) -> CantGetItDoneRecord:
        _name("actor", data.actor)
        desk = register_desk.Desk(temporal, store, calendar, task_queue)
        entry = ResolutionEntry(
            resolution=data.resolution, explanation=data.explanation, actor=data.actor
        )
        return await register_desk.resolve_case(desk, case_id, entry)

    @get("/", summary="The register, oldest first, with each case's age in working days",
         guards=[requires("clerk", "analyst")])
    async def register_list(
        self,
        store: NamedDependency[FrictionStore],
        calendar: NamedDependency[WorkingCalendar],
        open_only: Annotated[bool, Parameter(description="only cases not yet answered")] = False,
    ) -> Register:
        entries = await asyncio.to_thread(
            notebook.cant_get_it_done_cases, store, calendar, datetime.now(UTC), open_only
        )
        return Register(cases=tuple(entries))


class ReportsController(Controller):
    path = "/api/reports"
    tags = ("notebook",)
    guards = [requires("analyst", "developer")]

    @get("/", summary="Per bundle, step or centre: trips, working days, minutes, prefill")
    async def report(
        self,
        store: NamedDependency[FrictionStore],
        group_by: Annotated[str, Parameter(max_length=16)] = "bundle",
        since: Annotated[str | None, Parameter(max_length=40)] = None,
        until: Annotated[str | None, Parameter(max_length=40)] = None,
        min_group: Annotated[str, Parameter(max_length=8)] = str(DEFAULT_MIN_GROUP),
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Report:
        if group_by not in GROUP_BYS:
            raise invalid_field("group_by", f"one of {', '.join(GROUP_BYS)}")
        if not min_group.isdigit() or int(min_group) < DEFAULT_MIN_GROUP:
            # Smaller groups could point at a few identifiable people.
            raise invalid_field("min_group", f"a whole number of at least {DEFAULT_MIN_GROUP}")
        start, end = parse_instant("since", since), parse_instant("until", until)
        try:
            return await asyncio.to_thread(
                notebook.report, store, group_by, start, end, int(min_group), bundle  # type: ignore[arg-type]
            )
        except notebook.InputError as exc:
            raise refused(exc) from exc


ROUTE_HANDLERS: tuple[Any, ...] = (
    BacklogController,
    NotesController,
    CantGetItDoneController,
    ReportsController,
)
