"""The citizen's rating in the console: the tracking page's rating form (POST
/track/rating, checked by the case number and tracking code like the tracking page
itself), and the follow-ups of bad reviews (差评整改) that a centre's clerks and the data
bureau's analysts read, assign and answer.

The work is gateway.ratings.service's, as for the JSON API: the same calls, the same
refusals, shown here in the reader's words beside the field they name.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Template

from friction.ratings import MAX_ANSWER_CHARS, MAX_TEXT_CHARS, FollowUp, Rating
from gateway.auth import TRACK_LIMIT, current_account, requires
from gateway.cases.schemas import CaseId
from gateway.cases.service import Cases
from gateway.centres import centre_policy
from gateway.console.notice import code_matches
from gateway.console.pages import (
    Place,
    Refusal,
    names_of,
    page,
    problem_field,
    problem_text,
    say,
    see_other,
    tr,
)
from gateway.console.rating_panel import CHOICES, RatingPanel
from gateway.console.tracking import track_page
from gateway.ratings.schemas import FollowUpView, Visit
from gateway.ratings.service import Ratings, RatingService, centres_seen
from kernel.case_number import CASE_ID_PATTERN
from workflows.definition import Catalogue

FOLLOW_UPS_PATH = "/console/follow-ups"


def _text(form: FormMultiDict, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def rating_refusal(request: Request[Any, Any, Any], status: int, field: str | None) -> str:
    """A refused rating in the citizen's words."""
    if status == 409:
        return tr(request, "This visit has been rated already: thank you.")
    words = {
        "level": tr(request, "Choose how satisfied you are."),
        "reasons": tr(request, "Choose reasons from the list."),
        "text": tr(request, "Write at most %(n)s characters.") % {"n": MAX_TEXT_CHARS},
        "visit": tr(request, "This visit cannot be rated."),
    }
    return words.get(field or "", tr(request, "Your rating could not be taken. "
                                               "Please try again."))


class TrackRatingController(Controller):
    path = "/track/rating"
    opt = centre_policy("none")  # the citizen's own case, by its number and tracking code

    @post("/", middleware=[TRACK_LIMIT.middleware], status_code=200)
    async def rate(
        self,
        request: Request[Any, Any, Any],
        case_service: Cases,
        rating_service: Ratings,
        catalogue: NamedDependency[Catalogue],
    ) -> Template:
        form = await request.form()
        case_id = _text(form, "case_id", 32).strip().upper()
        code = _text(form, "code", 12).strip()
        visit = _text(form, "visit", 4)
        level = _text(form, "level", 32)
        reasons = tuple(str(r)[:32] for r in form.getall("reasons")[:20]) \
            if "reasons" in form else ()
        text = _text(form, "text", MAX_TEXT_CHARS * 2)

        secret = request.app.state.secret
        if not re.match(CASE_ID_PATTERN, case_id) or not code_matches(secret, case_id, code):
            # The tracking page's one refusal: no case is confirmed by a wrong code.
            return await track_page(request, case_service, rating_service, catalogue,
                                    case_id, code)
        try:
            progress, centre = await rating_service.case(case_id)
            await rating_service.rate(
                progress, centre, level=level, channel="track",
                visit=int(visit) if visit.isdigit() else None, reasons=reasons, text=text,
            )
        except ProblemDetailsException as exc:
            if exc.status_code not in (409, 422):
                raise
            field = problem_field(exc)
            said = rating_refusal(request, exc.status_code, field)

            def refused(panel: RatingPanel) -> RatingPanel:
                return msgspec.structs.replace(
                    panel, error=said, error_field=field, typed_level=level,
                    typed_reasons=reasons, typed_text=text)

            return await track_page(request, case_service, rating_service, catalogue,
                                    case_id, code, status_code=exc.status_code,
                                    panel=refused)
        return await track_page(
            request, case_service, rating_service, catalogue, case_id, code,
            panel=lambda panel: msgspec.structs.replace(panel, thanks=True))


class FollowUpRow(msgspec.Struct, kw_only=True, frozen=True):
    follow_up: FollowUp
    overdue: bool
    rating: Rating | None
    place: Place


