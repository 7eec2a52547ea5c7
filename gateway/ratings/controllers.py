"""The citizens' ratings over HTTP. The work is gateway.ratings.service's; this module
maps HTTP to it.

Centre policies: a case's ratings and the acts on its follow-up are case-scoped (the
case's home centre's clerks, or one serving it from elsewhere); the follow-up list is
open to analysts, so it is "none" (case numbers, levels, reasons and masked words, no
personal value), and the service limits a clerk's to their own centres.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, Parameter

from friction.ratings import BAD_LEVELS, CHANNELS, LEVEL_NAMES, LEVELS, REASON_NAMES
from gateway.auth import current_account, requires
from gateway.cases.schemas import CaseId
from gateway.centres import centre_policy
from gateway.errors import invalid_field
from gateway.i18n import Lang, translations
from gateway.ratings.schemas import (
    AnswerBody,
    CaseRatings,
    Choice,
    Choices,
    FollowUps,
    FollowUpView,
    OwnerBody,
    RatingBody,
    RatingMade,
    Visit,
)
from gateway.ratings.service import Ratings
from kernel.case_number import CASE_ID_PATTERN


class RatingsController(Controller):
    path = "/api/ratings"
    tags = ("ratings",)

    @post("/", summary="Rate a visit of a case (好差评), from a channel",
          description="Once per case and visit: a second rating of the same visit is 409 "
          "naming `visit`. A case that does not exist is 422 naming `case_id`. A bad "
          "review (the bottom two levels) opens a follow-up, returned with the rating.",
          guards=[requires("channel", "clerk")],
          # The citizen's verdict from a channel: it reads nothing of the case back.
          opt=centre_policy("none"))
    async def rate(
        self, data: JSONBody[RatingBody], rating_service: Ratings
    ) -> Response[RatingMade]:
        case_id = data.case_id.strip().upper()
        if not re.match(CASE_ID_PATTERN, case_id):
            raise invalid_field("case_id", "a case number, e.g. 20261207-ABCD2345")
        progress, centre = await rating_service.case(case_id)
        made = await rating_service.rate(
            progress, centre, level=data.level, channel=data.channel, visit=data.visit,
            reasons=data.reasons, text=data.text,
        )
        return Response(content=made, status_code=201)

    @get("/choices", summary="The levels, reasons and channels a rating may name",
         guards=[requires("channel", "clerk", "analyst")], opt=centre_policy("none"))
    async def choices(
        self, rating_service: Ratings,
        lang: Annotated[Lang, Parameter(description="zh or en")] = "zh",
    ) -> Choices:
        said = translations(lang).ugettext
        return Choices(
            levels=tuple(Choice(id=k, name=said(LEVEL_NAMES[k])) for k in LEVELS),
            bad_levels=tuple(k for k in LEVELS if k in BAD_LEVELS),
            reasons=tuple(Choice(id=k, name=said(v)) for k, v in REASON_NAMES.items()),
            channels=CHANNELS,
            follow_up_working_days=rating_service.policy.follow_up_working_days,
        )

    @get("/follow-ups",
         summary="Follow-ups of bad reviews: the clerk's centres', or all (analyst)",
         guards=[requires("clerk", "analyst")], opt=centre_policy("none"))
    async def follow_ups(
        self, request: Request[Any, Any, Any], rating_service: Ratings,
        open_only: Annotated[bool, Parameter(description="only those not answered")] = False,
    ) -> FollowUps:
        return await rating_service.follow_ups(current_account(request), open_only)

    @get("/cases/{case_id:str}", summary="A case's ratings and their follow-ups",
         guards=[requires("clerk")], opt=centre_policy("case"))
    async def of_case(self, case_id: CaseId, rating_service: Ratings) -> CaseRatings:
        return await rating_service.of_case(case_id)

    @post("/follow-ups/{case_id:str}/{visit:int}/owner", status_code=200,
          summary="Give a follow-up its owner", guards=[requires("clerk")],
          opt=centre_policy("case"))
    async def assign(
        self, case_id: CaseId, visit: Visit, data: JSONBody[OwnerBody],
        rating_service: Ratings,
    ) -> FollowUpView:
        return await rating_service.assign(case_id, visit, data.owner)

    @post("/follow-ups/{case_id:str}/{visit:int}/answer", status_code=200,
          summary="Close a follow-up with its answer to the citizen",
          description="The answer is required (422 naming `answer`), masked, and shown "
          "to the citizen on the tracking page; 409 once answered.",
          guards=[requires("clerk")], opt=centre_policy("case"))
    async def answer(
        self, request: Request[Any, Any, Any], case_id: CaseId, visit: Visit,
        data: JSONBody[AnswerBody], rating_service: Ratings,
    ) -> FollowUpView:
        return await rating_service.answer(current_account(request), case_id, visit,
                                           data.answer, data.owner)
