"""Request and response bodies of cases that are not the case's own Structs, and the
parameters that name a case."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec
from litestar.params import HeaderParameter, Parameter

from gateway.channels.schemas import EntryKind
from kernel.case_number import CASE_ID_PATTERN
from workflows.case import Awaiting, FailureCause

CaseId = Annotated[str, Parameter(pattern=CASE_ID_PATTERN, max_length=17)]
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]
# What a worklist may list cases as waiting on: anyone but nobody (a case between steps).
# "failed": cases that ended as failed (the clerk contacts the citizen); "clerk" lists
# them too, after the cases waiting on the clerk.
WORKLIST_AWAITING: tuple[str, ...] = (
    *(a for a in get_args(Awaiting) if a != "nobody"), "failed")


class OpenCase(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    citizen_id_number: str
    centre: str
    channel: str = "window"
    bundle_version: int | None = None  # None: the version the catalogue names for new cases
    # Online starts: the entry the citizen came through, checked against the channel's
    # service catalogue; a search for a service lacking its due direct entry is friction.
    entry: EntryKind | None = None


class CaseOpened(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str
    bundle_version: int


class WorklistItem(msgspec.Struct, kw_only=True, frozen=True):
    case_id: str
    bundle: str | None
    centre: str | None
    awaiting: str | None
    step: str | None
    opened_at: datetime | None
    status: Literal["open", "failed"] = "open"
    cause: FailureCause | None = None  # with status "failed": why (workflows.case)
    closed_at: datetime | None = None


class Worklist(msgspec.Struct, kw_only=True, frozen=True):
    cases: tuple[WorklistItem, ...]


class NotEligibleBody(msgspec.Struct, kw_only=True, frozen=True):
    """The clerk closes a case as not eligible; who closes it is the logged-in account."""

    reason: str = ""  # required: refused as a 422 naming `reason` when blank


class WithdrawalBody(msgspec.Struct, kw_only=True, frozen=True):
    """The citizen withdraws, recorded by the logged-in clerk on their behalf."""

    reason: str | None = None


class TripBody(msgspec.Struct, kw_only=True, frozen=True):
    """The citizen came back; who recorded it is the logged-in account. A second return
    trip the same day needs the clerk to say so (`again_today` with a reason)."""

    reasons: tuple[str, ...] = ()
    again_today: bool = False
    again_today_reason: str | None = None
    on_behalf_of: str | None = None  # a service account only: the person it acts for


class MilestoneBody(msgspec.Struct, kw_only=True, frozen=True):
    """A milestone reached; who reached it is the logged-in account."""

    step: str
    milestone: str
    evidence_ref: str | None = None  # a photo's or the minutes' reference in the file store
    on_behalf_of: str | None = None  # a service account only: the person it acts for


class CrossCentreBody(msgspec.Struct, kw_only=True, frozen=True):
    """Serving a case of another centre (通办): why."""

    reason: str = ""  # required: refused as a 422 naming `reason` when blank
