"""Request and response bodies of the ratings and their follow-ups."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar.params import Parameter

from friction.ratings import (
    MAX_ANSWER_CHARS,
    MAX_OWNER_CHARS,
    MAX_TEXT_CHARS,
    REASONS,
    Channel,
    FollowUp,
    Level,
    Rating,
)
from kernel.case_number import CASE_ID_PATTERN

# A case's visit in a path: the first is 1.
Visit = Annotated[int, Parameter(ge=1, le=1000)]
# What each field accepts, in the OpenAPI document as in the check.
CaseNumber = Annotated[str, msgspec.Meta(pattern=CASE_ID_PATTERN)]
ReasonId = Annotated[str, msgspec.Meta(pattern=f"^({'|'.join(REASONS)})$")]
Owner = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_OWNER_CHARS, pattern=r"\S")]
Answer = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ANSWER_CHARS, pattern=r"\S")]


class RatingBody(msgspec.Struct, kw_only=True, frozen=True):
    """A citizen's rating of a visit, sent by a channel (a window's rating pad, SMS, the
    online service). `visit` defaults to the case's latest; `reasons` are ids of the
    fixed list (GET /api/ratings/choices); `text` is masked before it is stored."""

    case_id: CaseNumber
    level: Level
    channel: Channel
    visit: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    reasons: Annotated[tuple[ReasonId, ...], msgspec.Meta(max_length=len(REASONS))] = ()
    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)] | None = None


class FollowUpView(msgspec.Struct, kw_only=True, frozen=True):
    follow_up: FollowUp
    overdue: bool


class RatingMade(msgspec.Struct, kw_only=True, frozen=True):
    rating: Rating
    follow_up: FollowUp | None  # opened for a bad review


class CaseRatings(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    ratings: tuple[Rating, ...]
    follow_ups: tuple[FollowUpView, ...]


class FollowUps(msgspec.Struct, kw_only=True, frozen=True):
    today: date  # China-local: what `overdue` was judged against
    follow_ups: tuple[FollowUpView, ...]


class OwnerBody(msgspec.Struct, kw_only=True, frozen=True):
    owner: Owner


class AnswerBody(msgspec.Struct, kw_only=True, frozen=True):
    """The documented answer to the citizen that closes a follow-up. Who answers is the
    logged-in account; an `actor` in the body is ignored."""

    answer: Answer
    owner: Owner | None = None


class Choice(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str  # in the language asked for


class Choices(msgspec.Struct, kw_only=True, frozen=True):
    levels: tuple[Choice, ...]  # best first; the last two are bad reviews
    bad_levels: tuple[str, ...]
    reasons: tuple[Choice, ...]
    channels: tuple[str, ...]
    follow_up_working_days: int
