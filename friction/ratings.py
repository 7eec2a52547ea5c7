"""The citizen's rating of the service (好差评): five levels a visit, once per case and
visit, with reasons from a fixed list and masked free text; a bad review (the bottom two
levels) opens a follow-up that must be answered by a deadline in working days.

The levels and reasons are defined here once, as data: their ids are what the store
and the API carry, their English names are the gettext msgids the console translates
(babel.cfg extracts this module, so every name has its Chinese in the catalogues).
A rating carries no personal value: the case number, the visit, the level, the reasons,
the masked text, the channel and the time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

import msgspec

from kernel.privacy import mask

__all__ = [
    "BAD_LEVELS", "CHANNELS", "DEFAULT_FOLLOW_UP_WORKING_DAYS", "LEVELS", "LEVEL_NAMES",
    "MAX_ANSWER_CHARS", "MAX_OWNER_CHARS", "MAX_TEXT_CHARS", "REASONS", "REASON_NAMES",
    "SATISFACTION_BENCHMARK", "FollowUp", "Level", "PointRatings", "Rating", "RatingError",
    "RatingExists", "RatingPolicy", "check_answer", "check_owner", "is_bad", "new_rating",
]


def N_(message: str) -> str:
    """Marks a display name for the catalogues; the console translates it where shown."""
    return message


Level = Literal[
    "very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"
]
LEVELS: tuple[Level, ...] = get_args(Level)  # best first
LEVEL_NAMES: dict[str, str] = {
    "very_satisfied": N_("Very satisfied"),
    "satisfied": N_("Satisfied"),
    "basically_satisfied": N_("Basically satisfied"),
    "dissatisfied": N_("Dissatisfied"),
    "very_dissatisfied": N_("Very dissatisfied"),
}
# 好差评: the bottom two levels are bad reviews, each followed up and put right; the top
# three count as satisfied.
BAD_LEVELS: frozenset[str] = frozenset(LEVELS[3:])
SATISFACTION_BENCHMARK = 0.95  # DOMAIN.md's number to beat

# Why, in the citizen's words; one list for every level (a good visit may still have
# waited long). Order is the order the form offers them.
REASON_NAMES: dict[str, str] = {
    "one_trip": N_("Got it all done in one visit"),
    "friendly_staff": N_("Friendly, helpful staff"),
    "few_materials": N_("Few materials asked for"),
    "repeat_trips": N_("Had to come more than once"),
    "long_wait": N_("Waited a long time"),
    "materials_again": N_("Asked for papers already given or held"),
    "slow_processing": N_("Took too long to decide"),
    "unclear_guidance": N_("What was needed was not explained at once"),
    "staff_attitude": N_("Unhelpful staff"),
    "system_fault": N_("The system did not work"),
    "other": N_("Something else"),
}
REASONS: tuple[str, ...] = tuple(REASON_NAMES)

Channel = Literal["track", "window_pad", "sms", "online", "hotline"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

MAX_TEXT_CHARS = 500
MAX_ANSWER_CHARS = 2000
MAX_OWNER_CHARS = 64
# A setting (ONETHING_RATING_FOLLOW_UP_WORKING_DAYS): the working days a centre has to
# answer a bad review, counted from the day after it was made.
DEFAULT_FOLLOW_UP_WORKING_DAYS = 5


def is_bad(level: str) -> bool:
    return level in BAD_LEVELS


class RatingError(ValueError):
    """A rating or follow-up the rules refuse; the message starts with the field at
    fault ("reasons: ...")."""


class RatingExists(RatingError):
    """The visit was rated already: once per case and visit."""


class RatingPolicy(msgspec.Struct, kw_only=True, frozen=True):
    follow_up_working_days: int = DEFAULT_FOLLOW_UP_WORKING_DAYS

    def __post_init__(self) -> None:
        if self.follow_up_working_days < 1:
            raise ValueError("follow_up_working_days: at least one working day")


class Rating(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    visit: int  # 1 for the first visit, n for the n-th (the case's trips)
    level: Level
    reasons: tuple[str, ...] = ()
    text: str | None = None  # masked: no ID or mobile number survives
    channel: Channel
    bundle: str
    centre: str
    rated_at: datetime

    @property
    def bad(self) -> bool:
        return is_bad(self.level)


class FollowUp(msgspec.Struct, kw_only=True, frozen=True):
    """A bad review's follow-up: owned, due by `deadline` (the last working day), closed
    only with a documented answer to the citizen."""

    case_id: str
    visit: int
    level: Level
    bundle: str
    centre: str
    opened_at: datetime
    deadline: date
    owner: str  # the centre at first; the person or team it is assigned to
    answer: str | None = None  # masked, shown to the citizen on the tracking page
    answered_at: datetime | None = None
    answered_by: str | None = None

    @property
    def open(self) -> bool:
        return self.answered_at is None

    def overdue(self, today: date) -> bool:
        return self.open and today > self.deadline


class PointRatings(msgspec.Struct, kw_only=True, frozen=True):
    """The ratings of a stuck point's cases, beside its burden."""

    ratings: int = 0
    bad: int = 0
    bad_share: float | None = None  # bad over ratings; None with no rating

    @classmethod
    def of(cls, ratings: int, bad: int) -> PointRatings:
        return cls(ratings=ratings, bad=bad, bad_share=bad / ratings if ratings else None)


def _checked_reasons(reasons: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [r for r in reasons if r not in REASON_NAMES]
    if unknown:
        raise RatingError(f"reasons: {', '.join(map(repr, unknown))} not among "
                          f"{', '.join(REASONS)}")
    # The form's order, each once, whatever order they were sent in.
    return tuple(r for r in REASONS if r in reasons)


def new_rating(
    *,
    case_id: str,
    visit: int,
    visits: int,
    level: str,
    reasons: tuple[str, ...] | list[str],
    text: str | None,
    channel: str,
    bundle: str,
    centre: str,
    now: datetime,
) -> Rating:
    """A rating checked against the rules, its text masked. `visits` is how many visits
    the case has had (its trips): a visit not yet made cannot be rated."""
    if level not in LEVELS:
        raise RatingError(f"level: one of {', '.join(LEVELS)}, not {level!r}")
    if channel not in CHANNELS:
        raise RatingError(f"channel: one of {', '.join(CHANNELS)}, not {channel!r}")
    if not 1 <= visit <= visits:
        raise RatingError(f"visit: the case has had {visits} visit(s); rate 1 to {visits}")
    said = (text or "").strip()
    if len(said) > MAX_TEXT_CHARS:
        raise RatingError(f"text: at most {MAX_TEXT_CHARS} characters")
    return Rating(
        case_id=case_id, visit=visit, level=level,
        reasons=_checked_reasons(reasons), text=mask(said) or None,
        channel=channel, bundle=bundle, centre=centre,
        rated_at=now,
    )


def check_owner(owner: str) -> str:
    said = owner.strip()
    if not said or len(said) > MAX_OWNER_CHARS:
        raise RatingError(f"owner: name the person or team in 1-{MAX_OWNER_CHARS} characters")
    return mask(said)


def check_answer(answer: str) -> str:
    """The answer told to the citizen: required to close a follow-up, masked."""
    said = answer.strip()
    if not said:
        raise RatingError("answer: say what was done about the review, for the citizen")
    if len(said) > MAX_ANSWER_CHARS:
        raise RatingError(f"answer: at most {MAX_ANSWER_CHARS} characters")
    return mask(said)
