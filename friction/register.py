"""The can't-get-it-done register (办不成事): cases that failed or stalled with no way
forward, each answered by a deadline counted in working days.

A case is registered when an application is not accepted or not approved, or a citizen
came several times without result; the task force resolves it, or documents why the
matter truly cannot be done. Failures of the applicant's own making are not registered.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

import msgspec

from kernel.events import CantGetItDone, CantGetItDoneCause

DEFAULT_DEADLINE_WORKING_DAYS = 5  # "about 5 working days" in the Beijing practice
CAUSES: tuple[str, ...] = get_args(CantGetItDoneCause)
EXCLUDED_CAUSES = frozenset({"applicant"})

Resolution = Literal["resolved", "cannot_be_done"]
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
# A walk-in with no case yet is registered under a number of its own, never a case number
# (those begin with a date: kernel.case_number).
WALK_IN_PREFIX = "WALKIN-"


def is_walk_in(case_id: str) -> bool:
    return case_id.startswith(WALK_IN_PREFIX)


class CantGetItDoneRecord(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str
    step: str | None = None
    centre: str
    department: str
    cause: CantGetItDoneCause
    registered_at: datetime
    deadline: date  # the last working day to answer by
    resolved_at: datetime | None = None
    resolution: Resolution | None = None
    explanation: str | None = None  # masked free text: what was done, or why it cannot be
    walk_in: bool = False  # registered with no case yet: its number is a WALKIN- one


class RegisterError(ValueError):
    """A registration or resolution the register refuses; the message starts with the
    field at fault ("cause: ...")."""


def check_cause(cause: str) -> CantGetItDoneCause:
    if cause in EXCLUDED_CAUSES:
        raise RegisterError(
            "cause: an applicant's own failure is not a can't-get-it-done case "
            "(excluded by the register's rules); tell the applicant what to do instead"
        )
    if cause not in CAUSES:
        raise RegisterError(f"cause: must be one of {', '.join(CAUSES)}, not {cause!r}")
    return cause  # type: ignore[return-value]


def check_resolution(resolution: str, explanation: str) -> Resolution:
    if resolution not in RESOLUTIONS:
        raise RegisterError(
            f"resolution: must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}"
        )
    if not explanation.strip():
        # A matter that cannot be done still gets a documented answer.
        raise RegisterError("explanation: say what was done, or why it cannot be done")
    return resolution  # type: ignore[return-value]


def event_id_of(case_id: str) -> str:
    """The register's friction event for a case: one per case, however often it is sent."""
    return f"cgid/{case_id}"


def event_of(record: CantGetItDoneRecord) -> CantGetItDone:
    return CantGetItDone(
        event_id=event_id_of(record.case_id),
        occurred_at=record.registered_at,
        case_id=record.case_id,
        bundle=record.bundle,
        step=record.step,
        centre=record.centre,
        cause=record.cause,
        department=record.department,
        deadline=record.deadline,
    )
