"""The citizen's tracking page (一单跟踪): a case by its number and tracking code.

It shows the steps, their status and promised dates and what is still missing, and no
personal value: the citizen already knows who they are, an onlooker need not. The code
travels in a POST body, never in a URL, so no access log, history or Referer keeps it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Template

from gateway.auth import TRACK_LIMIT
from gateway.cases.service import Cases
from gateway.centres import centre_policy
from gateway.console.notice import closure_rules, code_matches, notice_items
from gateway.console.pages import N_, page, see_other
from kernel.case_number import CASE_ID_PATTERN
from workflows.definition import Catalogue


class TrackForm(msgspec.Struct, kw_only=True, frozen=True):
    case_id: Annotated[str, msgspec.Meta(max_length=32)] = ""
    code: Annotated[str, msgspec.Meta(max_length=12)] = ""


class TrackingController(Controller):
    path = "/track"
    opt = centre_policy("none")  # the citizen's own case, by its number and tracking code

    @get("/")
    async def ask(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "track.html", case=None, error=None, case_id="")

    @get("/case")
    async def old_address(self) -> Redirect:
        # An old bookmark or link with ?code= in it: back to the form, the code not read.
        return see_other("/track")

    @post("/case", middleware=[TRACK_LIMIT.middleware], status_code=200)
    async def show(
        self,
        request: Request[Any, Any, Any],
        case_service: Cases,
        catalogue: NamedDependency[Catalogue],
        data: Annotated[TrackForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        case_id, code = data.case_id.strip().upper(), data.code
        secret = request.app.state.secret
        # One answer for an unknown case and a wrong code: the page confirms no case number.
        refused = page(request, "track.html", status_code=404, case=None, case_id=case_id,
                       error=N_("No case matches this number and code."))
        if not re.match(CASE_ID_PATTERN, case_id) or not code_matches(secret, case_id, code):
            return refused
        try:
            progress = await case_service.progress(case_id)
        except ProblemDetailsException:
            return refused
        definition = catalogue.get(progress.bundle, progress.bundle_version)
        return page(request, "track.html", case=progress, case_id=case_id, error=None,
                    bundle=definition, notice=notice_items(progress, public=True),
                    closure_rules=closure_rules(progress))
