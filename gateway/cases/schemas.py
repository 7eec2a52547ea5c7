"""Request and response bodies of cases that are not the case's own Structs, and the
parameters that name a case.

Every string a request carries is bounded here, before anything reaches Temporal (whose
payloads have a size limit a case cannot recover from): msgspec refuses what is too long
or of the wrong shape with a 422 naming the field (gateway.errors.from_validation), and
the OpenAPI document says so. The bodies sent to a case's workflow are subclasses of the
workflow's own entries, so what the workflow receives is still its own type."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, get_args

import msgspec
from litestar.params import HeaderParameter, Parameter
from msgspec import Meta

from gateway.channels.schemas import EntryKind
from gateway.errors import NAME_MAX, NAME_PATTERN, Name
from kernel.case_number import CASE_ALPHABET, CASE_ID_PATTERN
from workflows.case import (
    MAX_TRIP_REASONS,
    Awaiting,
    FailureCause,
    FieldEntry,
    MaterialEntry,
)

CaseId = Annotated[str, Parameter(pattern=CASE_ID_PATTERN, max_length=17)]
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]
# A name as a query parameter (a worklist's centre or bundle): the body's Name rules.
NameQuery = Annotated[str | None, Parameter(min_length=1, max_length=NAME_MAX,
                                            pattern=NAME_PATTERN)]
# What a worklist may list cases as waiting on: anyone but nobody (a case between steps).
# "failed": cases that ended as failed (the clerk contacts the citizen); "clerk" lists
# them too, after the cases waiting on the clerk.
WORKLIST_AWAITING: tuple[str, ...] = (
    *(a for a in get_args(Awaiting) if a != "nobody"), "failed")
# How the worklist orders open cases: oldest first, or nearest promised date first.
WorklistOrder = Literal["opened", "due"]

# The service centres of the embedded installation: the four demo centres and the online
# channel's own. An installation names its centres in ONETHING_CENTRES (deploy.settings).
DEFAULT_CENTRES = ("liangxi-chongan", "binhu-hehu", "xinwu-xinan", "xishan-dongting",
                   "online-app")
# Where a case may start: at a window, in the online app, by a QR code at the place (a
# public repair). The allowance's proactive cases are opened by its match, never by a caller.
CHANNELS = ("window", "online", "qr")
Channel = Annotated[str, Meta(pattern=f"^({'|'.join(CHANNELS)})$",
                              description=f"one of {', '.join(CHANNELS)}")]

# What a clerk may type or give in one request. A form has a few dozen fields and a value
# is a line or a short paragraph; a 3 MB value once stopped a case for everyone.
MAX_VALUE_CHARS = 1000
MAX_FIELDS = 100
MAX_REASON_CHARS = 200
MAX_REF_CHARS = 200
MAX_BODY_BYTES = 256 * 1024  # a whole request body of the cases API (413 beyond)

Value = Annotated[str, Meta(max_length=MAX_VALUE_CHARS)]
Reason = Annotated[str, Meta(max_length=MAX_REASON_CHARS)]
# The start of a case number a clerk may search by: at least its year.
CASE_PREFIX_PATTERN = rf"^(\d{{4,8}}|\d{{8}}-[{CASE_ALPHABET}]{{0,8}})$"
IdNumber = Annotated[str, Meta(pattern=r"^[0-9]{17}[0-9Xx]$",
                               description="an 18-character resident ID number")]


class OpenCase(msgspec.Struct, kw_only=True, frozen=True):
    bundle: Annotated[Name, Meta(description="a bundle of the catalogue")]
    citizen_id_number: IdNumber
    centre: Annotated[Name, Meta(description="a service centre of this installation")]
    channel: Channel = "window"
    # None: the version the catalogue names for new cases.
    bundle_version: Annotated[int, Meta(ge=1, le=1000)] | None = None
    # Online starts: the entry the citizen came through, checked against the channel's
    # service catalogue; a search for a service lacking its due direct entry is friction.
    entry: EntryKind | None = None
    # A citizen's second open case of the same bundle is refused (409 naming the open one
    # in `existing_case`) unless the clerk confirms it is meant.
    confirm_duplicate: bool = False


class FieldsBody(FieldEntry, kw_only=True, frozen=True):
    step: Name
    values: Annotated[dict[Name, Value], Meta(max_length=MAX_FIELDS)]
    typed_seconds: Annotated[
        dict[Name, Annotated[float, Meta(ge=0, le=86_400)]], Meta(max_length=MAX_FIELDS)
    ] = {}


class MaterialBody(MaterialEntry, kw_only=True, frozen=True):
    step: Name
    material: Name


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
    # "closed": a search's case that ended otherwise (completed, withdrawn, ...).
    status: Literal["open", "failed", "closed"] = "open"
    cause: FailureCause | None = None  # with status "failed": why (workflows.case)
    closed_at: datetime | None = None
    # An open case of a worklist: since when its current step waits (OtWaitingSince; null
    # for a case started before it existed), and its promised date (`due_at` on the clock,
    # OtDueDate); `overdue` once past it. `due_on` (its last day) and `due_provisional`
    # are read from the case's progress for the console's rows only: null and false in
    # the API's worklist, which reads search attributes alone.
    waiting_since: datetime | None = None
    due_at: datetime | None = None
    due_on: date | None = None
    due_provisional: bool = False
    overdue: bool = False
    # The console's desk only, for a clerk of the case's centre; never in the API.
    citizen_name: str | None = None


class Worklist(msgspec.Struct, kw_only=True, frozen=True):
    """One page of a worklist: `total` cases listed in all (`complete` False: more than
    the list reads, narrow it with a filter)."""

    cases: tuple[WorklistItem, ...]
    page: int = 1
    page_size: int = 100
    total: int = 0
    complete: bool = True


class Found(msgspec.Struct, kw_only=True, frozen=True):
    """Cases a search found, newest first; `more`: there were more than it shows."""

    cases: tuple[WorklistItem, ...]
    more: bool = False


class FindByCaseNumber(msgspec.Struct, kw_only=True, frozen=True, tag_field="by",
                       tag="case_number"):
    """A search by a case number, whole or its start (at least its year)."""

    case_id: Annotated[str, Meta(pattern=CASE_PREFIX_PATTERN, max_length=17,
                                 description="20260301-ABCD2345, or its start: 2026...")]


class FindByIdNumber(msgspec.Struct, kw_only=True, frozen=True, tag_field="by",
                     tag="id_number"):
    """A search for a citizen's cases by ID number: sent in a body, so the number is never
    in a URL or an access log."""

    citizen_id_number: IdNumber


FindCases = FindByCaseNumber | FindByIdNumber


class NotEligibleBody(msgspec.Struct, kw_only=True, frozen=True):
    """The clerk closes a case as not eligible; who closes it is the logged-in account."""

    reason: Reason = ""  # required: refused as a 422 naming `reason` when blank


class WithdrawalBody(msgspec.Struct, kw_only=True, frozen=True):
    """The citizen withdraws, recorded by the logged-in clerk on their behalf."""

    reason: Reason | None = None


class TripBody(msgspec.Struct, kw_only=True, frozen=True):
    """The citizen came back; who recorded it is the logged-in account. A second return
    trip the same day needs the clerk to say so (`again_today` with a reason)."""

    reasons: Annotated[tuple[Reason, ...], Meta(max_length=MAX_TRIP_REASONS)] = ()
    again_today: bool = False
    again_today_reason: Reason | None = None
    on_behalf_of: Name | None = None  # a service account only: the person it acts for


class MilestoneBody(msgspec.Struct, kw_only=True, frozen=True):
    """A milestone reached; who reached it is the logged-in account."""

    step: Name
    milestone: Name
    # A photo's or the minutes' reference in the file store.
    evidence_ref: Annotated[str, Meta(min_length=1, max_length=MAX_REF_CHARS)] | None = None
    on_behalf_of: Name | None = None  # a service account only: the person it acts for


class CrossCentreBody(msgspec.Struct, kw_only=True, frozen=True):
    """Serving a case of another centre (通办): why."""

    reason: Reason = ""  # required: refused as a 422 naming `reason` when blank
