"""The ratings store on SQLite and PostgreSQL: once per case and visit, a bad review's
follow-up stored with it and answered once, and the reads that join ratings to the
case's friction (satisfaction by bundle and centre, bad reviews with and without
friction, the bad reviews no detector saw, a stuck point's ratings)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from friction.ratings import FollowUp, Rating, RatingExists, new_rating
from friction.satisfaction import build_satisfaction
from friction.store.dashboard import DashboardFilter
from friction.store.engine import ConflictError
from friction.store.sql import SqlFrictionStore

if TYPE_CHECKING:
    from tests.friction.conftest import Backend

NOW = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
FRICTION = "repeat_trip|residence-permit|lease|trip"


def rating(case_id: str, level: str, *, visit: int = 1, centre: str = "east",
           bundle: str = "residence-permit", at: datetime = NOW,
           text: str | None = None) -> Rating:
    return new_rating(case_id=case_id, visit=visit, visits=visit, level=level,
                      reasons=["long_wait", "one_trip"], text=text, channel="window_pad",
                      bundle=bundle, centre=centre, now=at)


def follow_up(r: Rating) -> FollowUp:
    return FollowUp(case_id=r.case_id, visit=r.visit, level=r.level, bundle=r.bundle,
                    centre=r.centre, opened_at=r.rated_at, deadline=date(2026, 10, 13),
                    owner=r.centre)


def with_friction(backend: Backend, *case_ids: str) -> None:
    backend.insert("case_friction",
                   ("case_id", "fingerprint", "step", "count", "citizen_minutes",
                    "clerk_minutes"),
                   [(c, FRICTION, "lease", 1, 60.0, 5.0) for c in case_ids])


def test_a_visit_is_rated_once_and_its_bad_review_is_followed_up(
    store: SqlFrictionStore,
) -> None:
    bad = rating("C1", "dissatisfied", text="回电 13912345678")
    store.save_rating(bad, follow_up(bad))
    again = rating("C1", "very_satisfied")
    with pytest.raises(RatingExists, match=r"^visit: "):
        store.save_rating(again, None)
    # The refused second rating left nothing behind, and the first is as given, masked.
    assert store.ratings_of_case("C1") == [bad]
    assert bad.text == "回电 [手机号]"
    assert bad.reasons == ("one_trip", "long_wait")  # the list's order
    store.save_rating(rating("C1", "satisfied", visit=2), None)
    assert [r.visit for r in store.ratings_of_case("C1")] == [1, 2]

    opened = store.follow_up("C1", 1)
    assert opened is not None and opened.open and opened.owner == "east"
    assert store.follow_up("C1", 2) is None
    assigned = store.assign_follow_up("C1", 1, "窗口主任")
    assert assigned.owner == "窗口主任"
    answered = store.answer_follow_up("C1", 1, "已致电说明并改进", "clerk", NOW)
    assert answered.answer == "已致电说明并改进" and answered.answered_at == NOW
    assert answered.answered_by == "clerk" and not answered.open
    with pytest.raises(ConflictError):
        store.answer_follow_up("C1", 1, "again", "clerk", NOW)
    with pytest.raises(ConflictError):
        store.assign_follow_up("C1", 1, "someone")
    with pytest.raises(KeyError):
        store.answer_follow_up("C1", 2, "no follow-up", "clerk", NOW)
    assert store.follow_ups_of_case("C1") == [answered]


def test_follow_ups_list_by_centre_open_first(store: SqlFrictionStore) -> None:
    for case_id, centre, deadline in (("A", "east", 20), ("B", "west", 15), ("C", "east", 14)):
        r = rating(case_id, "very_dissatisfied", centre=centre)
        store.save_rating(r, FollowUp(
            case_id=case_id, visit=1, level=r.level, bundle=r.bundle, centre=centre,
            opened_at=NOW, deadline=date(2026, 10, deadline), owner=centre))
    store.answer_follow_up("C", 1, "done", "clerk", NOW)
    assert [f.case_id for f in store.follow_ups()] == ["B", "A", "C"]
    assert [f.case_id for f in store.follow_ups(centre="east")] == ["A", "C"]
    assert [f.case_id for f in store.follow_ups(centre="east", open_only=True)] == ["A"]
    assert [f.case_id for f in store.follow_ups(centres=("east",))] == ["A", "C"]
    assert sorted(f.case_id for f in store.follow_ups(centres=("east", "west"))) == [
        "A", "B", "C"]
    assert store.follow_ups(centres=()) == []


def test_ratings_are_joined_to_the_case_friction(
    backend: Backend, store: SqlFrictionStore
) -> None:
    # East: five cases with friction (two bad reviews), five without (one bad review).
    levels = ["very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
              "very_dissatisfied"]
    for n, level in enumerate(levels):
        store.save_rating(rating(f"F{n}", level), None)
    for n, level in enumerate(["very_satisfied"] * 4 + ["dissatisfied"]):
        store.save_rating(rating(f"N{n}", level, at=NOW + timedelta(minutes=n)), None)
    store.save_rating(rating("W1", "dissatisfied", centre="west"), None)  # a small group
    with_friction(backend, *(f"F{n}" for n in range(5)))

    sums = {(s.bundle, s.centre): s for s in store.satisfaction_sums(DashboardFilter())}
    assert (sums["residence-permit", "east"].ratings, sums["residence-permit", "east"].satisfied,
            sums["residence-permit", "east"].bad) == (10, 7, 3)
    split = {s.with_friction: (s.ratings, s.bad)
             for s in store.friction_split(DashboardFilter(centre="east"))}
    assert split == {True: (5, 2), False: (5, 1)}
    unseen = store.unseen_bad_reviews(DashboardFilter(), 10)
    assert [r.case_id for r in unseen] == ["N4", "W1"]  # newest first, friction-free only
    assert store.unseen_bad_reviews(DashboardFilter(since=NOW + timedelta(hours=1)), 10) == []

    point = store.point_ratings([FRICTION, "other|x|y|z"])
    assert set(point) == {FRICTION}
    assert (point[FRICTION].ratings, point[FRICTION].bad, point[FRICTION].bad_share) == (5, 2, 0.4)

    shown = build_satisfaction(store, DashboardFilter(), date(2026, 9, 30), min_group=5)
    east, west = shown.groups
    assert (east.ratings, east.satisfied_share, east.benchmark_met) == (10, 0.7, False)
    assert west.suppressed and west.ratings is None  # one rating: withheld
    assert [(f.with_friction, f.bad_share) for f in shown.by_friction] == [
        (True, 0.4), (False, 2 / 6)]
