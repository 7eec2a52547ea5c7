"""What a channel may tell the notebook, and under which ids.

A channel's event ids live in the namespace of the account that sent them
(`channel:<account>:<its id>`): a channel cannot claim an id a workflow, the register or
a clerk's note will use, so it can neither pre-empt a case's own events nor collide with
another channel's. An event that names a case is checked against it: the case exists,
the bundle, version and centre are the case's (filled in when left out), the step is one
of its definition's. The kinds that have their own door (a return trip, a clerk's note,
a can't-get-it-done case) are not taken from channels: those doors check who records
them and how often.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from friction.ingest import EventError
from kernel.events import FrictionEvent, kind_of
from kernel.privacy import has_personal_value
from workflows.definition import Catalogue

CHANNEL_PREFIX = "channel:"
MAX_EVENT_ID_CHARS = 128
MAX_CASES_PER_BATCH = 200
# Kinds with a door of their own, where the case's workflow or the register checks them.
OWN_DOORS = {
    "repeat_trip": "POST /api/cases/{case_id}/trips",
    "clerk_note": "POST /api/cases/{case_id}/notes",
    "cant_get_it_done": "POST /api/cant-get-it-done",
}


class KnownCase(msgspec.Struct, kw_only=True, frozen=True):
    """A case as its workflow or the notebook knows it."""

    bundle: str
    bundle_version: int | None = None  # None when only the notebook's record was found
    centre: str | None = None
    steps: tuple[str, ...] | None = None  # its own definition's, when its workflow is held


def channel_event_id(account: str, event_id: str) -> str:
    """The stored id of a channel's event: its own id in the account's namespace."""
    return f"{CHANNEL_PREFIX}{account}:{event_id}"


def cases_named(events: Sequence[tuple[int, FrictionEvent]]) -> list[str]:
    """The distinct cases a batch names, in order."""
    return list(dict.fromkeys(e.case_id for _, e in events if e.case_id is not None))


class _Refused(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _steps_of(catalogue: Catalogue, bundle: str, version: int | None) -> set[str]:
    versions = [version] if version is not None else catalogue.versions(bundle)
    return {s.id for v in versions for s in catalogue.get(bundle, v).steps}


def _as_the_case(
    event: FrictionEvent, case: KnownCase | None, catalogue: Catalogue
) -> FrictionEvent:
    """The event with the case's own bundle, version and centre; refused where it names
    another, or a step the case's definition does not have."""
    if case is None:
        raise _Refused("case_id", f"no case {event.case_id}: name an existing case")
    if event.bundle is not None and event.bundle != case.bundle:
        raise _Refused("bundle", f"case {event.case_id} is of bundle {case.bundle}")
    version = case.bundle_version
    if event.bundle_version is not None:
        if version is not None and event.bundle_version != version:
            raise _Refused("bundle_version", f"case {event.case_id} runs version {version}")
        if version is None and event.bundle_version not in catalogue.versions(case.bundle):
            raise _Refused("bundle_version", f"{case.bundle} has versions "
                           f"{catalogue.versions(case.bundle)}")
        version = event.bundle_version
    if event.centre is not None and case.centre is not None and event.centre != case.centre:
        raise _Refused("centre", f"case {event.case_id} is at centre {case.centre}")
    if case.steps is not None or case.bundle in catalogue.ids():
        steps = set(case.steps) if case.steps is not None else \
            _steps_of(catalogue, case.bundle, version)
        if event.step is not None and event.step not in steps:
            raise _Refused("step", f"case {event.case_id} has no step {event.step!r} "
                           f"(its steps: {', '.join(sorted(steps))})")
    return msgspec.structs.replace(
        event, bundle=case.bundle, bundle_version=version,
        centre=event.centre if case.centre is None else case.centre,
    )


def _without_case(event: FrictionEvent, catalogue: Catalogue) -> FrictionEvent:
    """An event about a service rather than a case: its bundle and step must exist."""
    if event.bundle is None:
        if event.step is not None:
            raise _Refused("bundle", "a step is a step of a bundle: name the bundle")
        return event
    if event.bundle not in catalogue.ids():
        raise _Refused("bundle", f"no bundle {event.bundle!r}")
    if event.bundle_version is not None and \
            event.bundle_version not in catalogue.versions(event.bundle):
        raise _Refused("bundle_version", f"{event.bundle} has versions "
                       f"{catalogue.versions(event.bundle)}")
    steps = _steps_of(catalogue, event.bundle, event.bundle_version)
    if event.step is not None and event.step not in steps:
        raise _Refused("step", f"{event.bundle} has no step {event.step!r}")
    return event


def vet(
    events: Sequence[tuple[int, FrictionEvent]],
    account: str,
    cases: Mapping[str, KnownCase | None],
    catalogue: Catalogue,
) -> tuple[list[FrictionEvent], list[EventError]]:
    """A channel's checked events (by position in the batch) as the notebook stores them,
    and an error naming the field for each one it may not send."""
    good: list[FrictionEvent] = []
    errors: list[EventError] = []
    for index, event in events:
        try:
            kind = kind_of(event)
            if kind in OWN_DOORS:
                raise _Refused("kind", f"a {kind} is recorded through {OWN_DOORS[kind]}")
            if len(event.event_id) > MAX_EVENT_ID_CHARS:
                raise _Refused("event_id", f"at most {MAX_EVENT_ID_CHARS} characters")
            if event.case_id is not None:
                event = _as_the_case(event, cases.get(event.case_id), catalogue)
            else:
                event = _without_case(event, catalogue)
        except _Refused as exc:
            errors.append(EventError(index=index, event_id=event.event_id, error=str(exc),
                                     field=exc.field))
            continue
        stored_id = channel_event_id(account, event.event_id)
        if has_personal_value(stored_id):  # an account named like a phone number, say
            errors.append(EventError(index=index, event_id=None, field="event_id",
                                     error="event_id: the id in this account's namespace "
                                     "would read as a personal value"))
            continue
        good.append(msgspec.structs.replace(event, event_id=stored_id))
    return good, errors
