"""Request and response bodies of the notebook, and the lists its forms offer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, get_args

import msgspec
from litestar.params import Parameter

from friction.backlog import BacklogEntry, BacklogItem, Status, Transition
from friction.reports import GroupBy
from friction.stuck_points import StuckPoint, TrendPoint
from kernel.events import FRICTION_KINDS
from workflows.definition import BundleDefinition

MAX_NOTE_CHARS = 2000
GROUP_BYS: tuple[GroupBy, ...] = get_args(GroupBy)
# What a clerk's note may be about, as the workbench's form offers it: a closed list, so
# a note cannot mint a stuck point of its own words.
NOTE_CATEGORIES = ("system", "form", "material", "entry", "policy", "other")
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
# The kinds a clerk's note may join: every kind of friction, but a can't-get-it-done case
# (the register has its own window) and a note itself.
NOTE_KINDS: tuple[str, ...] = tuple(
    k for k in FRICTION_KINDS if k not in ("cant_get_it_done", "clerk_note")
)

Fingerprint = Annotated[str, Parameter(min_length=7, max_length=400)]


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
    reason: str
    owner: str | None = None
    fix_description: str | None = None
    fix_deployed_at: datetime | None = None
    expected_status: Status | None = None  # the status the caller saw; 409 if it moved


class TransitionMade(msgspec.Struct, kw_only=True, frozen=True):
    item: BacklogItem
    transition: Transition


class NoteBody(msgspec.Struct, kw_only=True, frozen=True):
    """A clerk's notebook entry. Who writes it is the logged-in account, recorded as the
    note's actor; an `actor` in the body is ignored."""

    category: str
    text: str
    about_kind: str | None = None
    subject: str | None = None
    step: str | None = None  # default: the case's current step
