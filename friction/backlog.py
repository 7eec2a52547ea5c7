"""The remediation backlog: each stuck point is an item with a lifecycle, and a fix is
verified by the data, not by whoever deployed it.

new -> triaged (an owner) -> in progress -> fix deployed (when, what) -> verified, or
reopened; a verified item reopens by itself when its friction returns. Every transition
is kept with who, when and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from friction.ratings import PointRatings
from friction.stuck_points import StuckPoint
from friction.verification import RateWindow, Verdict, VerificationPolicy, judge

Status = Literal["new", "triaged", "in_progress", "fix_deployed", "verified", "reopened"]

# What people may do; "verified" is the verifier's alone.
_ALLOWED: dict[str, frozenset[str]] = {
    "new": frozenset({"triaged"}),
    "triaged": frozenset({"in_progress", "fix_deployed"}),
    "in_progress": frozenset({"triaged", "fix_deployed"}),
    "fix_deployed": frozenset({"reopened"}),
    "verified": frozenset({"reopened"}),
    "reopened": frozenset({"triaged", "in_progress", "fix_deployed"}),
}
VERIFIER = "verifier"
# The statuses the verifier judges: a fix deployed, or verified (its friction may return).
VERIFIED_STATUSES: tuple[Status, ...] = ("fix_deployed", "verified")


def allowed_moves(status: str) -> frozenset[str]:
    """The statuses a person may move an item to from `status`."""
    return _ALLOWED[status]


class LifecycleError(ValueError):
    """A transition that the lifecycle does not allow; the message says why."""


class BacklogItem(msgspec.Struct, kw_only=True, frozen=True):
    fingerprint: str
    status: Status = "new"
    owner: str | None = None
    fix_deployed_at: datetime | None = None
    fix_description: str | None = None
    verified_at: datetime | None = None
    updated_at: datetime | None = None
    verdict: Verdict | None = None  # the verifier's last word


class Transition(msgspec.Struct, kw_only=True, frozen=True):
    fingerprint: str
    from_status: Status
    to_status: Status
    actor: str
    at: datetime
    reason: str


class BacklogEntry(msgspec.Struct, kw_only=True, frozen=True):
    rank: int
    point: StuckPoint
    item: BacklogItem
    # The citizens' ratings of the point's cases, beside its burden.
    ratings: PointRatings = msgspec.field(default_factory=PointRatings)


class TransitionRequest(msgspec.Struct, kw_only=True, frozen=True):
    """What a person asks of an item over the API or the CLI."""

    to_status: Status
    reason: str
    owner: str | None = None
    fix_description: str | None = None
    fix_deployed_at: datetime | None = None


def apply(
    item: BacklogItem, request: TransitionRequest, actor: str, now: datetime
) -> tuple[BacklogItem, Transition]:
    """A person's transition, checked against the lifecycle."""
    if not request.reason.strip():
        raise LifecycleError("reason: say why, in a few words")
    if request.to_status not in _ALLOWED[item.status]:
        allowed = ", ".join(sorted(_ALLOWED[item.status])) or "nothing"
        raise LifecycleError(
            f"to_status: {item.status} -> {request.to_status} is not allowed (allowed: {allowed})"
        )
    changes: dict[str, object] = {"status": request.to_status, "updated_at": now}
    if request.to_status == "triaged":
        if not (request.owner or "").strip():
            raise LifecycleError("owner: triage assigns an owner")
        changes["owner"] = request.owner
    elif request.owner:
        changes["owner"] = request.owner
    if request.to_status == "fix_deployed":
        if not (request.fix_description or "").strip():
            raise LifecycleError("fix_description: say what was deployed")
        deployed_at = request.fix_deployed_at or now
        if deployed_at.tzinfo is None:  # a naive time cannot be placed before or after cases
            raise LifecycleError("fix_deployed_at: needs a time zone offset")
        if deployed_at > now:
            raise LifecycleError("fix_deployed_at: must not be in the future")
        changes.update(fix_deployed_at=deployed_at, fix_description=request.fix_description,
                       verified_at=None, verdict=None)
    new = msgspec.structs.replace(item, **changes)
    return new, Transition(fingerprint=item.fingerprint, from_status=item.status,
                           to_status=request.to_status, actor=actor, at=now,
                           reason=request.reason.strip())


class RateSource(msgspec.Struct, kw_only=True, frozen=True):
    """The windows the verifier compares, read from the store's rollups."""

    before: RateWindow
    after: RateWindow  # cases opened since the fix, or since verification


def verify(
    item: BacklogItem, windows: RateSource, policy: VerificationPolicy, now: datetime
) -> tuple[BacklogItem, Transition | None] | None:
    """The verifier's word on an item whose fix is deployed or verified: the updated item
    and its transition (None while it only waits for more cases), or None if nothing
    changed."""
    if item.status not in VERIFIED_STATUSES:
        return None
    verdict: Verdict = judge(policy, windows.before, windows.after)
    if item.status == "fix_deployed":
        if verdict.outcome == "not_yet":
            if item.verdict == verdict:
                return None
            return msgspec.structs.replace(item, verdict=verdict), None
        to: Status = "verified" if verdict.outcome == "verified" else "reopened"
    else:
        if verdict.outcome != "not_effective":
            return None
        to = "reopened"
    changes: dict[str, object] = {"status": to, "updated_at": now, "verdict": verdict}
    if to == "verified":
        changes["verified_at"] = now
    why = verdict.explanation if to != "reopened" or item.status == "fix_deployed" else (
        f"friction came back after verification: {verdict.explanation}"
    )
    return msgspec.structs.replace(item, **changes), Transition(
        fingerprint=item.fingerprint, from_status=item.status, to_status=to,
        actor=VERIFIER, at=now, reason=why,
    )

