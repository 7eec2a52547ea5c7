"""What the citizens' ratings say beside the friction: satisfaction (the share of the top
three levels) by bundle and centre against the 95% benchmark, the share of bad reviews
on cases with friction recorded and on cases without, and the bad reviews of cases with
no friction at all: what citizens felt that no detector saw, for the developers.

As on the rest of the dashboard, a group with fewer than min_group ratings shows no
numbers, so no figure points at a few people.
"""

from __future__ import annotations

from datetime import date

import msgspec

from friction.ratings import SATISFACTION_BENCHMARK, Rating
from friction.reports import DEFAULT_MIN_GROUP
from friction.store.dashboard import DashboardFilter
from friction.store.ratings import RatingStore

__all__ = ["FrictionShare", "Satisfaction", "SatisfactionGroup", "build_satisfaction"]

UNSEEN_SHOWN = 20


class SatisfactionGroup(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    centre: str
    suppressed: bool
    ratings: int | None = None
    satisfied_share: float | None = None
    bad_share: float | None = None
    benchmark_met: bool | None = None


class FrictionShare(msgspec.Struct, kw_only=True, frozen=True):
    """Bad reviews among the ratings of cases with friction recorded, or without."""

    with_friction: bool
    suppressed: bool
    ratings: int | None = None
    bad: int | None = None
    bad_share: float | None = None


class Satisfaction(msgspec.Struct, kw_only=True, frozen=True):
    benchmark: float
    min_group: int
    groups: tuple[SatisfactionGroup, ...]  # by bundle, then centre
    by_friction: tuple[FrictionShare, ...]  # with friction, then without
    unseen_bad_reviews: tuple[Rating, ...]  # bad reviews on friction-free cases, newest first
    open_follow_ups: int
    overdue_follow_ups: int


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def build_satisfaction(
    store: RatingStore,
    flt: DashboardFilter,
    today: date,
    *,
    min_group: int = DEFAULT_MIN_GROUP,
) -> Satisfaction:
    groups = []
    for s in store.satisfaction_sums(flt):
        if s.ratings < min_group:
            groups.append(SatisfactionGroup(bundle=s.bundle, centre=s.centre, suppressed=True))
            continue
        share = s.satisfied / s.ratings
        groups.append(SatisfactionGroup(
            bundle=s.bundle, centre=s.centre, suppressed=False, ratings=s.ratings,
            satisfied_share=share, bad_share=s.bad / s.ratings,
            benchmark_met=share >= SATISFACTION_BENCHMARK,
        ))
    split = {s.with_friction: s for s in store.friction_split(flt)}
    by_friction = []
    for with_friction in (True, False):
        found = split.get(with_friction)
        n = found.ratings if found else 0
        if n < min_group:
            by_friction.append(FrictionShare(with_friction=with_friction, suppressed=True))
            continue
        bad = found.bad if found else 0
        by_friction.append(FrictionShare(with_friction=with_friction, suppressed=False,
                                         ratings=n, bad=bad, bad_share=_share(bad, n)))
    # Follow-ups still open whenever their review was made: a period filter would hide
    # the old ones that are overdue.
    chosen = [f for f in store.follow_ups(centre=flt.centre, open_only=True)
              if flt.bundle in (None, f.bundle)]
    return Satisfaction(
        benchmark=SATISFACTION_BENCHMARK,
        min_group=min_group,
        groups=tuple(groups),
        by_friction=tuple(by_friction),
        unseen_bad_reviews=tuple(store.unseen_bad_reviews(flt, UNSEEN_SHOWN)),
        open_follow_ups=sum(1 for f in chosen if f.open),
        overdue_follow_ups=sum(1 for f in chosen if f.overdue(today)),
    )
