"""The can't-get-it-done window (办不成事) in the console: the register with each case's
age in working days, a case's progress as its workflow knows it, and the clerk's forms
that register a case (a walk-in, or one failed or stalled on the workbench), assign its
task force and answer it. Analysts read; clerks also write.

The work is gateway.register.service's, as for the JSON API: the same calls, the same
refusals, shown here beside the field they name.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from friction.register import CAUSES, CantGetItDoneRecord
from gateway.auth import caller_key, current_account, requires
from gateway.centres import centre_policy
from gateway.console.pages import (
    N_,
    Place,
    Refusal,
    names_of,
    page,
    problem_field,
    problem_text,
    refusal_words,
    say,
    see_other,
    tr,
)
from gateway.console.workbench import URL_ENCODED
from gateway.errors import check_name, invalid_field
from gateway.names import CAUSE_WORDS
from gateway.register.schemas import CASE_NUMBER, RegisterCaseId
from gateway.register.service import RegisterService, Registry, escalated
from kernel.china_time import local_date
from workflows.calendar import WorkingCalendar
from workflows.cant_get_it_done import MAX_DEPARTMENTS, MAX_EXPLANATION_CHARS
from workflows.definition import Catalogue
from workflows.register_case import RegisterProgress, ResolutionEntry, TaskForceEntry

REGISTER_PATH = "/console/register"
# Departments typed in one box: one a line, or separated by commas (either width) or 、.
DEPARTMENT_SEPARATORS = re.compile(r"[\n\r,，、;；]+")

STATUS_WORDS = {
    "registered": N_("Registered, no task force yet"),
    "task_force_assigned": N_("Task force at work"),
    "resolved": N_("Resolved"),
    "cannot_be_done": N_("Cannot be done: explained to the citizen"),
    "refused": N_("Registration refused"),
    "open": N_("Awaiting an answer"),
}
STATUS_BADGE = {"registered": "warn", "task_force_assigned": "warn", "open": "warn",
                "resolved": "ok", "cannot_be_done": "muted", "refused": "bad"}
RESOLUTION_WORDS = {
    "resolved": N_("Resolved: the matter got done"),
    "cannot_be_done": N_("Cannot be done: a documented explanation"),
}
ESCALATION_WORDS = {
    "deadline_near": N_("The deadline is near"),
    "deadline_passed": N_("The deadline passed unanswered"),
}
ORIGIN_WORDS = {
    "clerk": N_("Registered at a window"),
    "bundle": N_("Registered by the bundle case itself"),
}
WORDS = {"cause": CAUSE_WORDS, "status": STATUS_WORDS, "status_badge": STATUS_BADGE,
         "resolution": RESOLUTION_WORDS, "escalation": ESCALATION_WORDS,
         "origin": ORIGIN_WORDS}
# The fields of each form on a case's page, to show a refusal beside its own input.
TASK_FORCE_FIELDS = ("lead", "departments")
ANSWER_FIELDS = ("resolution", "explanation")


class RegisterForm(msgspec.Struct, kw_only=True, frozen=True):
    # Defaults everywhere: a missing input is refused by its name (422), not a bare 400.
    case_id: str = ""
    bundle: str = ""
    step: str = ""
    department: str = ""
    cause: str = ""
    centre: str = ""  # only asked of an account with no service centre of its own
    walk_in: str = ""  # checked: a walk-in with no case yet, registered under its own number
    request_key: str = ""  # made when the form was shown: a double submit registers once


class TaskForceForm(msgspec.Struct, kw_only=True, frozen=True):
    lead: str = ""
    departments: str = ""

    def entry(self) -> TaskForceEntry:
        named = (d.strip() for d in DEPARTMENT_SEPARATORS.split(self.departments))
        return TaskForceEntry(lead=self.lead.strip(), departments=tuple(d for d in named if d))


class AnswerForm(msgspec.Struct, kw_only=True, frozen=True):
    resolution: str = ""
    explanation: str = ""


class Row(msgspec.Struct, kw_only=True, frozen=True):
    """A line of the register as the page shows it."""

    record: CantGetItDoneRecord
    place: Place
    age_working_days: int
    overdue: bool
    escalated: bool
    status: str  # "open", "resolved" or "cannot_be_done"


async def rows_of(
    register: RegisterService, calendar: WorkingCalendar, catalogue: Catalogue, now: datetime,
    open_only: bool,
) -> list[Row]:
    entries = await register.entries(open_only, now, calendar)
    return [
        Row(
            record=e.record,
            place=names_of(catalogue, e.record.bundle, e.record.step),
            age_working_days=e.age_working_days,
            overdue=e.overdue,
            escalated=escalated(calendar, e.record, now),
            status=e.record.resolution or "open",
        )
        for e in sorted(entries, key=lambda e: e.record.registered_at)
    ]


def refusal_text(request: Request[Any, Any, Any], field: str | None, said: str) -> str:
    """A refusal in the reader's words where the page has them; the refusal's own else."""
    if "personal value" in said:
        return tr(request, "Write no personal value here: name the case, the staff "
                           "member or the department.")
    words: dict[str, str] = {
        "case_id": tr(request, "A case number: letters, digits and '-', up to 64."),
        "bundle": tr(request, "Choose a bundle from the catalogue."),
        "step": tr(request, "Choose one of the bundle's steps, or none."),
        "department": tr(request, "1 to 64 characters, without '|' or '/'."),
        "centre": tr(request, "1 to 64 characters, without '|' or '/'."),
        "lead": tr(request, "Name who leads the task force: 1 to 64 characters, "
                            "without '|' or '/'."),
        "departments": tr(request, "Name %(count)s departments at most, each once, each "
                                   "1 to 64 characters without '|' or '/'.")
        % {"count": MAX_DEPARTMENTS},
        "resolution": tr(request, "Choose whether the matter was resolved or cannot be "
                                  "done."),
        "explanation": tr(request, "Write the explanation to the citizen: what was done, "
                                   "or why it cannot be done (at most %(count)s "
                                   "characters).") % {"count": MAX_EXPLANATION_CHARS},
    }
    if field == "case_id" and said.startswith("case_id: no case"):
        return tr(request, "No case has this number: give the number of an existing case, "
                           "or register a walk-in with no case yet as a walk-in.")
    if field == "case_id" and "walk-in" in said:
        return tr(request, "A walk-in has no case number yet: leave the case number empty.")
    if field == "bundle" and "is of bundle" in said:
        return tr(request, "This case is of another bundle: choose the case's own bundle.")
    if field == "cause":
        if "applicant" in said:
            return tr(request, "An applicant's own failure is not a can't-get-it-done "
                               "case: tell the applicant what to do instead.")
        return tr(request, "Choose one of the causes.")
    return words.get(field or "", said)


def refusal_of(request: Request[Any, Any, Any], form: str,
               exc: ProblemDetailsException) -> Refusal:
    """The refusal of one of the page's forms ("register", "task_force" or "answer")."""
    field = problem_field(exc)
    said = problem_text(exc)
    message = refusal_text(request, field, said)
    return Refusal(form=form, field=field,
                   message=refusal_words(request, exc) if message == said else message)


