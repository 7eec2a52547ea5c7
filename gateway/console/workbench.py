"""The clerk's workbench: the cases waiting on me, a case with what the system already
knows, the current step's form with only the missing fields to type, materials checked
against e-certificates before paper is asked for, and the one-time notice to print.

A clerk sees the cases of the centres they work at; a case of another centre is served
only after saying why (通办). Each handler declares its centre policy (gateway.centres)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from friction.notebook import NOTE_CATEGORIES, NOTE_KINDS
from gateway.audit.recorder import access, audited_case
from gateway.auth import current_account, requires
from gateway.cases.schemas import CaseId, OpenCase
from gateway.cases.service import Cases, CaseService, ClosingOutcome, actor_of
from gateway.centre_directory import centre_of
from gateway.centres import centre_policy
from gateway.console.case_view import case_header, current_step, dossier_rows, prefilled_names
from gateway.console.desk import DeskView, OpenCaseForm, desk_page
from gateway.console.field_errors import field_error
from gateway.console.notice import closing_options, closure_rules, notice_items, tracking_code
from gateway.console.pages import N_, page, refusal_words, say, see_other, tr
from gateway.console.qr import qr_svg
from gateway.i18n import request_lang
from gateway.names import Names
from gateway.notebook.schemas import NoteBody
from gateway.notebook.service import Notebook
from kernel.china_time import local_date
from workflows.case import (
    CaseProgress,
    CrossCentreEntry,
    FieldEntry,
    MaterialEntry,
    MilestoneEntry,
    StepView,
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
# While a look-up or an agency is at work the page's live part asks again this often (ms).
POLL_MS = 2000
# An agency may take days: a page left open stops asking after five minutes (each answer
# is a read of the case, in the access log) and keeps its reload link.
MAX_POLLS = 150
HTMX_STOP_POLLING = 286  # the answer that tells htmx to stop asking


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


def _form_fields(
    request: Request[Any, Any, Any], form: str, step: StepView | None
) -> dict[str, tuple[str, str]]:
    """The fields of one of the case page's forms a refusal may name: their input ids
    and labels in the reader's language."""
    if form == "step" and step is not None:
        zh = request_lang(request) == "zh"
        return {f.name: (f"f-{f.name}", f.label_zh if zh else f.label_en) for f in step.fields}
    if form in ("closing", "withdrawal"):
        anchor = "not-eligible-reason" if form == "closing" else "withdrawal-reason"
        return {"reason": (anchor, tr(request, "Reason"))}
    if form.startswith("milestone:"):
        milestone = form.removeprefix("milestone:")
        return {"evidence_ref": (f"evidence-{milestone}", tr(request, "Evidence"))}
    if form == "note":
        return {"text": ("note-text", tr(request, "What got stuck")),
                "category": ("note-category", tr(request, "Category")),
                "about_kind": ("note-kind",
                               tr(request, "Joins the stuck point of this kind (optional)"))}
    return {}


