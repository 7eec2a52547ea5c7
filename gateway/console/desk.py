"""The clerk's desk: the cases at my centres, a page at a time, with citizen, bundle,
step, waiting since and due date (overdue said in words); filters by bundle and state;
and finding any case by its number (whole or its start) or the citizen's ID number.

A search by ID number is a POST (the number is never in a URL) recorded in the access
log; the worklist shows citizens' names, so reading it is recorded too."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter, QueryParameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from gateway.audit.recorder import access, audited_case
from gateway.auth import current_account, requires
from gateway.cases.schemas import Found, Worklist, WorklistItem
from gateway.cases.service import Cases, CaseService
from gateway.centres import centre_policy, listed_centres
from gateway.console.field_errors import field_error
from gateway.console.pages import (
    N_,
    Place,
    names_of,
    page,
    problem_text,
    say,
    see_other,
    tr,
)
from kernel.case_number import CASE_ID_PATTERN
from workflows.definition import Catalogue

DESK = "/console/desk"
DeskState = Literal["clerk", "overdue", "agency", "worker"]
DESK_STATES: dict[str, str] = {
    "clerk": N_("Waiting on me"),
    "overdue": N_("Past the promised date"),
    "agency": N_("With an agency"),
    "worker": N_("With field workers"),
}
PAGE_SIZES = (5, 20, 50, 100)
SIDE_LIST = 10  # cases the side lists (failed, with an agency, with workers) show at most


class OpenCaseForm(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    citizen_id_number: str
    request_key: str  # made when the form was shown: a double submit opens one case
    channel: str = "window"
    centre: str = ""  # one of the clerk's centres; blank: the desk's own (the first)
    confirm_duplicate: str = ""  # "yes": the clerk confirmed a second open case


class DeskView(msgspec.Struct, kw_only=True, frozen=True):
    """What the desk's list shows: which bundle, which state, which page of what size."""

    bundle: str = ""
    state: str = "clerk"
    page: int = 1
    size: int = 20

    def url(self, **changed: Any) -> str:
        view = msgspec.structs.replace(self, **changed)
        query = {k: v for k, v in msgspec.structs.asdict(view).items()
                 if v and v != msgspec.structs.asdict(DeskView())[k]}
        return f"{DESK}?{urlencode(query)}" if query else DESK


class Row(msgspec.Struct, kw_only=True, frozen=True):
    item: WorklistItem
    place: Place  # the bundle's and step's names, for `pick`
    show_name: bool


def bundles_of(catalogue: Catalogue) -> list[tuple[str, str, str]]:
    return [(b, catalogue.default(b).name_zh, catalogue.default(b).name_en)
            for b in sorted(catalogue.ids())]


