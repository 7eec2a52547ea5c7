"""The rating panel of the citizen's tracking page (templates/_rating.html): the visits
rated so far with their follow-ups (and the answer, once given), and the form that rates
the latest visit while it is not rated yet.

The form carries the tracking code in its POST body, as the tracking form does: the page
was shown to whoever holds the code, and rating needs the same check again."""

from __future__ import annotations

import msgspec

from friction.ratings import BAD_LEVELS, LEVEL_NAMES, LEVELS, REASON_NAMES, FollowUp, Rating
from gateway.ratings.service import RatingService
from workflows.case import CaseProgress

__all__ = ["CHOICES", "RatedVisit", "RatingPanel", "rating_panel"]


class RatedVisit(msgspec.Struct, kw_only=True, frozen=True):
    rating: Rating
    follow_up: FollowUp | None


class Choices(msgspec.Struct, kw_only=True, frozen=True):
    """What the form offers: ids and the msgids of their names, in the list's order."""

    levels: tuple[tuple[str, str], ...]
    level_names: dict[str, str]
    bad_levels: frozenset[str]
    reasons: tuple[tuple[str, str], ...]
    reason_names: dict[str, str]


CHOICES = Choices(
    levels=tuple((k, LEVEL_NAMES[k]) for k in LEVELS),
    level_names=LEVEL_NAMES,
    bad_levels=BAD_LEVELS,
    reasons=tuple(REASON_NAMES.items()),
    reason_names=REASON_NAMES,
)


class RatingPanel(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    code: str  # sent back with the form, never in a URL
    visit: int  # the latest visit: the one the form rates
    closed: bool  # the case has ended: the rating is of the service as a whole
    rated: tuple[RatedVisit, ...]  # by visit
    latest_rated: bool
    choices: Choices = CHOICES
    thanks: bool = False  # the rating just sent was stored
    error: str | None = None  # a refused rating, in the reader's words
    error_field: str | None = None
    typed_level: str = ""
    typed_reasons: tuple[str, ...] = ()
    typed_text: str = ""


async def rating_panel(
    service: RatingService, progress: CaseProgress, code: str
) -> RatingPanel:
    found = await service.of_case(progress.case_id)
    follow_ups = {v.follow_up.visit: v.follow_up for v in found.follow_ups}
    rated = tuple(RatedVisit(rating=r, follow_up=follow_ups.get(r.visit))
                  for r in found.ratings)
    return RatingPanel(
        case_id=progress.case_id, code=code, visit=progress.trips,
        closed=progress.status != "open", rated=rated,
        latest_rated=any(r.visit == progress.trips for r in found.ratings),
    )