def check_registration(catalogue: Catalogue, data: RegisterForm, centre: str) -> None:
    """What the form can check before the register does: a case number, a bundle and a
    step of the catalogue, names the register's fingerprints can hold."""
    if data.walk_in and data.case_id.strip():
        raise invalid_field("case_id", "a walk-in has no case number yet: leave it empty")
    if not data.walk_in and not CASE_NUMBER.fullmatch(data.case_id.strip()):
        raise invalid_field("case_id", "a case number: letters, digits and '-'")
    if data.bundle not in catalogue.ids():
        raise invalid_field("bundle", "a bundle of the catalogue")
    if data.step:
        steps = {s.id for v in catalogue.versions(data.bundle)
                 for s in catalogue.get(data.bundle, v).steps}
        if data.step not in steps:
            raise invalid_field("step", "one of the bundle's steps")
    check_name("department", data.department.strip())
    check_name("centre", centre)


def bundle_choices(catalogue: Catalogue) -> list[Any]:
    return [catalogue.default(b) for b in sorted(catalogue.ids())]


def departments_of(catalogue: Catalogue) -> list[str]:
    """The agencies and departments the catalogue's steps name, for the form's hints."""
    return sorted({s.agency for b in catalogue.ids() for s in catalogue.default(b).steps})


def is_open(progress: RegisterProgress) -> bool:
    return progress.status in ("registered", "task_force_assigned")