async def follow_up_rows(
    service: RatingService, views: tuple[FollowUpView, ...], catalogue: Catalogue
) -> list[FollowUpRow]:
    rows = []
    for view in views:
        f = view.follow_up
        rated = {r.visit: r for r in (await service.of_case(f.case_id)).ratings}
        rows.append(FollowUpRow(follow_up=f, overdue=view.overdue, rating=rated.get(f.visit),
                                place=names_of(catalogue, f.bundle)))
    return rows


class FollowUpPages(Controller):
    """The list reaches analysts too (policy "none": no personal value; a clerk's holds
    their centres' only); answering is the case's centre's (policy "case")."""

    path = FOLLOW_UPS_PATH

    @get("/", guards=[requires("clerk", "analyst")], opt=centre_policy("none"))
    async def follow_ups(
        self,
        request: Request[Any, Any, Any],
        rating_service: Ratings,
        catalogue: NamedDependency[Catalogue],
        open_only: Annotated[str, Parameter(max_length=8)] = "",
    ) -> Template:
        return await self._page(request, rating_service, catalogue, bool(open_only))

    async def _page(
        self,
        request: Request[Any, Any, Any],
        rating_service: RatingService,
        catalogue: Catalogue,
        open_only: bool = False,
        status_code: int = 200,
        refusal: Refusal | None = None,
    ) -> Template:
        account = current_account(request)
        found = await rating_service.follow_ups(account, open_only)
        seen = centres_seen(account)
        return page(
            request, "follow_ups.html", status_code=status_code,
            rows=await follow_up_rows(rating_service, found.follow_ups, catalogue),
            open_only=open_only, every_centre=seen is None,
            centre="、".join(seen or ()), answers=account.has_any("clerk"),
            choices=CHOICES, refusal=refusal,
            days=rating_service.policy.follow_up_working_days,
            max_answer=MAX_ANSWER_CHARS,
        )

    async def _act(
        self,
        request: Request[Any, Any, Any],
        rating_service: RatingService,
        catalogue: Catalogue,
        case_id: str,
        visit: int,
        what: str,
    ) -> Response[Any]:
        form = await request.form()
        owner = _text(form, "owner", 200)
        answer = _text(form, "answer", MAX_ANSWER_CHARS * 2)
        account = current_account(request)
        try:
            if what == "owner":
                await rating_service.assign(case_id, visit, owner)
            else:
                await rating_service.answer(account, case_id, visit, answer, owner)
        except ProblemDetailsException as exc:
            if exc.status_code == 404:
                raise NotFoundException(problem_text(exc)) from exc
            if exc.status_code not in (409, 422):
                raise
            field = problem_field(exc) or "answer"
            message = {
                "answer": tr(request, "Write the answer the citizen will read before "
                                      "closing the follow-up."),
                "owner": tr(request, "Name the person or team who owns it."),
            }[field if field in ("answer", "owner") else "answer"]
            if exc.status_code == 409:
                message = tr(request, "This follow-up was answered already.")
            refusal = Refusal(form=f"{case_id}/{visit}", field=field, message=message,
                              typed={"owner": owner, "answer": answer})
            return await self._page(request, rating_service, catalogue,
                                    status_code=exc.status_code, refusal=refusal)
        say(request, "Saved.", "ok")
        return see_other(FOLLOW_UPS_PATH)

    @post("/{case_id:str}/{visit:int}/owner", guards=[requires("clerk")],
          opt=centre_policy("case"))
    async def assign(
        self, request: Request[Any, Any, Any], case_id: CaseId, visit: Visit,
        rating_service: Ratings, catalogue: NamedDependency[Catalogue],
    ) -> Response[Any]:
        return await self._act(request, rating_service, catalogue, case_id, visit, "owner")

    @post("/{case_id:str}/{visit:int}/answer", guards=[requires("clerk")],
          opt=centre_policy("case"))
    async def answer(
        self, request: Request[Any, Any, Any], case_id: CaseId, visit: Visit,
        rating_service: Ratings, catalogue: NamedDependency[Catalogue],
    ) -> Response[Any]:
        return await self._act(request, rating_service, catalogue, case_id, visit, "answer")