def pages_of(listed: Worklist) -> list[int]:
    return list(range(1, max(1, -(-listed.total // listed.page_size)) + 1))


async def desk_page(
    request: Request[Any, Any, Any],
    cases: CaseService,
    view: DeskView,
    status_code: int = 200,
    error: ProblemDetailsException | None = None,
    typed: OpenCaseForm | None = None,
    found: Found | None = None,
    searched: str = "",
    search_error: ProblemDetailsException | None = None,
) -> Template:
    account = current_account(request)
    # Field workers use clerk accounts for now: their tasks are listed here too.
    centres = listed_centres(account, None)
    bundle = view.bundle or None
    awaiting = "clerk" if view.state == "overdue" else view.state
    listed = await cases.worklist(centres=centres, bundle=bundle, awaiting=awaiting,
                                  limit=view.size, page=view.page,
                                  overdue_only=view.state == "overdue", with_names=True)
    failed = await cases.worklist(centres=centres, bundle=bundle, awaiting="failed",
                                  limit=SIDE_LIST)
    # The side lists name each case and its step: their search attributes say enough.
    side = {on: await cases.worklist(centres=centres, bundle=bundle, awaiting=on,
                                     limit=SIDE_LIST)
            for on in ("agency", "worker") if on != view.state}

    def row(item: WorklistItem) -> Row:
        return Row(item=item, place=names_of(cases.catalogue, item.bundle, item.step),
                   show_name="clerk" in account.roles and account.serves(item.centre))

    extra = error.extra if error is not None and isinstance(error.extra, dict) else {}
    existing = extra.get("existing_case")
    # A refusal naming a field of the form: summarised above it and said beside the field.
    refusal = field_error(request, error, {
        "citizen_id_number": ("citizen_id_number", tr(request, "Citizen's ID number")),
        "bundle": ("bundle", tr(request, "Bundle")),
        "centre": ("open-centre", tr(request, "Centre")),
    }) if error is not None and not existing else None
    return page(
        request, "desk.html", status_code=status_code,
        rows=[row(i) for i in listed.cases if i.status == "open"], listed=listed,
        pages=pages_of(listed), view=view, states=DESK_STATES, sizes=PAGE_SIZES,
        failed=failed, side=side,
        names_of_step=lambda i: names_of(cases.catalogue, i.bundle, i.step),
        found=[row(i) for i in found.cases] if found else None,
        found_more=bool(found and found.more), searched=searched,
        bundles=bundles_of(cases.catalogue), centre=account.centre, centres=account.centres,
        request_key=typed.request_key if typed and existing else secrets.token_urlsafe(16),
        typed=typed, existing_case=existing if isinstance(existing, str) else None,
        field_error=refusal, refused_form="open",
        error=problem_text(error) if error and not existing and not refusal else None,
        search_error=problem_text(search_error) if search_error else None,
    )


class DeskController(Controller):
    path = DESK
    guards = [requires("clerk")]

    @get("/", opt=centre_policy("own_centres") | access("read_worklist"))
    async def desk(
        self,
        request: Request[Any, Any, Any],
        case_service: Cases,
        bundle: Annotated[str, Parameter(max_length=64)] = "",
        shown: Annotated[str, QueryParameter(
            name="state", pattern=f"^({'|'.join(DESK_STATES)})$")] = "clerk",
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=1000)] = 1,
        size: Annotated[int, Parameter(ge=PAGE_SIZES[0], le=PAGE_SIZES[-1])] = 20,
    ) -> Template:
        view = DeskView(bundle=bundle, state=shown, page=page_number, size=size)
        return await desk_page(request, case_service, view)

    @get("/find", opt=centre_policy("own_centres"))
    async def find(
        self, request: Request[Any, Any, Any], case_service: Cases,
        case_id: Annotated[str, Parameter(max_length=40)] = "",
    ) -> Response[Any]:
        """A case by its number: its page (which offers a clerk of another centre to serve
        it here); by the start of its number: the cases of my centres it names."""
        wanted = case_id.strip().upper()
        if re.fullmatch(CASE_ID_PATTERN, wanted):
            return see_other(f"{DESK}/cases/{wanted}")
        try:
            found = await case_service.find(
                centres=listed_centres(current_account(request), None), case_number=wanted,
                with_names=True)
        except ProblemDetailsException:
            say(request, N_("A case number looks like 20260301-ABCD2345."), "error")
            return see_other(DESK)
        return await desk_page(request, case_service, DeskView(), found=found,
                               searched=wanted)

    @post("/search", opt=centre_policy("own_centres") | access("search"))
    async def search(
        self, request: Request[Any, Any, Any], case_service: Cases,
    ) -> Response[Any]:
        """The cases of my centres of the citizen whose ID number was typed."""
        form = await request.form()
        typed = str(form.get("citizen_id_number") or "").strip()
        try:
            found = await case_service.find(
                centres=listed_centres(current_account(request), None),
                citizen_id_number=typed, with_names=True)
        except ProblemDetailsException as exc:
            return await desk_page(request, case_service, DeskView(),
                                   status_code=exc.status_code, search_error=exc)
        if len(found.cases) == 1:
            audited_case(request, found.cases[0].case_id)
        return await desk_page(request, case_service, DeskView(), found=found,
                               searched="id")