class RegisterController(Controller):
    path = REGISTER_PATH
    opt = centre_policy("none")  # the city's register holds no personal value (see the API's)
    guards = [requires("clerk", "analyst")]  # analysts read; clerks also register and answer

    @get("/")
    async def register(
        self,
        request: Request[Any, Any, Any],
        register_service: Registry,
        calendar: NamedDependency[WorkingCalendar],
        catalogue: NamedDependency[Catalogue],
        open_only: Annotated[str, Parameter(max_length=8)] = "",
        case_id: Annotated[str, Parameter(max_length=64)] = "",
        bundle: Annotated[str, Parameter(max_length=64)] = "",
        step: Annotated[str, Parameter(max_length=64)] = "",
        department: Annotated[str, Parameter(max_length=64)] = "",
    ) -> Template:
        # A case on the workbench that failed or stalled comes here with its number,
        # bundle, step and department filled in; the clerk chooses the cause.
        prefill = RegisterForm(case_id=case_id, bundle=bundle, step=step,
                               department=department)
        return await self._register_page(request, register_service, calendar, catalogue,
                                          open_only=open_only in ("1", "true", "on"),
                                          typed=prefill)

    async def _register_page(
        self,
        request: Request[Any, Any, Any],
        register: RegisterService,
        calendar: WorkingCalendar,
        catalogue: Catalogue,
        open_only: bool = False,
        status_code: int = 200,
        refusal: Refusal | None = None,
        typed: RegisterForm | None = None,
    ) -> Template:
        rows = await rows_of(register, calendar, catalogue, datetime.now(UTC), open_only)
        account = current_account(request)
        return page(
            request, "register.html", status_code=status_code, rows=rows,
            open_only=open_only, words=WORDS, causes=CAUSES,
            bundles=bundle_choices(catalogue), departments=departments_of(catalogue),
            may_write=account.has_any("clerk"), own_centre=account.centre,
            refusal=refusal, typed=typed or RegisterForm(),
            request_key=secrets.token_urlsafe(16),
        )

    @post("/", guards=[requires("clerk")])
    async def register_case(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[RegisterForm, URL_ENCODED],
        register_service: Registry,
        calendar: NamedDependency[WorkingCalendar],
        catalogue: NamedDependency[Catalogue],
    ) -> Response[Any]:
        account = current_account(request)
        centre = account.centre or data.centre.strip()
        try:
            check_registration(catalogue, data, centre)
            record, created = await register_service.register(
                walk_in=bool(data.walk_in), case_id=data.case_id.strip(), bundle=data.bundle,
                step=data.step or None, centre=centre, department=data.department.strip(),
                cause=data.cause,
                idempotency_key=caller_key("console", account, data.request_key),
            )
        except ProblemDetailsException as exc:
            if exc.status_code == 409:
                say(request, "The register did not take this case. Nothing was changed.",
                    "error")
            return await self._register_page(
                request, register_service, calendar, catalogue, status_code=exc.status_code,
                refusal=refusal_of(request, "register", exc), typed=data,
            )
        if created:
            say(request, "Registered. The answer is due by the deadline shown.", "ok")
        else:
            say(request, "This case was registered already: here it is as it stands.",
                "info")
        return see_other(f"{REGISTER_PATH}/{record.case_id}")

    @get("/{case_id:str}")
    async def case(
        self,
        request: Request[Any, Any, Any],
        case_id: RegisterCaseId,
        register_service: Registry,
        calendar: NamedDependency[WorkingCalendar],
        catalogue: NamedDependency[Catalogue],
    ) -> Template:
        return await self._case_page(request, case_id, register_service, calendar, catalogue)

    async def _case_page(
        self,
        request: Request[Any, Any, Any],
        case_id: str,
        register: RegisterService,
        calendar: WorkingCalendar,
        catalogue: Catalogue,
        status_code: int = 200,
        refusal: Refusal | None = None,
        typed: dict[str, str] | None = None,
    ) -> Template:
        progress = await register.progress_or_row(case_id)
        if progress is None:
            raise NotFoundException(f"no can't-get-it-done case {case_id}")
        today = local_date(datetime.now(UTC))
        end = local_date(progress.resolved_at) if progress.resolved_at else today
        age: int | None = None
        overdue = False
        if progress.registered_at is not None and progress.deadline is not None:
            age = calendar.working_days_between(local_date(progress.registered_at), end)
            overdue = end > progress.deadline
        return page(
            request, "register_case.html", status_code=status_code, case=progress,
            place=names_of(catalogue, progress.bundle, progress.step), words=WORDS,
            age=age, overdue=overdue, today=today,
            may_write=current_account(request).has_any("clerk") and is_open(progress),
            refusal=refusal, typed=typed or {},
            task_force_fields=TASK_FORCE_FIELDS, answer_fields=ANSWER_FIELDS,
        )

    async def _answered(
        self,
        request: Request[Any, Any, Any],
        case_id: str,
        form: str,
        change: Awaitable[object],
        done: str,
        typed: dict[str, str],
        register: RegisterService,
        calendar: WorkingCalendar,
        catalogue: Catalogue,
    ) -> Response[Any]:
        """The case's page again after `change` to it: with what was done said, or with
        the refusal beside its field in `form` and what was typed kept."""
        try:
            await change
        except ProblemDetailsException as exc:
            if exc.status_code == 409:
                # Answered (or refused) meanwhile: the page as it stands now, and why.
                say(request, "This case was answered already, or its registration was "
                             "refused: nothing was changed. Here it is as it stands now.",
                    "error")
                return await self._case_page(request, case_id, register, calendar, catalogue,
                                             status_code=409)
            if exc.status_code != 422:
                raise
            return await self._case_page(
                request, case_id, register, calendar, catalogue, status_code=422,
                refusal=refusal_of(request, form, exc), typed=typed,
            )
        say(request, done, "ok")
        return see_other(f"{REGISTER_PATH}/{case_id}")

    @post("/{case_id:str}/task-force", guards=[requires("clerk")])
    async def assign_task_force(
        self,
        request: Request[Any, Any, Any],
        case_id: RegisterCaseId,
        data: Annotated[TaskForceForm, URL_ENCODED],
        register_service: Registry,
        calendar: NamedDependency[WorkingCalendar],
        catalogue: NamedDependency[Catalogue],
    ) -> Response[Any]:
        return await self._answered(
            request, case_id, "task_force",
            register_service.assign_task_force(case_id, data.entry()),
            N_("Task force assigned."), {"lead": data.lead, "departments": data.departments},
            register_service, calendar, catalogue,
        )

    @post("/{case_id:str}/resolution", guards=[requires("clerk")])
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        case_id: RegisterCaseId,
        data: Annotated[AnswerForm, URL_ENCODED],
        register_service: Registry,
        calendar: NamedDependency[WorkingCalendar],
        catalogue: NamedDependency[Catalogue],
    ) -> Response[Any]:
        entry = ResolutionEntry(resolution=data.resolution, explanation=data.explanation,
                                actor=current_account(request).username)
        return await self._answered(
            request, case_id, "answer", register_service.resolve(case_id, entry),
            N_("Answer recorded in the register."),
            {"resolution": data.resolution, "explanation": data.explanation},
            register_service, calendar, catalogue,
        )
