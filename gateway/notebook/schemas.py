"""Request and response bodies of the notebook, and the lists its forms offer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args

import msgspec
from litestar.params import Parameter
from msgspec import Meta

from friction.backlog import BacklogEntry, BacklogItem, Status, Transition
from friction.reports import GroupBy
from friction.stuck_points import StuckPoint, TrendPoint
from gateway.errors import Name
from kernel.events import FrictionEvent
from workflows.definition import BundleDefinition

MAX_NOTE_CHARS = 2000
MAX_REASON_CHARS = 500
MAX_BATCH_BYTES = 1_000_000  # a friction batch (413 beyond)
MAX_BATCH_EVENTS = 1000
MAX_BODY_BYTES = 64 * 1024  # a note or a backlog move (413 beyond)
GROUP_BYS: tuple[GroupBy, ...] = get_args(GroupBy)
# The one subject of free text: whatever the case's definition does not name.
OTHER_SUBJECT = "other"


def note_subjects(definition: BundleDefinition) -> set[str]:
    """The subjects a note on a case of `definition` may name: the service, its steps,
    their fields and materials, and "other"."""
    names = {definition.id, OTHER_SUBJECT}
    for step in definition.steps:
        names.add(step.id)
        names.update(f.name for f in step.fields)
        names.update(m.name for m in step.materials)
    return names

Fingerprint = Annotated[str, Parameter(min_length=7, max_length=400)]
# An instant a report or an export starts or ends at: a China-local date, or a time with
# its offset (a naive one could be read two ways), in 2000-2099.
# Months of 30 and 31 days are told apart; a 29 February is checked by the parser.
_DAY = (r"20[0-9]{2}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])|(0[13-9]|1[0-2])-30"
        r"|(0[13578]|1[02])-31)")
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
_OFFSET = r"(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])"
INSTANT_PATTERN = f"^{_DAY}({_TIME}{_OFFSET})?$"
Instant = Annotated[str | None, Parameter(
    pattern=INSTANT_PATTERN, max_length=40,
    description="a date (YYYY-MM-DD, China time) or a time with offset",
)]


class BacklogView(msgspec.Struct, kw_only=True, frozen=True):
    entries: tuple[BacklogEntry, ...]
    verification: str  # the policy the verifier judges fixes by


class StuckPointView(msgspec.Struct, kw_only=True, frozen=True):
    point: StuckPoint
    item: BacklogItem
    trend_by_day: tuple[TrendPoint, ...]
    trend_by_week: tuple[TrendPoint, ...]
    transitions: tuple[Transition, ...]


class TransitionBody(msgspec.Struct, kw_only=True, frozen=True):
    """A move of a backlog item. Who moves it is the logged-in account, recorded as the
    transition's actor; an `actor` in the body is ignored."""

    to_status: Status
    reason: Annotated[str, Meta(max_length=MAX_REASON_CHARS)]
    owner: Name | None = None
    fix_description: Annotated[str, Meta(max_length=MAX_NOTE_CHARS)] | None = None
    fix_deployed_at: datetime | None = None
    expected_status: Status | None = None  # the status the caller saw; 409 if it moved


class TransitionMade(msgspec.Struct, kw_only=True, frozen=True):
    item: BacklogItem
    transition: Transition


class NoteBody(msgspec.Struct, kw_only=True, frozen=True):
    """A clerk's notebook entry. Who writes it is the logged-in account, recorded as the
    note's actor; an `actor` in the body is ignored."""

    category: Name
    text: Annotated[str, Meta(min_length=1, max_length=MAX_NOTE_CHARS)]
    about_kind: Name | None = None
    subject: Name | None = None
    step: Name | None = None  # default: the case's current step


class FrictionBatch(msgspec.Struct, kw_only=True, frozen=True):
    """What POST /api/friction/events takes (for the OpenAPI document: the handler
    decodes event by event, so one bad event is reported without sinking the rest).
    `occurred_at` lies between 2000-01-01 and a day after the notebook receives it."""

    events: Annotated[list[FrictionEvent], Meta(max_length=MAX_BATCH_EVENTS)]


class OcelLog(msgspec.Struct, kw_only=True, frozen=True):
    """An OCEL 2.0 event log in its JSON form (the OpenAPI document's view of
    GET /api/friction/ocel, which streams it as it is encoded)."""

    objectTypes: list[dict[str, Any]]
    eventTypes: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    events: list[dict[str, Any]]