class WorkbenchController(Controller):
    path = "/console/desk"
    guards = [requires("clerk")]

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
                         centre=data.centre or account.centre or "", channel=data.channel,
                         confirm_duplicate=data.confirm_duplicate == "yes"),
                idempotency_key=f"console:{account.username}:{data.request_key}",
                opener=account,
            )
        except ProblemDetailsException as exc:
            # Refused, or the citizen's open case of the bundle to look at first: the desk
            # again with what was typed (and, for the open case, a link and a confirm).
            return await desk_page(request, case_service, DeskView(), exc.status_code, exc,
                                   data)
        audited_case(request, opened.case_id)
        return see_other(f"/console/desk/cases/{opened.case_id}")

    @get("/cases/{case_id:str}", opt=CASE | access("read_case"))
    async def case(
        self, request: Request[Any, Any, Any], case_id: CaseId, case_service: Cases
    ) -> Template:
        return self._case_page(request, case_service, await case_service.progress(case_id))

    @get("/cases/{case_id:str}/live", opt=CASE | access("read_case"))
    async def live(
        self, request: HTMXRequest, case_id: CaseId, case_service: Cases,
        polls: Annotated[int, Parameter(ge=0, le=MAX_POLLS)] = 0,
    ) -> Template:
        """The parts of the case page that change by themselves (status, steps, the current
        step, the dossier and the notice), polled while a look-up or an agency is at work;
        the forms a clerk types in stay outside. Once the case waits on nobody's work the
        answer tells htmx to stop asking. Without htmx: the whole page."""
        progress = await case_service.progress(case_id)
        if not request.htmx:
            return self._case_page(request, case_service, progress)
        context = self._case_context(request, case_service, progress, polls=polls + 1)
        return HTMXTemplate(
            template_name="_case_live_fragment.html",
            context={"lang": request_lang(request), **context, "fragment": True},
            status_code=200 if context["polling"] else HTMX_STOP_POLLING,
        )

    def _case_context(
        self,
        request: Request[Any, Any, Any],
        cases: CaseService,
        progress: CaseProgress,
        refused: tuple[str, ProblemDetailsException] | None = None,
        typed: dict[str, str] | None = None,
        polls: int = 0,
    ) -> dict[str, Any]:
        """What the page and its live part show; `refused`: which form was refused and why;
        `polls`: how many times the live part has been asked for since the page loaded."""
        waiting = progress.status == "open" and progress.awaiting in ("lookup", "agency")
        current = current_step(progress)
        secret: bytes = request.app.state.secret
        account = current_account(request)
        definition = cases.catalogue.get(progress.bundle, progress.bundle_version)
        can_close, can_withdraw = closing_options(progress)
        form, exc = refused if refused else ("", None)
        refusal = field_error(request, exc, _form_fields(request, form, current)) if exc else None
        return {
            "case": progress, "step": current, "header": case_header(progress, definition, account),
            "prefilled_names": prefilled_names(current),
            "dossier": dossier_rows(progress, definition, lambda m: tr(request, m),
                                    Names(request_lang(request), cases.catalogue)),
            "can_close": can_close, "can_withdraw": can_withdraw,
            "closure_rules": closure_rules(progress),
            "notice": notice_items(progress), "typed": typed or {},
            "worker_name": account.username,  # what a milestone recorded here names
            "tracking_code": tracking_code(secret, progress.case_id),
            # A refusal of a field is said in the form, above it and beside the field;
            # any other once, at the top of the page.
            "refused_form": form if refusal else "", "field_error": refusal,
            "error": refusal_words(request, exc, progress.bundle, progress.current_step)
            if exc and not refusal else None,
            "note_categories": NOTE_CATEGORIES, "note_kinds": NOTE_KINDS,
            # A case with a lookup or an agency at work changes by itself: its live part
            # asks again every POLL_MS, up to MAX_POLLS times.
            "refresh": waiting, "polling": waiting and polls < MAX_POLLS, "polls": polls,
            "poll_ms": POLL_MS, "fragment": False,
        }

    def _case_page(
        self,
        request: Request[Any, Any, Any],
        cases: CaseService,
        progress: CaseProgress,
        status_code: int = 200,
        refused: tuple[str, ProblemDetailsException] | None = None,
        typed: dict[str, str] | None = None,
    ) -> Template:
        return page(request, "case.html", status_code=status_code,
                    **self._case_context(request, cases, progress, refused, typed))

    async def _done(
        self,
        request: Request[Any, Any, Any],
        cases: CaseService,
        case_id: str,
        change: Awaitable[object],
        done: str,
        form: str,
        typed: dict[str, str] | None = None,
    ) -> Response[Any]:
        """The case's page again after `change`: with what was done said, or with the
        refusal of `form` (see _form_fields) at its top and beside its field, and what
        the clerk typed kept in the form."""
        try:
            await change
        except ProblemDetailsException as exc:
            progress = await cases.progress(case_id)
            return self._case_page(request, cases, progress, exc.status_code, (form, exc), typed)
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
                                "step", typed=values)

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
                                case_service.record_material(case_id, entry), done, "material")

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
                                N_("Return visit recorded."), "trip")

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
                                N_("Milestone recorded."), f"milestone:{data.milestone}",
                                typed=typed)

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
        return await self._done(request, cases, case_id, closing, done, form,
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
                                N_("Entry added to the error notebook."), "note",
                                typed={"note.text": data.text})

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
