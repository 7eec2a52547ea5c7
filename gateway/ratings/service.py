"""What the gateway does with a citizen's rating (好差评), whoever asks: the API (a
window's rating pad, SMS, the online service), the tracking page and the console's
follow-up list rate a visit, read a case's ratings and answer a follow-up through
RatingService, so they never drift apart.

A rating needs a real case: its progress is read from Temporal, which gives the bundle,
the centre and how many visits (trips) the case has had. A bad review opens its
follow-up in the same write, due a number of working days later (RatingPolicy) by the
calendar as published now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from litestar.di import NamedDependency
from litestar.plugins.problem_details import ProblemDetailsException

from friction.ratings import (
    FollowUp,
    Rating,
    RatingError,
    RatingExists,
    RatingPolicy,
    check_answer,
    check_owner,
    new_rating,
)
from friction.satisfaction import Satisfaction, build_satisfaction
from friction.store import ConflictError, FrictionStore
from friction.store.dashboard import DashboardFilter
from gateway.accounts import Account
from gateway.cases.service import CaseService
from gateway.centres import listed_centres
from gateway.errors import invalid_field, problem
from gateway.ratings.schemas import CaseRatings, FollowUps, FollowUpView, RatingMade
from kernel.china_time import local_date
from workflows.calendar import WorkingCalendar
from workflows.case import CaseProgress


def refused(exc: RatingError) -> ProblemDetailsException:
    """The rules' refusal as problem details naming the field the message starts with:
    409 for a visit rated already, 422 otherwise."""
    field, _, said = str(exc).partition(":")
    if isinstance(exc, RatingExists):
        return problem(409, "Rated already", str(exc), field=field)
    return invalid_field(field, said.strip())


def centres_seen(account: Account) -> tuple[str, ...] | None:
    """The centres whose follow-ups `account` lists: a clerk's own centres (the centres
    policy's `listed_centres`); None, every centre, for the data bureau's analysts and
    for an account of every centre (an admin)."""
    return None if account.has_any("analyst") else listed_centres(account, None)


class RatingService:
    """Ratings and follow-ups in the notebook's store; cases from Temporal."""

    def __init__(
        self,
        store: FrictionStore,
        cases: CaseService,
        calendar: Callable[[], WorkingCalendar],
        policy: RatingPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.policy = policy
        self._cases = cases
        self._calendar = calendar
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def case(self, case_id: str) -> tuple[CaseProgress, str]:
        """A case one can rate: 422 naming case_id when there is none."""
        try:
            progress, centre = await self._cases.progress_and_centre(case_id)
        except ProblemDetailsException as exc:
            if exc.status_code == 404:
                raise invalid_field("case_id", f"no case {case_id}") from exc
            raise
        return progress, centre or ""

    async def rate(
        self,
        progress: CaseProgress,
        centre: str,
        *,
        level: str,
        channel: str,
        visit: int | None = None,
        reasons: tuple[str, ...] = (),
        text: str | None = None,
    ) -> RatingMade:
        """Rate a visit of a case read by `case` (or the tracking page): the latest visit
        unless `visit` names one. 409 naming visit when it was rated already."""
        now = self.now()
        try:
            rating = new_rating(
                case_id=progress.case_id, visit=progress.trips if visit is None else visit,
                visits=progress.trips, level=level, reasons=reasons, text=text,
                channel=channel, bundle=progress.bundle, centre=centre, now=now,
            )
        except RatingError as exc:
            raise refused(exc) from exc
        follow_up = self._follow_up_of(rating) if rating.bad else None
        try:
            await asyncio.to_thread(self.store.save_rating, rating, follow_up)
        except RatingExists as exc:
            raise refused(exc) from exc
        return RatingMade(rating=rating, follow_up=follow_up)

    def _follow_up_of(self, rating: Rating) -> FollowUp:
        deadline = self._calendar().add_working_days(
            local_date(rating.rated_at), self.policy.follow_up_working_days)
        return FollowUp(
            case_id=rating.case_id, visit=rating.visit, level=rating.level,
            bundle=rating.bundle, centre=rating.centre, opened_at=rating.rated_at,
            deadline=deadline, owner=rating.centre or "—",
        )

    def _view(self, follow_up: FollowUp) -> FollowUpView:
        return FollowUpView(follow_up=follow_up,
                            overdue=follow_up.overdue(local_date(self.now())))

    async def of_case(self, case_id: str) -> CaseRatings:
        store = self.store
        ratings, follow_ups = await asyncio.gather(
            asyncio.to_thread(store.ratings_of_case, case_id),
            asyncio.to_thread(store.follow_ups_of_case, case_id),
        )
        return CaseRatings(case_id=case_id, ratings=tuple(ratings),
                           follow_ups=tuple(self._view(f) for f in follow_ups))

    async def follow_ups(self, account: Account, open_only: bool = False) -> FollowUps:
        """The follow-ups `account` answers for: its centres', or every centre's."""
        found = await asyncio.to_thread(self.store.follow_ups, None, open_only,
                                        centres_seen(account))
        return FollowUps(today=local_date(self.now()),
                         follow_ups=tuple(self._view(f) for f in found))

    async def _existing(self, case_id: str, visit: int) -> FollowUp:
        # Whose follow-up it is was decided before: the handlers' centre policy "case"
        # admits only the case's home centre (or whoever serves it from elsewhere).
        found = await asyncio.to_thread(self.store.follow_up, case_id, visit)
        if found is None:
            raise problem(404, "No such follow-up",
                          f"no follow-up of visit {visit} of case {case_id}")
        return found

    async def assign(self, case_id: str, visit: int, owner: str) -> FollowUpView:
        await self._existing(case_id, visit)
        try:
            named = check_owner(owner)
            changed = await asyncio.to_thread(self.store.assign_follow_up, case_id, visit,
                                              named)
        except RatingError as exc:
            raise refused(exc) from exc
        except ConflictError as exc:
            raise problem(409, "Answered already", str(exc), field="owner") from exc
        return self._view(changed)

    async def answer(self, account: Account, case_id: str, visit: int, answer: str,
                     owner: str | None = None) -> FollowUpView:
        """Close a follow-up with its answer to the citizen (required, masked)."""
        await self._existing(case_id, visit)
        try:
            said = check_answer(answer)
            if owner is not None and owner.strip():
                await asyncio.to_thread(self.store.assign_follow_up, case_id, visit,
                                        check_owner(owner))
            closed = await asyncio.to_thread(self.store.answer_follow_up, case_id, visit,
                                             said, account.username, self.now())
        except RatingError as exc:
            raise refused(exc) from exc
        except ConflictError as exc:
            raise problem(409, "Answered already", str(exc), field="answer") from exc
        return self._view(closed)

    async def dashboard(self, flt: DashboardFilter) -> Satisfaction:
        today = local_date(self.now())
        return await asyncio.to_thread(build_satisfaction, self.store, flt, today)


def provide_rating_service(
    store: NamedDependency[FrictionStore],
    case_service: NamedDependency[CaseService],
    calendar_source: NamedDependency[Callable[[], WorkingCalendar]],
    rating_policy: NamedDependency[RatingPolicy],
    clock: NamedDependency[Callable[[], datetime]],
) -> RatingService:
    """The request's RatingService, from the app's dependencies (Provide in gateway.app)."""
    return RatingService(store, case_service, calendar_source, rating_policy, clock)


# A handler takes the service as `rating_service: Ratings`; the parameter's name is the key.
Ratings = NamedDependency[RatingService]
