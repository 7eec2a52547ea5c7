"""The error notebook's loop, collect -> analyse -> fix -> feed back, over any store.

The gateway and the CLI call these functions; they hold no SQL (the store does) and no
HTTP (the gateway does). Reading the backlog writes nothing: the verifier, which moves
items whose fix is deployed by the data's verdict, runs where writes belong - when a
person deploys a fix (transition with a policy), on its Temporal Schedule (an activity
on the worker) and from the CLI (`onething notebook verify`), each calling run_verifier.
Working days come from a calendar passed in (workflows.calendar.WorkingCalendar fits
WorkingDays): the notebook does not import the workflows.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any, Protocol

import msgspec

from friction.backlog import (
    VERIFIED_STATUSES,
    BacklogEntry,
    BacklogItem,
    LifecycleError,
    RateSource,
    Status,
    Transition,
    TransitionRequest,
    apply,
    verify,
)
from friction.ingest import check_event, ingest
from friction.ocel import to_ocel
from friction.ratings import PointRatings
from friction.register import (
    DEFAULT_DEADLINE_WORKING_DAYS,
    CantGetItDoneRecord,
    RegisterError,
    check_cause,
    check_resolution,
    event_of,
    is_walk_in,
)
from friction.reports import DEFAULT_MIN_GROUP, GroupBy, Report, build
from friction.store import (
    BacklogStore,
    ConflictError,
    ExportStore,
    FrictionStore,
    IngestStore,
    RegisterStore,
    ReportStore,
)
from friction.verification import VerificationPolicy
from kernel.china_time import local_date
from kernel.events import FRICTION_KINDS, ClerkNote
from kernel.privacy import has_personal_value, mask


class WorkingDays(Protocol):
    """What the notebook needs of a working-day calendar."""

    def add_working_days(self, start: date, days: int) -> date: ...

    def working_days_between(self, start: date, end: date) -> int: ...


class NotFoundError(KeyError):
    """No such stuck point or registered case."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InputError(ValueError):
    """Input the notebook refuses; the message starts with the field at fault."""


def field_of(error: ValueError) -> str | None:
    """The field an InputError, LifecycleError or RegisterError names ("owner: ...")."""
    head, sep, _ = str(error).partition(":")
    return head if sep and head.isidentifier() else None


# -- analyse and feed back: the backlog and its verifier -----------------------------------


def bundle_of(fingerprint: str) -> str | None:
    parts = fingerprint.split("|")
    return parts[1] if len(parts) == 4 and parts[1] != "-" else None


def rate_source(store: BacklogStore, item: BacklogItem, bundle: str) -> RateSource | None:
    """Before: closed cases opened before the fix. After: those opened since the fix, or
    since verification for a verified item (whose friction may come back)."""
    if item.fix_deployed_at is None:
        return None
    since = item.fix_deployed_at
    if item.status == "verified" and item.verified_at is not None:
        since = item.verified_at
    return RateSource(
        before=store.rate_window(item.fingerprint, bundle, None, item.fix_deployed_at),
        after=store.rate_window(item.fingerprint, bundle, since, None),
    )


def run_verifier(
    store: BacklogStore, policy: VerificationPolicy, now: datetime
) -> list[Transition]:
    """Judge every item whose fix is deployed or verified and keep what changed: the
    scheduled run (the gateway's, the CLI's), a write."""
    made: list[Transition] = []
    for item in store.backlog_items().values():
        transition = verify_item(store, item, policy, now)
        if transition is not None:
            made.append(transition)
    return made


def verify_item(
    store: BacklogStore, item: BacklogItem, policy: VerificationPolicy, now: datetime
) -> Transition | None:
    """The verifier's word on one item, kept: its transition, or None if it did not move
    (still waiting for cases, nothing to judge, or moved meanwhile by someone else)."""
    bundle = bundle_of(item.fingerprint)
    if item.status not in VERIFIED_STATUSES or bundle is None:
        return None  # without a bundle there are no cases to count a rate over
    windows = rate_source(store, item, bundle)
    if windows is None:
        return None
    outcome = verify(item, windows, policy, now)
    if outcome is None:
        return None
    new, transition = outcome
    try:
        store.save_backlog(new, transition, expected_status=item.status)
    except ConflictError:
        return None  # a person or another verifier moved it meanwhile; theirs stands
    return transition


def backlog(
    store: FrictionStore,
    bundle: str | None = None,
    limit: int = 50,
) -> list[BacklogEntry]:
    """Stuck points ranked by burden, each with its item ("new" if it has none), as the
    verifier last left them. A read: it writes nothing."""
    points = store.stuck_points(bundle=bundle, limit=limit)
    items = store.backlog_items()
    rated = store.point_ratings([p.fingerprint for p in points])
    return [
        BacklogEntry(
            rank=rank,
            point=point,
            item=items.get(point.fingerprint) or BacklogItem(fingerprint=point.fingerprint),
            ratings=rated.get(point.fingerprint) or PointRatings(),
        )
        for rank, point in enumerate(points, start=1)
    ]


