"""The citizens' ratings and their follow-ups, and the reads that join a rating to its
case's friction (case_friction: every event recorded on the case, detected or noted).

A rating is inserted once per case and visit (the primary key refuses a second, so two
channels racing for one visit cannot both win); its follow-up, for a bad review, goes in
the same transaction. A follow-up changes under a row lock and is answered once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.ratings import FollowUp, PointRatings, Rating, RatingExists
from friction.store.dashboard import DashboardFilter
from friction.store.engine import (
    ConflictError,
    Cursor,
    Engine,
    Row,
    dt,
    filters,
    opt_dt,
    ts,
    window,
)

__all__ = ["FrictionSplit", "RatingSql", "RatingStore", "SatisfactionSums"]

_RATING_COLUMNS = "case_id, visit, level, bad, reasons, text, channel, bundle, centre, rated_at"
_INSERT_RATING = f"""
INSERT INTO ratings ({_RATING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id, visit) DO NOTHING"""
_FOLLOW_COLUMNS = """case_id, visit, level, bundle, centre, opened_at, deadline, owner, answer,
       answered_at, answered_by"""
_INSERT_FOLLOW_UP = f"""
INSERT INTO rating_follow_ups ({_FOLLOW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_CASE_RATINGS = f"SELECT {_RATING_COLUMNS} FROM ratings WHERE case_id = ? ORDER BY visit"
_CASE_FOLLOW_UPS = f"""
SELECT {_FOLLOW_COLUMNS} FROM rating_follow_ups WHERE case_id = ? ORDER BY visit"""
_ONE_FOLLOW_UP = f"""
SELECT {_FOLLOW_COLUMNS} FROM rating_follow_ups WHERE case_id = ? AND visit = ?"""
_LOCK_FOLLOW_UP = _ONE_FOLLOW_UP + "{for_update}"
_FOLLOW_UPS = f"""
SELECT {_FOLLOW_COLUMNS} FROM rating_follow_ups WHERE 1 = 1{{filters}}
ORDER BY answered_at IS NOT NULL, deadline, opened_at, case_id, visit"""
_ASSIGN = "UPDATE rating_follow_ups SET owner = ? WHERE case_id = ? AND visit = ?"
_ANSWER = """
UPDATE rating_follow_ups SET answer = ?, answered_at = ?, answered_by = ?
WHERE case_id = ? AND visit = ?"""
_SATISFACTION = """
SELECT bundle, centre, count(*), sum(CASE WHEN bad = 0 THEN 1 ELSE 0 END), sum(bad)
FROM ratings WHERE rated_at >= ? AND rated_at < ?{filters}
GROUP BY bundle, centre ORDER BY bundle, centre"""
# A case has friction when anything was recorded on it: an event a detector built, or a
# clerk's note.
_HAS_FRICTION = "EXISTS (SELECT 1 FROM case_friction f WHERE f.case_id = r.case_id)"
_SPLIT = f"""
SELECT CASE WHEN {_HAS_FRICTION} THEN 1 ELSE 0 END AS with_friction, count(*), sum(r.bad)
FROM ratings r WHERE r.rated_at >= ? AND r.rated_at < ?{{filters}}
GROUP BY CASE WHEN {_HAS_FRICTION} THEN 1 ELSE 0 END"""
_UNSEEN = f"""
SELECT {", ".join(f"r.{c.strip()}" for c in _RATING_COLUMNS.split(","))}
FROM ratings r
WHERE r.bad = 1 AND NOT {_HAS_FRICTION} AND r.rated_at >= ? AND r.rated_at < ?{{filters}}
ORDER BY r.rated_at DESC, r.case_id, r.visit LIMIT ?"""
_POINT_RATINGS = """
SELECT f.fingerprint, count(*), sum(r.bad)
FROM case_friction f JOIN ratings r ON r.case_id = f.case_id
WHERE f.fingerprint IN ({marks})
GROUP BY f.fingerprint"""

_encode = msgspec.json.Encoder().encode
_decode_reasons = msgspec.json.Decoder(tuple[str, ...]).decode


class SatisfactionSums(msgspec.Struct, kw_only=True, frozen=True):
    """Ratings of one bundle at one centre: satisfied (top three levels) and bad."""

    bundle: str
    centre: str
    ratings: int
    satisfied: int
    bad: int


class FrictionSplit(msgspec.Struct, kw_only=True, frozen=True):
    """Ratings of cases with friction recorded, or without."""

    with_friction: bool
    ratings: int
    bad: int


@runtime_checkable
class RatingStore(Protocol):
    """What the rating desk, the tracking page, the dashboard and the backlog need."""

    def save_rating(self, rating: Rating, follow_up: FollowUp | None) -> None:
        """Store a rating (and the follow-up of a bad one) together; RatingExists if the
        visit was rated already."""
        ...

    def ratings_of_case(self, case_id: str) -> list[Rating]:
        """The case's ratings by visit."""
        ...

    def follow_ups_of_case(self, case_id: str) -> list[FollowUp]:
        ...

    def follow_up(self, case_id: str, visit: int) -> FollowUp | None:
        ...

    def follow_ups(
        self, centre: str | None = None, open_only: bool = False,
        centres: tuple[str, ...] | None = None,
    ) -> list[FollowUp]:
        """Follow-ups (of one centre, and of those of `centres` unless None), open ones
        first, the nearest deadline first."""
        ...

    def assign_follow_up(self, case_id: str, visit: int, owner: str) -> FollowUp:
        """Give it an owner; KeyError if there is none, ConflictError once answered."""
        ...

    def answer_follow_up(
        self, case_id: str, visit: int, answer: str, actor: str, at: datetime
    ) -> FollowUp:
        """Close it with its answer; KeyError if there is none, ConflictError once
        answered."""
        ...

    def satisfaction_sums(self, flt: DashboardFilter) -> list[SatisfactionSums]:
        """Ratings made in the filter's period, by bundle and centre."""
        ...

    def friction_split(self, flt: DashboardFilter) -> list[FrictionSplit]:
        ...

    def unseen_bad_reviews(self, flt: DashboardFilter, limit: int) -> list[Rating]:
        """Bad reviews of cases with no friction recorded, newest first: what citizens
        felt that no detector saw."""
        ...

    def point_ratings(self, fingerprints: Sequence[str]) -> dict[str, PointRatings]:
        """The ratings of each stuck point's cases (points with none are left out)."""
        ...


def _rating(row: Row) -> Rating:
    case_id, visit, level, _, reasons, text, channel, bundle, centre, rated_at = row
    return Rating(case_id=case_id, visit=int(visit), level=level,
                  reasons=_decode_reasons(reasons), text=text, channel=channel,
                  bundle=bundle, centre=centre, rated_at=dt(rated_at))


def _follow_up(row: Row) -> FollowUp:
    (case_id, visit, level, bundle, centre, opened, deadline, owner, answer, answered,
     answered_by) = row
    return FollowUp(
        case_id=case_id, visit=int(visit), level=level, bundle=bundle, centre=centre,
        opened_at=dt(opened),
        deadline=deadline if isinstance(deadline, date) else date.fromisoformat(deadline),
        owner=owner, answer=answer, answered_at=opt_dt(answered), answered_by=answered_by,
    )


def _rating_filters(flt: DashboardFilter, alias: str = "") -> tuple[str, tuple[object, ...]]:
    return filters([(f"{alias}bundle", flt.bundle), (f"{alias}centre", flt.centre)],
                   window(flt.since, flt.until))


class RatingSql:
    """RatingStore in SQL."""

    _engine: Engine

    def save_rating(self, rating: Rating, follow_up: FollowUp | None) -> None:
        sql = self._engine.sql

        def write(cur: Cursor) -> None:
            cur.execute(sql(_INSERT_RATING), (
                rating.case_id, rating.visit, rating.level, int(rating.bad),
                _encode(rating.reasons).decode(), rating.text, rating.channel, rating.bundle,
                rating.centre, ts(rating.rated_at),
            ))
            if cur.rowcount != 1:
                raise RatingExists(
                    f"visit: visit {rating.visit} of case {rating.case_id} is rated already "
                    "(once per case and visit)")
            if follow_up is not None:
                cur.execute(sql(_INSERT_FOLLOW_UP), (
                    follow_up.case_id, follow_up.visit, follow_up.level, follow_up.bundle,
                    follow_up.centre, ts(follow_up.opened_at), follow_up.deadline.isoformat(),
                    follow_up.owner, None, None, None,
                ))

        self._engine.write(write)

    def ratings_of_case(self, case_id: str) -> list[Rating]:
        return [_rating(row) for row in self._engine.fetch(_CASE_RATINGS, (case_id,))]

    def follow_ups_of_case(self, case_id: str) -> list[FollowUp]:
        return [_follow_up(row) for row in self._engine.fetch(_CASE_FOLLOW_UPS, (case_id,))]

    def follow_up(self, case_id: str, visit: int) -> FollowUp | None:
        rows = self._engine.fetch(_ONE_FOLLOW_UP, (case_id, visit))
        return _follow_up(rows[0]) if rows else None

    def follow_ups(
        self, centre: str | None = None, open_only: bool = False,
        centres: tuple[str, ...] | None = None,
    ) -> list[FollowUp]:
        clause, params = filters([("centre", centre)])
        if centres is not None:
            # An account of no centre lists none: "IN ()" is no SQL, so a false clause.
            clause += (f" AND centre IN ({', '.join('?' * len(centres))})" if centres
                       else " AND 1 = 0")
            params = (*params, *centres)
        if open_only:
            clause += " AND answered_at IS NULL"
        return [_follow_up(row) for row in self._engine.fetch(
            _FOLLOW_UPS.replace("{filters}", clause), params)]

    def _change(self, case_id: str, visit: int, statement: str,
                params: tuple[object, ...]) -> FollowUp:
        sql = self._engine.sql

        def write(cur: Cursor) -> FollowUp:
            cur.execute(sql(_LOCK_FOLLOW_UP), (case_id, visit))
            row = cur.fetchone()
            if row is None:
                raise KeyError(f"{case_id}/{visit}")
            if _follow_up(row).answered_at is not None:
                raise ConflictError(f"the follow-up of visit {visit} of case {case_id} "
                                    "was answered already")
            cur.execute(sql(statement), (*params, case_id, visit))
            cur.execute(sql(_ONE_FOLLOW_UP), (case_id, visit))
            return _follow_up(cur.fetchone())

        return self._engine.write(write)

    def assign_follow_up(self, case_id: str, visit: int, owner: str) -> FollowUp:
        return self._change(case_id, visit, _ASSIGN, (owner,))

    def answer_follow_up(
        self, case_id: str, visit: int, answer: str, actor: str, at: datetime
    ) -> FollowUp:
        return self._change(case_id, visit, _ANSWER, (answer, ts(at), actor))

    def satisfaction_sums(self, flt: DashboardFilter) -> list[SatisfactionSums]:
        clause, params = _rating_filters(flt)
        return [
            SatisfactionSums(bundle=bundle, centre=centre, ratings=int(n),
                             satisfied=int(satisfied), bad=int(bad))
            for bundle, centre, n, satisfied, bad in self._engine.fetch(
                _SATISFACTION.replace("{filters}", clause), params)
        ]

    def friction_split(self, flt: DashboardFilter) -> list[FrictionSplit]:
        clause, params = _rating_filters(flt, "r.")
        return [
            FrictionSplit(with_friction=bool(with_friction), ratings=int(n), bad=int(bad))
            for with_friction, n, bad in self._engine.fetch(
                _SPLIT.replace("{filters}", clause), params)
        ]

    def unseen_bad_reviews(self, flt: DashboardFilter, limit: int) -> list[Rating]:
        clause, params = _rating_filters(flt, "r.")
        return [_rating(row) for row in self._engine.fetch(
            _UNSEEN.replace("{filters}", clause), (*params, limit))]

    def point_ratings(self, fingerprints: Sequence[str]) -> dict[str, PointRatings]:
        if not fingerprints:
            return {}
        statement = _POINT_RATINGS.replace("{marks}", ", ".join("?" * len(fingerprints)))
        return {
            fingerprint: PointRatings.of(int(n), int(bad))
            for fingerprint, n, bad in self._engine.fetch(statement, tuple(fingerprints))
        }
