"""What the developer narrows the backlog to and how they order it: by status, owner,
bundle and kind; by burden, events, trend or the ratings of the point's cases.

The query parameters as sent come back in the form; a value the backlog cannot use is
refused with 400 naming the parameter, in the reader's words, and nothing is shown.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal, get_args

import msgspec
from litestar import Request

from friction.backlog import BacklogEntry, Status
from gateway.console.pages import N_, tr
from kernel.events import FRICTION_KINDS

Sort = Literal["burden", "count", "trend", "rating"]
SORTS: tuple[Sort, ...] = get_args(Sort)
STATUSES: tuple[Status, ...] = get_args(Status)
UNASSIGNED = "-"  # the owner filter's "no owner yet"
MAX_OWNER = 64
TREND_DAYS = 28  # a point's trend: events in the last four weeks against the four before

SORT_WORDS: dict[Sort, str] = {
    "burden": N_("Burden (minutes), largest first"),
    "count": N_("Events, most first"),
    "trend": N_("Trend, rising most first"),
    "rating": N_("Share of bad reviews, worst first"),
}
PARAMETER_WORDS = {
    "status": N_("Choose a status from the list."),
    "owner": N_("An owner is at most 64 characters."),
    "bundle": N_("Choose a bundle from the list."),
    "kind": N_("Choose a kind from the list."),
    "sort": N_("Choose an order from the list."),
}


class BacklogQuery(msgspec.Struct, kw_only=True, frozen=True):
    """The filter and order as sent ("" for any), to show them back in the form."""

    status: str = ""
    owner: str = ""
    bundle: str = ""
    kind: str = ""
    sort: str = "burden"


def query_errors(
    request: Request[Any, Any, Any], query: BacklogQuery, bundles: tuple[str, ...]
) -> dict[str, str]:
    """The reader's message for each parameter the backlog cannot use."""
    bad = {
        "status": query.status and query.status not in STATUSES,
        "owner": len(query.owner) > MAX_OWNER or not query.owner.isprintable(),
        "bundle": query.bundle and query.bundle not in bundles,
        "kind": query.kind and query.kind not in FRICTION_KINDS,
        "sort": query.sort not in SORTS,
    }
    return {field: tr(request, PARAMETER_WORDS[field]) for field, wrong in bad.items() if wrong}


def trend_window(today: date) -> tuple[date, date, date]:
    """[since, split) the four weeks before, [split, until) the last four, today included."""
    until = today + timedelta(days=1)
    split = until - timedelta(days=TREND_DAYS)
    return split - timedelta(days=TREND_DAYS), split, until


def chosen(entries: list[BacklogEntry], query: BacklogQuery,
           trends: dict[str, int]) -> list[BacklogEntry]:
    """The entries the query keeps, in its order (ties by burden rank)."""
    def keep(e: BacklogEntry) -> bool:
        owner = e.item.owner or ""
        return ((not query.status or e.item.status == query.status)
                and (not query.kind or e.point.kind == query.kind)
                and (not query.bundle or e.point.bundle == query.bundle)
                and (not query.owner or owner == ("" if query.owner == UNASSIGNED
                                                  else query.owner)))

    def key(e: BacklogEntry) -> tuple[float, ...]:
        if query.sort == "count":
            return (-e.point.count, e.rank)
        if query.sort == "trend":
            return (-trends.get(e.point.fingerprint, 0), e.rank)
        if query.sort == "rating":  # rated points first, the worst share of bad reviews first
            share = e.ratings.bad_share
            return (share is None, -(share or 0.0), -e.ratings.ratings, e.rank)
        return (e.rank,)

    return sorted(filter(keep, entries), key=key)
