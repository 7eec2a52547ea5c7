"""The clerk's workbench: the cases waiting on me, a case with what the system already
knows, the current step's form with only the missing fields to type, materials checked
against e-certificates before paper is asked for, and the one-time notice to print.

A clerk sees the cases of the centres they work at; a case of another centre is served
only after saying why (通办). Each handler declares its centre policy (gateway.centres)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from friction.notebook import NOTE_CATEGORIES, NOTE_KINDS
from gateway.audit.recorder import access, audited_case
from gateway.auth import current_account, requires
from gateway.cases.schemas import CaseId, OpenCase
from gateway.cases.service import Cases, CaseService, ClosingOutcome, actor_of
from gateway.centre_directory import centre_of
from gateway.centres import centre_policy, listed_centres
from gateway.console.notice import closing_options, closure_rules, notice_items, tracking_code
from gateway.console.pages import (
    N_,
    page,
    problem_field,
    refusal_words,
    say,
    see_other,
    tr,
)
from gateway.console.qr import qr_svg
from gateway.notebook.schemas import NoteBody
from gateway.notebook.service import Notebook
from kernel.case_number import CASE_ID_PATTERN
from kernel.china_time import local_date
from workflows.case import (
    CaseProgress,
    CrossCentreEntry,
    FieldEntry,
    MaterialEntry,
    MilestoneEntry,
    TripEntry,
)
from workflows.definition import Catalogue

URL_ENCODED = Body(media_type=RequestEncodingType.URL_ENCODED)
FIELD_PREFIX = "f."  # form inputs of a step's fields, apart from the form's own inputs
# What the page says once a case is closed, and the closing form on it (to keep its reason).
CLOSINGS: dict[ClosingOutcome, tuple[str, str]] = {
    "not_eligible": (N_("The case is closed as not eligible."), "closing"),
    "withdrawn": (N_("The withdrawal is recorded; the case is closed."), "withdrawal"),
}
CASE = centre_policy("case")
DESK = "/console/desk"


class OpenCaseForm(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    citizen_id_number: str
    request_key: str  # made when the form was shown: a double submit opens one case
    channel: str = "window"
    centre: str = ""  # one of the clerk's centres; blank: the desk's own (the first)


class MaterialForm(msgspec.Struct, kw_only=True, frozen=True):
    step: str
    material: str
    form: Literal["paper", "ecert"]


class MilestoneForm(msgspec.Struct, kw_only=True, frozen=True):
    step: str
    milestone: str
    evidence_ref: str = ""  # who did it is the logged-in account, never a typed name


class ClosingForm(msgspec.Struct, kw_only=True, frozen=True):
    reason: str = ""


class CrossCentreForm(msgspec.Struct, kw_only=True, frozen=True):
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

    @get("/", opt=centre_policy("own_centres"))
    async def desk(
        self,
        request: Request[Any, Any, Any],
        case_service: Cases,
        bundle: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Template:
        return await self._desk(request, case_service, bundle)

    async def _desk(
        self,
        request: Request[Any, Any, Any],
        cases: CaseService,
        bundle: str | None,
        status_code: int = 200,
        error: ProblemDetailsException | None = None,
        typed: OpenCaseForm | None = None,
    ) -> Template:
        account = current_account(request)
        # Field workers use clerk accounts for now: their tasks are listed here too.
        centres = listed_centres(account, None)
        waiting, with_agency, with_worker = [
            await cases.worklist(centres=centres, bundle=bundle or None, awaiting=on)
            for on in ("clerk", "agency", "worker")
        ]
        return page(
            request, "desk.html", status_code=status_code,
            waiting=[i for i in waiting.cases if i.status == "open"],
            failed=[i for i in waiting.cases if i.status == "failed"],
            with_agency=with_agency.cases,
            with_worker=with_worker.cases, bundles=_bundles(cases.catalogue),
            chosen_bundle=bundle or "", centre=account.centre, centres=account.centres,
            request_key=secrets.token_urlsafe(16), typed=typed,
            error=refusal_words(request, error) if error else None,
            error_field=problem_field(error) if error else None,
        )

    @post("/cases", opt=centre_policy("opening") | access("open_case"))
    async def open_case(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[OpenCaseForm, URL_ENCODED],
        case_service: Cases,
    ) -> Response[Any]:
        account = current_account(request)
        try:
            opened = await case_service.open(
                OpenCase(bundle=data.bundle, citizen_id_number=data.citizen_id_number.strip(),
                         centre=data.centre or account.centre or "", channel=data.channel),
                idempotency_key=f"console:{account.username}:{data.request_key}",
                opener=account,
            )
        except ProblemDetailsException as exc:
            return await self._desk(request, case_service, None, exc.status_code, exc, data)
        audited_case(request, opened.case_id)
        return see_other(f"/console/desk/cases/{opened.case_id}")

    @get("/find", opt=centre_policy("none"))
    async def find(
        self, request: Request[Any, Any, Any],
        case_id: Annotated[str, Parameter(max_length=40)] = "",
    ) -> Response[Any]:
        """A case by its number (a citizen from another centre brings it): its page, which
        offers a clerk of another centre to serve it here."""
        wanted = case_id.strip().upper()
        if not re.fullmatch(CASE_ID_PATTERN, wanted):
            say(request, N_("A case number looks like 20260301-ABCD2345."), "error")
            return see_other(DESK)
        return see_other(f"{DESK}/cases/{wanted}")

    @get("/cases/{case_id:str}", opt=CASE | access("read_case"))
    async def case(
        self, request: Request[Any, Any, Any], case_id: CaseId, case_service: Cases
    ) -> Template:
        return self._case_page(request, await case_service.progress(case_id))

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
            worker_name=account.username,  # what a milestone recorded here names
            tracking_code=tracking_code(secret, progress.case_id),
            error=refusal_words(request, error, progress.bundle, progress.current_step)
            if error else None,
            error_field=problem_field(error) if error else None,
            note_categories=NOTE_CATEGORIES, note_kinds=NOTE_KINDS,
            # A case with a lookup or an agency at work changes by itself: refresh the page.
            refresh=progress.status == "open" and progress.awaiting in ("lookup", "agency"),
        )

    async def _done(
        self,
        request: Request[Any, Any, Any],
        cases: CaseService,
        case_id: str,
        change: Awaitable[object],
        done: str,
        typed: dict[str, str] | None = None,
    ) -> Response[Any]:
        """The case's page again after `change`: with what was done said, or with the
        refusal beside its field and what the clerk typed kept in the form."""
        try:
            await change
        except ProblemDetailsException as exc:
            progress = await cases.progress(case_id)
            return self._case_page(request, progress, exc.status_code, exc, typed)
        say(request, done, "ok")
        return see_other(f"/console/desk/cases/{case_id}")

    @post("/cases/{case_id:str}/fields", opt=CASE | access("submit_fields"))
    async def submit_fields(
        self, request: Request[Any, Any, Any], case_id: CaseId, case_service: Cases
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
        return await self._done(request, case_service, case_id,
                                case_service.submit_fields(case_id, entry), N_("Saved."),
                                typed=values)

    @post("/cases/{case_id:str}/materials", opt=CASE | access("record_material"))
    async def record_material(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[MaterialForm, URL_ENCODED],
        case_service: Cases,
    ) -> Response[Any]:
        entry = MaterialEntry(step=data.step, material=data.material, form=data.form)
        done = (N_("Confirmed from the e-certificate.") if data.form == "ecert"
                else N_("Paper copy received."))
        return await self._done(request, case_service, case_id,
                                case_service.record_material(case_id, entry), done)

    @post("/cases/{case_id:str}/trips", opt=CASE | access("record_trip"))
    async def record_trip(
        self, request: Request[Any, Any, Any], case_id: CaseId, case_service: Cases
    ) -> Response[Any]:
        form = await request.form()
        reasons = tuple(str(r) for r in form.getall("reasons")) if "reasons" in form else ()
        again = form.get("again_today") == "yes"
        said = str(form.get("again_today_reason") or "").strip()
        entry = TripEntry(reasons=reasons, again_today=again,
                          again_today_reason=said if again else None,
                          actor=actor_of(current_account(request), None))
        return await self._done(request, case_service, case_id,
                                case_service.record_trip(case_id, entry),
                                N_("Return visit recorded."))

    @post("/cases/{case_id:str}/milestones", opt=CASE | access("record_milestone"))
    async def record_milestone(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[MilestoneForm, URL_ENCODED],
        case_service: Cases,
    ) -> Response[Any]:
        entry = MilestoneEntry(
            step=data.step, milestone=data.milestone,
            actor=actor_of(current_account(request), None),
            evidence_ref=data.evidence_ref.strip() or None,
        )
        typed = {f"milestone.{data.milestone}.evidence_ref": data.evidence_ref}
        return await self._done(request, case_service, case_id,
                                case_service.record_milestone(case_id, entry),
                                N_("Milestone recorded."), typed=typed)

    @post("/cases/{case_id:str}/not-eligible", opt=CASE | access("close_case"))
    async def close_not_eligible(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[ClosingForm, URL_ENCODED],
        case_service: Cases,
    ) -> Response[Any]:
        return await self._close(request, case_service, case_id, "not_eligible", data.reason)

    @post("/cases/{case_id:str}/withdrawal", opt=CASE | access("close_case"))
    async def withdraw(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[ClosingForm, URL_ENCODED],
        case_service: Cases,
    ) -> Response[Any]:
        return await self._close(request, case_service, case_id, "withdrawn", data.reason)

    async def _close(
        self,
        request: Request[Any, Any, Any],
        cases: CaseService,
        case_id: str,
        outcome: ClosingOutcome,
        reason: str,
    ) -> Response[Any]:
        done, form = CLOSINGS[outcome]
        closing = cases.close(case_id, outcome, current_account(request).username, reason)
        return await self._done(request, cases, case_id, closing, done,
                                typed={f"{form}.reason": reason})

    @post("/cases/{case_id:str}/notes", opt=CASE | access("write_note"))
    async def log_note(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[NoteForm, URL_ENCODED],
        case_service: Cases,
        notebook_service: Notebook,
    ) -> Response[Any]:
        body = NoteBody(category=data.category, text=data.text,
                        about_kind=data.about_kind or None)
        writer = current_account(request).username
        return await self._done(request, case_service, case_id,
                                notebook_service.log_case_note(case_id, body, writer),
                                N_("Entry added to the error notebook."))

    @get("/cases/{case_id:str}/notice", opt=CASE | access("read_notice"))
    async def notice(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        case_service: Cases,
        catalogue: NamedDependency[Catalogue],
    ) -> Template:
        progress = await case_service.progress(case_id)
        secret: bytes = request.app.state.secret
        definition = catalogue.get(progress.bundle, progress.bundle_version)
        track_url = str(request.base_url).rstrip("/") + "/track"
        started = next((s.started_at for s in progress.steps if s.started_at), None)
        opened = local_date(started) if started else None  # the day, in China
        return page(request, "notice.html", case=progress, notice=notice_items(progress),
                    tracking_code=tracking_code(secret, case_id), bundle=definition,
                    centre=centre_of(progress.centre), opened=opened,
                    clerk=current_account(request).display_name, track_url=track_url,
                    qr=qr_svg(track_url, tr(request, "Tracking address")))

    @post("/cases/{case_id:str}/cross-centre",
          opt=centre_policy("cross_centre") | access("serve_elsewhere"))
    async def serve_elsewhere(
        self,
        request: Request[Any, Any, Any],
        case_id: CaseId,
        data: Annotated[CrossCentreForm, URL_ENCODED],
        case_service: Cases,
    ) -> Response[Any]:
        """Serve another centre's case here (通办): recorded with the reason, then its page."""
        account = current_account(request)
        entry = CrossCentreEntry(actor=account.username, centre=account.centre or "",
                                 reason=data.reason)
        try:
            await case_service.serve_elsewhere(case_id, entry)
        except ProblemDetailsException as exc:
            return page(request, "elsewhere.html", status_code=exc.status_code,
                        case_id=case_id, may_serve=True, reason=data.reason,
                        error=refusal_words(request, exc))
        say(request, N_("Served here across centres; the home centre sees why."), "ok")
        return see_other(f"{DESK}/cases/{case_id}")