def transition(
    store: FrictionStore,
    fingerprint: str,
    request: TransitionRequest,
    actor: str,
    now: datetime,
    expected_status: Status | None = None,
    policy: VerificationPolicy | None = None,
) -> tuple[BacklogItem, Transition]:
    """A person's transition. LifecycleError if the lifecycle forbids it, ConflictError if
    the item is no longer in expected_status (or changed while this ran). With a policy,
    a deployed fix is judged at once: the cases opened since a back-dated deployment may
    already be enough, and a fix still waiting for cases shows how many it has."""
    if not actor.strip():
        raise LifecycleError("actor: say who makes the transition")
    if store.stuck_point(fingerprint) is None:
        raise NotFoundError(f"no stuck point {fingerprint}")
    item = store.backlog_item(fingerprint) or BacklogItem(fingerprint=fingerprint)
    if expected_status is not None and item.status != expected_status:
        raise ConflictError(
            f"the item is {item.status} now, not {expected_status}; read it again"
        )
    new, made = apply(item, request, actor.strip(), now)
    store.save_backlog(new, made, expected_status=item.status)
    if policy is not None and new.status == "fix_deployed":
        verify_item(store, new, policy, now)
    return new, made


# -- collect: clerks' notes and the can't-get-it-done register ----------------------------


def note_id(case_id: str, *parts: str | None) -> str:
    """The same note sent twice (a retried request) is stored once."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in (case_id, *parts)).encode())
    return f"note/{case_id}/{digest.hexdigest()[:16]}"


# What a clerk's note may be about: a closed list of categories, so a note cannot mint a
# stuck point of its own words, and the kinds of friction it may join: every kind but a
# can't-get-it-done case (the register has its own window) and a note itself. The
# workbench's form offers exactly these.
NOTE_CATEGORIES: tuple[str, ...] = ("system", "form", "material", "entry", "policy", "other")
NOTE_KINDS: tuple[str, ...] = tuple(
    k for k in FRICTION_KINDS if k not in ("cant_get_it_done", "clerk_note")
)


def log_note(store: IngestStore, note: ClerkNote) -> ClerkNote:
    """Ingest a clerk's note through the ingest path: its category and kind checked
    against what a note may be about, its text masked, every other string checked for
    personal values. Returns the note as stored."""
    if note.category not in NOTE_CATEGORIES:
        raise InputError(f"category: must be one of {', '.join(NOTE_CATEGORIES)}")
    if note.about_kind is not None and note.about_kind not in NOTE_KINDS:
        raise InputError(f"about_kind: must be one of {', '.join(NOTE_KINDS)}")
    checked, error = check_event(note)
    if checked is None:
        raise InputError(_field_first(str(error)))
    ingest(store, [note])
    assert isinstance(checked, ClerkNote)
    return checked


def _field_first(error: str) -> str:
    # check_event says "subject holds a personal value"; the API names the field first.
    head, _, rest = error.partition(" ")
    return f"{head}: {rest}" if rest.startswith("holds") else error


class RegisterEntry(msgspec.Struct, kw_only=True, frozen=True):
    record: CantGetItDoneRecord
    age_working_days: int  # from registration to the answer, or to now while open
    overdue: bool  # past its deadline unanswered, or answered after it


def register_cant_get_it_done(
    store: FrictionStore,
    *,
    case_id: str,
    bundle: str,
    step: str | None,
    centre: str,
    department: str,
    cause: str,
    calendar: WorkingDays,
    now: datetime,
    deadline_working_days: int = DEFAULT_DEADLINE_WORKING_DAYS,
) -> tuple[CantGetItDoneRecord, bool]:
    """Register a case (or return its registration) and record its friction event."""
    checked_cause = check_cause(cause)
    for name, value in (("case_id", case_id), ("bundle", bundle), ("step", step),
                        ("centre", centre), ("department", department)):
        if value is not None and has_personal_value(value):
            raise RegisterError(f"{name}: holds a personal value; name the case, not a person")
    record = CantGetItDoneRecord(
        case_id=case_id, bundle=bundle, step=step, centre=centre, department=department,
        cause=checked_cause, registered_at=now,
        deadline=calendar.add_working_days(local_date(now), deadline_working_days),
        walk_in=is_walk_in(case_id),
    )
    stored, created = store.register_cant_get_it_done(record)
    # Every time, not only the first: a crash between the two writes heals on a retry,
    # and the event id makes the second ingest a no-op.
    ingest(store, [event_of(stored)])
    return stored, created


def resolve_cant_get_it_done(
    store: RegisterStore, case_id: str, resolution: str, explanation: str, now: datetime
) -> CantGetItDoneRecord:
    checked = check_resolution(resolution, explanation)
    return store.resolve_cant_get_it_done(case_id, checked, mask(explanation.strip()), now)


def cant_get_it_done_cases(
    store: RegisterStore, calendar: WorkingDays, now: datetime, open_only: bool = False
) -> list[RegisterEntry]:
    entries = []
    for record in store.cant_get_it_done_cases(open_only=open_only):
        end = local_date(record.resolved_at or now)
        entries.append(
            RegisterEntry(
                record=record,
                age_working_days=calendar.working_days_between(
                    local_date(record.registered_at), end
                ),
                overdue=end > record.deadline,
            )
        )
    return entries


# -- reports and the event log --------------------------------------------------------------


def report(
    store: ReportStore,
    group_by: GroupBy,
    since: datetime | None,
    until: datetime | None,
    min_group: int = DEFAULT_MIN_GROUP,
    bundle: str | None = None,
) -> Report:
    if min_group < 1:
        raise InputError("min_group: at least 1")
    if since is not None and until is not None and since >= until:
        raise InputError("until: must be after since")
    return build(group_by, store.report_sums(group_by, since, until, bundle), since, until,
                 min_group)


def export_ocel(
    store: ExportStore, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Cases opened and friction that occurred in [since, until), as OCEL 2.0 JSON."""
    return to_ocel(store.iter_cases(since, until), store.iter_events(since, until))
