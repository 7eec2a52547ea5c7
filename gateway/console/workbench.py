"""The clerk's workbench: the cases waiting on me, a case with what the system already
knows, the current step's form with only the missing fields to type, materials checked
against e-certificates before paper is asked for, and the one-time notice to print."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template
from temporalio.client import Client

from friction.events import FRICTION_KINDS
from friction.store import FrictionStore
from gateway import case_desk
from gateway.auth import current_account, requires
from gateway.case_desk import CASE_ID_PATTERN
from gateway.console.notice import closing_options, closure_rules, notice_items, tracking_code
from gateway.console.pages import N_, page, problem_field, problem_text, say, see_other
from gateway.notebook_api import NoteBody, log_case_note
from gateway.schemas import OpenCase
from workflows.calendar import WorkingCalendar
from workflows.case import (
    CLOSE_NOT_ELIGIBLE,
    RECORD_MATERIAL,
    RECORD_MILESTONE,
    RECORD_TRIP,
    SUBMIT_FIELDS,
    WITHDRAW,
    CaseProgress,
    FieldEntry,
    MaterialEntry,
    MilestoneEntry,
    NotEligibleEntry,
    TripEntry,
    WithdrawalEntry,
)
from workflows.definition import Catalogue

CaseId = Annotated[str, Parameter(pattern=CASE_ID_PATTERN, max_length=17)]
URL_ENCODED = Body(media_type=RequestEncodingType.URL_ENCODED)
FIELD_PREFIX = "f."  # form inputs of a step's fields, apart from the form's own inputs
NOTE_CATEGORIES = ("system", "form", "material", "entry", "policy", "other")
# The kinds a clerk's note may be about: every kind of friction but the register's (which
# has its own form) and a note's own. Derived, not copied: a copy once offered
# "physical_material_requested", a kind the notebook does not have, and refused the note.
NOTE_KINDS = tuple(k for k in FRICTION_KINDS if k not in ("cant_get_it_done", "clerk_note"))


class OpenCaseForm(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    citizen_id_number: str
    request_key: str  # made when the form was shown: a double submit opens one case
    channel: str = "window"


class MaterialForm(msgspec.Struct, kw_only=True, frozen=True):
    step: str
    material: str
    form: Literal["paper", "ecert"]


class MilestoneForm(msgspec.Struct, kw_only=True, frozen=True):
    step: str
    milestone: str
    actor: str = ""
    evidence_ref: str = ""


class ClosingForm(msgspec.Struct, kw_only=True, frozen=True):
    reason: str = ""


class NoteForm(msgspec.Struct, kw_only=True, frozen=True):
    category: str
    text: str
    about_kind: str = ""


def _bundles(catalogue: Catalogue) -> list[tuple[str, str, str]]:
    return [(b, catalogue.default(b).name_zh, catalogue.default(b).name_en)
            for b in sorted(catalogue.ids())]


class WorkbenchController(Controller):
    path = "/console/desk"
    guards = [requires("clerk")]

    @get("/")
    async def desk(
        self,
        request: Request[Any, Any, Any],
        temporal: NamedDependency[Client],
        catalogue: NamedDependency[Catalogue],
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Template:
        return await self._desk(request, temporal, catalogue, bundle)

    async def _desk(
        self,
        request: Request[Any, Any, Any],
        temporal: Client,
        catalogue: Catalogue,
        bundle: str | None,
        status_code: int = 200,
        error: ProblemDetailsException | None = None,
        typed: OpenCaseForm | None = None,
    ) -> Template:
        account = current_account(request)
        waiting = await case_desk.worklist(temporal, centre=account.centre, bundle=bundle or None)
        with_agency = await case_desk.worklist(
            temporal, centre=account.centre, bundle=bundle or None, awaiting="agency"
        )
        # Field workers use clerk accounts for now: their tasks are listed here too.
        with_worker = await case_desk.worklist(
            temporal, centre=account.centre, bundle=bundle or None, awaiting="worker"
        )
        return page(
            request, "desk.html", status_code=status_code,
            waiting=waiting.cases, with_agency=with_agency.cases,
            with_worker=with_worker.cases, bundles=_bundles(catalogue),
            chosen_bundle=bundle or "", centre=account.centre,
            request_key=secrets.token_urlsafe(16), typed=typed,
            error=problem_text(error) if error else None,
            error_field=problem_field(error) if error else None,
        )

    @post("/cases")
    async def open_case(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[OpenCaseForm, URL_ENCODED],
        temporal: NamedDependency[Client],
        catalogue: NamedDependency[Catalogue],
        calendar: NamedDependency[WorkingCalendar],
        task_queue: NamedDependency[str],
    ) -> Response[Any]:
        account = current_account(request)
        try:
            opened = await case_desk.open_case(
                temporal, catalogue, calendar, task_queue,
                OpenCase(bundle=data.bundle, citizen_id_number=data.citizen_id_number.strip(),
                         centre=account.centre or "", channel=data.channel),
                idempotency_key=f"console:{account.username}:{data.request_key}",
            )
        except ProblemDetailsException as exc:
            return await self._desk(request, temporal, catalogue, None, exc.status_code, exc,
                                    data)
        return see_other(f"/console/desk/cases/{opened.case_id}")

    @get("/cases/{case_id:str}")
    async def case(
        self, request: Request[Any, Any, Any], case_id: CaseId, temporal: NamedDependency[Client]
    ) -> Template:
        progress = await case_desk.case_progress(temporal, case_id)
        return self._case_page(request, progress)

    def _case_page(
        self,
        request: Request[Any, Any, Any],
        progress: CaseProgress,
        status_code: int = 200,
        error: ProblemDetailsException | None = None,
        typed: dict[str, str] | None = None,
    ) -> Template:
        current = next((s for s in progress.steps if s.id == progress.current_step), None)
        secret: bytes = request.app.state.secret
        account = current_account(request)
        can_close, can_withdraw = closing_options(progress)
        return page(
            request, "case.html", status_code=status_code, case=progress, step=current,
            can_close=can_close, can_withdraw=can_withdraw, closure_rules=closure_rules(progress),
            notice=notice_items(progress), typed=typed or {},
            worker_name=account.display_name or account.username,
            tracking_code=tracking_code(secret, progress.case_id),
            error=problem_text(error) if error else None,
            error_field=problem_field(error) if error else None,
            note_categories=NOTE_CATEGORIES, note_kinds=NOTE_KINDS,
            # A case with a lookup or an agency at work changes by itself: refresh the page.
            refresh=progress.status == "open" and progress.awaiting in ("lookup", "agency"),
        )

    async def _update(
        self,
        request: Request[Any, Any, Any],
        temporal: Client,
        case_id: str,
        name: str,
        entry: object,
        done: str,
        typed: dict[str, str] | None = None,
    ) -> Response[Any]:
        try:
            await case_desk.update_case(temporal, case_id, name, entry)
        except ProblemDetailsException as exc:
            # Show the refusal on the page, with what the clerk typed kept in the form.
            progress = await case_desk.case_progress(temporal, case_id)
            return self._case_page(request, progress, exc.status_code, exc, typed)
        say(request, done, "ok")
        return see_other(f"/console/desk/cases/{case_id}")

    @post("/cases/{case_id:str}/fields")
    async def submit_fields(
        self, request: Request[Any, Any, Any], case_id: CaseId, temporal: NamedDependency[Client]
    ) -> Response[Any]:
        form = await request.form()
        values = {
            key.removeprefix(FIELD_PREFIX): str(value).strip()
            for key, value in form.items()
            if key.startswith(FIELD_PREFIX) and str(value).strip()
        }
        try:
            timing = msgspec.json.decode(str(form.get("typed_seconds") or "{}"),
                                         type=dict[str, float])
        except msgspec.DecodeError:
            timing = {}  # the page's timing is a help for the burden, never a reason to refuse
        entry = FieldEntry(
            step=str(form.get("step", "")), values=values,
            # Only fields actually sent: the clerk may have typed and then cleared one.
            typed_seconds={k: round(v, 1) for k, v in timing.items() if k in values},
        )
        return await self._update(request, temporal, case_id, SUBMIT_FIELDS, entry,
                                  N_("Saved."), typed=values)

    @post("/cases/{case_id:str}/materials")
    async def record_material(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[MaterialForm, URL_ENCODED],
        temporal: NamedDependency[Client],
    ) -> Response[Any]:
        entry = MaterialEntry(step=data.step, material=data.material, form=data.form)
        done = (N_("Confirmed from the e-certificate.") if data.form == "ecert"
                else N_("Paper copy received."))
        return await self._update(request, temporal, case_id, RECORD_MATERIAL, entry, done)

    @post("/cases/{case_id:str}/trips")
    async def record_trip(
        self, request: Request[Any, Any, Any], case_id: CaseId, temporal: NamedDependency[Client]
    ) -> Response[Any]:
        form = await request.form()
        reasons = tuple(str(r) for r in form.getall("reasons")) if "reasons" in form else ()
        return await self._update(request, temporal, case_id, RECORD_TRIP,
                                  TripEntry(reasons=reasons), N_("Return visit recorded."))

    @post("/cases/{case_id:str}/milestones")
    async def record_milestone(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[MilestoneForm, URL_ENCODED],
        temporal: NamedDependency[Client],
    ) -> Response[Any]:
        account = current_account(request)
        entry = MilestoneEntry(
            step=data.step, milestone=data.milestone,
            actor=data.actor.strip() or account.display_name or account.username,
            evidence_ref=data.evidence_ref.strip() or None,
        )
        typed = {f"milestone.{data.milestone}.{k}": v for k, v in
                 (("actor", data.actor), ("evidence_ref", data.evidence_ref))}
        return await self._update(request, temporal, case_id, RECORD_MILESTONE, entry,
                                  N_("Milestone recorded."), typed=typed)

    @post("/cases/{case_id:str}/not-eligible")
    async def close_not_eligible(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[ClosingForm, URL_ENCODED],
        temporal: NamedDependency[Client],
    ) -> Response[Any]:
        entry = NotEligibleEntry(actor=current_account(request).username, reason=data.reason)
        return await self._update(request, temporal, case_id, CLOSE_NOT_ELIGIBLE, entry,
                                  N_("The case is closed as not eligible."),
                                  typed={"closing.reason": data.reason})

    @post("/cases/{case_id:str}/withdrawal")
    async def withdraw(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[ClosingForm, URL_ENCODED],
        temporal: NamedDependency[Client],
    ) -> Response[Any]:
        entry = WithdrawalEntry(actor=current_account(request).username,
                                reason=data.reason.strip() or None)
        return await self._update(request, temporal, case_id, WITHDRAW, entry,
                                  N_("The withdrawal is recorded; the case is closed."),
                                  typed={"withdrawal.reason": data.reason})

    @post("/cases/{case_id:str}/notes")
    async def log_note(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[NoteForm, URL_ENCODED],
        temporal: NamedDependency[Client],
        store: NamedDependency[FrictionStore],
    ) -> Response[Any]:
        account = current_account(request)
        body = NoteBody(category=data.category, text=data.text, actor=account.username,
                        about_kind=data.about_kind or None)
        try:
            await log_case_note(temporal, store, case_id, body)
        except ProblemDetailsException as exc:
            progress = await case_desk.case_progress(temporal, case_id)
            return self._case_page(request, progress, exc.status_code, exc)
        say(request, "Entry added to the error notebook.", "ok")
        return see_other(f"/console/desk/cases/{case_id}")

    @get("/cases/{case_id:str}/notice")
    async def notice(
        self, request: Request[Any, Any, Any], case_id: CaseId, temporal: NamedDependency[Client]
    ) -> Template:
        progress = await case_desk.case_progress(temporal, case_id)
        secret: bytes = request.app.state.secret
        return page(request, "notice.html", case=progress, notice=notice_items(progress),
                    tracking_code=tracking_code(secret, case_id))
