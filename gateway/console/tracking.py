"""The citizen's tracking page (一单跟踪): a case by its number and tracking code.

It shows the steps, their status and promised dates, what is still missing, and the
citizen's ratings of the service with their follow-ups' answers (rating_panel), and no
personal value: the citizen already knows who they are, an onlooker need not. The code
travels in a POST body, never in a URL, so no access log, history or Referer keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Template

from gateway.auth import TRACK_LIMIT
from gateway.cases.service import Cases, CaseService
from gateway.centres import centre_policy
from gateway.console.notice import closure_rules, code_matches, notice_items
from gateway.console.pages import N_, page, see_other
from gateway.console.rating_panel import RatingPanel, rating_panel
from gateway.ratings.service import Ratings, RatingService
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
        rating_service: Ratings,
        catalogue: NamedDependency[Catalogue],
        data: Annotated[TrackForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        return await track_page(request, case_service, rating_service, catalogue,
                                data.case_id, data.code)


async def track_page(
    request: Request[Any, Any, Any],
    case_service: CaseService,
    rating_service: RatingService,
    catalogue: Catalogue,
    case_id: str,
    code: str,
    *,
    status_code: int = 200,
    panel: Callable[[RatingPanel], RatingPanel] | None = None,
) -> Template:
    """The case's page for whoever holds its number and code, or the one refusal for an
    unknown case and a wrong code. `panel` adjusts the rating panel (the rating page's
    thanks or refusal)."""
    case_id = case_id.strip().upper()
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
    rating = await rating_panel(rating_service, progress, code.strip())
    return page(request, "track.html", status_code=status_code, case=progress,
                case_id=case_id, error=None, bundle=definition,
                notice=notice_items(progress, public=True),
                closure_rules=closure_rules(progress),
                rating=panel(rating) if panel else rating)
