"""The notebook over HTTP, for the data bureau, developers, clerks and channels: the
ranked backlog with its lifecycle, a stuck point's evidence and trend, clerks' notes on a
case, reports per bundle, step or centre, the event log as OCEL 2.0, and the ingest of
channels outside Temporal. The work is gateway.notebook.service's; this module maps HTTP
to it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.response import Stream

from friction.backlog import TransitionRequest
from friction.ingest import BatchResult
from friction.reports import DEFAULT_MIN_GROUP, GroupBy, Report
from gateway.audit.recorder import access
from gateway.auth import current_account, requires
from gateway.cases.schemas import CaseId, NameQuery
from gateway.centres import centre_policy
from gateway.errors import invalid_field
from gateway.notebook.schemas import (
    MAX_BATCH_BYTES,
    MAX_BODY_BYTES,
    BacklogView,
    Fingerprint,
    Instant,
    NoteBody,
    StuckPointView,
    TransitionBody,
    TransitionMade,
)
from gateway.notebook.service import Notebook, parse_instant
from kernel.events import ClerkNote
from workflows.definition import Catalogue


def known_bundle(catalogue: Catalogue, bundle: str | None) -> None:
    """Refuse (422 naming `bundle`) a filter by a bundle the catalogue does not have."""
    if bundle is not None and bundle not in catalogue.ids():
        raise invalid_field("bundle", f"no bundle {bundle!r}")


class FrictionController(Controller):
    path = "/api/friction"
    opt = centre_policy("none")  # counts and stuck points: no case's personal data
    tags = ["friction"]
    # Online channels send their friction as services; clerks' consoles may too.
    guards = [requires("channel", "clerk")]

    @post("/events", status_code=200, summary="Ingest a batch of friction events",
          description="`{\"events\": [...]}`, each event checked on its own: the good "
          "ones are stored, each bad one is reported under `rejected` with its index. An "
          "event's `occurred_at` lies between 2000-01-01 and a day after it arrives.",
          request_max_body_size=MAX_BATCH_BYTES)
    async def ingest_events(
        self, request: Request[Any, Any, Any], notebook_service: Notebook
    ) -> BatchResult:
        return await notebook_service.ingest(await request.body(),
                                             current_account(request).username)


class BacklogController(Controller):
    path = "/api/friction"
    opt = centre_policy("none")  # counts and stuck points: no case's personal data
    tags = ("notebook",)
    guards = [requires("analyst", "developer")]
    request_max_body_size = MAX_BODY_BYTES

    @get("/backlog", summary="Stuck points ranked by burden, with their backlog items")
    async def backlog(
        self,
        notebook_service: Notebook,
        catalogue: NamedDependency[Catalogue],
        bundle: NameQuery = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> BacklogView:
        known_bundle(catalogue, bundle)
        entries = await notebook_service.backlog(bundle, limit)
        return BacklogView(entries=tuple(entries),
                           verification=notebook_service.policy.describe())

    @get("/stuck-points/{fingerprint:str}", summary="A stuck point: evidence, trend, history")
    async def stuck_point(
        self, fingerprint: Fingerprint, notebook_service: Notebook
    ) -> StuckPointView:
        return await notebook_service.stuck_point(fingerprint)

    @post("/backlog/{fingerprint:str}/transitions", status_code=201,
          summary="Move a backlog item: triage, start, deploy a fix, reopen",
          guards=[requires("developer")])
    async def transition(
        self,
        request: Request[Any, Any, Any],
        fingerprint: Fingerprint,
        data: JSONBody[TransitionBody],
        notebook_service: Notebook,
    ) -> TransitionMade:
        move = TransitionRequest(
            to_status=data.to_status, reason=data.reason, owner=data.owner,
            fix_description=data.fix_description, fix_deployed_at=data.fix_deployed_at,
        )
        return await notebook_service.transition(
            fingerprint, move, current_account(request).username, data.expected_status)

    @get("/ocel", summary="Cases and friction as an OCEL 2.0 event log (JSON)",
         media_type="application/json")
    async def ocel(
        self,
        notebook_service: Notebook,
        since: Instant = None,
        until: Instant = None,
    ) -> Stream:
        # Streamed with memory flat in the notebook's size. The store is read before the
        # response starts, so a database failure is a 500 problem; what can fail after
        # the 200 (a temporary file) raises out of the stream, and the server then drops
        # the connection without the chunked body's last chunk: a client sees a broken
        # transfer, never a short document that looks complete (nor valid JSON).
        start, end = parse_instant("since", since), parse_instant("until", until)
        log = await notebook_service.ocel(start, end)
        return Stream(log.chunks(), media_type="application/json")


class NotesController(Controller):
    path = "/api/cases"
    tags = ("notebook",)
    guards = [requires("clerk")]
    request_max_body_size = MAX_BODY_BYTES

    @post("/{case_id:str}/notes", status_code=201,
          summary="A clerk's notebook entry on a case, in the case's context",
          description="The writer is the logged-in account; an `actor` in the body is "
          "ignored. Only on a case of the clerk's centres or served from elsewhere.",
          opt=centre_policy("case") | access("write_note"))
    async def log_note(
        self, request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[NoteBody],
        notebook_service: Notebook,
    ) -> ClerkNote:
        return await notebook_service.log_case_note(
            case_id, data, current_account(request).username)


class ReportsController(Controller):
    path = "/api/reports"
    opt = centre_policy("none")  # counts and stuck points: no case's personal data
    tags = ("notebook",)
    guards = [requires("analyst", "developer")]

    @get("/", summary="Per bundle, step or centre: trips, working days, minutes, prefill")
    async def report(
        self,
        notebook_service: Notebook,
        catalogue: NamedDependency[Catalogue],
        group_by: Annotated[GroupBy, Parameter(description="what a row groups")] = "bundle",
        since: Instant = None,
        until: Instant = None,
        # Smaller groups could point at a few identifiable people.
        min_group: Annotated[int, Parameter(ge=DEFAULT_MIN_GROUP, le=1_000_000)] = (
            DEFAULT_MIN_GROUP),
        bundle: NameQuery = None,
    ) -> Report:
        known_bundle(catalogue, bundle)
        start, end = parse_instant("since", since), parse_instant("until", until)
        return await notebook_service.report(group_by, start, end, min_group, bundle)
