"""The notebook's storage interface. Implementations keep their SQL to themselves:
SqliteFrictionStore is the embedded default, a PostgreSQL store can sit behind the same
Protocol.

Contract every implementation keeps:
- ingest stores each event id once; a batch is all-or-nothing; the rollups (stuck
  points and their evidence, per case, per kind and day) change in the same transaction
  as the events and only for newly stored events;
- stuck_points, trend, report_sums, rate_window and the dashboard's reads (kind_days,
  point_sums, sla_breaches, register_counts, bundles_and_centres) read rollups, cases and
  the register, so their cost does not grow with the number of raw events;
- save_backlog changes an item and records its transition in one transaction, and only
  if the item's status is still the one its caller read (optimistic concurrency);
- methods are synchronous and safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

from friction.backlog import BacklogItem, Status, Transition
from friction.dashboard import (
    BreachSums,
    CantGetItDoneByCause,
    DashboardFilter,
    KindDay,
    PointSums,
)
from friction.register import CantGetItDoneRecord
from friction.reports import GroupBy, ReportSums
from friction.stuck_points import Granularity as Granularity
from friction.stuck_points import StuckPoint, TrendPoint
from friction.verification import RateWindow
from kernel.events import CaseRecord, FrictionEvent


class ConflictError(RuntimeError):
    """Someone else changed the record since it was read; read it again and retry."""


class OpenCantGetItDone(msgspec.Struct, kw_only=True, frozen=True):
    """Open can't-get-it-done cases of one cause, for the metrics."""

    cause: str
    count: int
    oldest_registered_at: datetime


class KindTotal(msgspec.Struct, kw_only=True, frozen=True):
    """Friction of one kind in one bundle (None: a channel that names no bundle)."""

    kind: str
    bundle: str | None
    events: int
    citizen_minutes: float
    clerk_minutes: float


class IngestResult(msgspec.Struct, kw_only=True, frozen=True):
    stored: tuple[str, ...]  # event ids newly stored, in batch order
    duplicates: tuple[str, ...]  # event ids already stored (or repeated within the batch)


@runtime_checkable
class FrictionStore(Protocol):
    def ingest(self, events: Sequence[FrictionEvent]) -> IngestResult:
        """Store events not stored before; events must have passed friction.ingest's checks."""
        ...

    def upsert_case(self, record: CaseRecord) -> None:
        """Record a case; a later record for the same case id replaces the earlier."""
        ...

    def stuck_points(self, *, bundle: str | None = None, limit: int = 50) -> list[StuckPoint]:
        """Stuck points ranked by burden minutes, largest first."""
        ...

    def counts_by_kind(self) -> dict[str, int]:
        """Events stored, by kind (every kind present, zero if none)."""
        ...

    def case_counts(self) -> dict[tuple[str, str], int]:
        """Cases by (bundle, status)."""
        ...

    def kind_totals(self) -> list[KindTotal]:
        """Events (clerk notes merged into a point excluded) and burden by stuck-point
        kind and bundle, straight from the rollups: cheap enough for every scrape."""
        ...

    def events_for_case(self, case_id: str) -> list[FrictionEvent]:
        """A case's events in the order they were stored."""
        ...

    def stuck_point(self, fingerprint: str) -> StuckPoint | None:
        """One stuck point, or None if no event has its fingerprint."""
        ...

    def trend(self, fingerprint: str, granularity: Granularity = "day") -> list[TrendPoint]:
        """A stuck point's events per China-local day or week (Monday), oldest first, from
        its first to its last period (periods without events count zero)."""
        ...

    def report_sums(
        self,
        group_by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        bundle: str | None = None,
        centre: str | None = None,
    ) -> list[ReportSums]:
        """Sums per bundle, "bundle/step" or centre over the cases opened in [since, until)
        (of one bundle and one centre if given)."""
        ...

    # The dashboard's reads (its granularity is the dashboard's business): friction by
    # its own bundle, events by their centre and time, cases by their centre and opening
    # time, the register by bundle, centre and registration time.

    def kind_days(self, flt: DashboardFilter) -> list[KindDay]:
        """Events by kind and China-local day, oldest first, over every local day that
        [since, until) touches (the rollup counts whole days)."""
        ...

    def point_sums(self, flt: DashboardFilter, limit: int = 10) -> list[PointSums]:
        """Stuck points ranked by burden minutes, largest first. With a centre or a
        period, only the friction of the cases of that centre opened in that period."""
        ...

    def sla_breaches(self, flt: DashboardFilter) -> list[BreachSums]:
        """Waits past their SLA per bundle and step, sorted so, over the same friction as
        point_sums."""
        ...

    def register_counts(self, flt: DashboardFilter) -> list[CantGetItDoneByCause]:
        """Can't-get-it-done cases registered in [since, until), per cause with any."""
        ...

    def bundles_and_centres(self) -> tuple[list[str], list[str]]:
        """Every bundle and every centre a case, a stuck point or the register names,
        sorted."""
        ...

    def backlog_items(self) -> dict[str, BacklogItem]:
        """Every stored backlog item by fingerprint; a stuck point without one is "new"."""
        ...

    def backlog_item(self, fingerprint: str) -> BacklogItem | None: ...

    def save_backlog(
        self, item: BacklogItem, transition: Transition | None, expected_status: Status
    ) -> None:
        """Store the item (and its transition) if its stored status, "new" when absent, is
        still expected_status; otherwise raise ConflictError and change nothing."""
        ...

    def transitions(self, fingerprint: str) -> list[Transition]:
        """An item's transitions, oldest first."""
        ...

    def rate_window(
        self,
        fingerprint: str,
        bundle: str,
        opened_from: datetime | None,
        opened_to: datetime | None,
    ) -> RateWindow:
        """Events of a stuck point, and the number, of the closed cases of `bundle` opened in
        [opened_from, opened_to) (None: unbounded)."""
        ...

    def register_cant_get_it_done(
        self, record: CantGetItDoneRecord
    ) -> tuple[CantGetItDoneRecord, bool]:
        """Register a case (the stored record and True), or the record already registered
        for it and False. A cause outside the register's rules raises RegisterError."""
        ...

    def resolve_cant_get_it_done(
        self, case_id: str, resolution: str, explanation: str, at: datetime
    ) -> CantGetItDoneRecord:
        """Record the answer; KeyError if the case is not registered, ConflictError if it
        was answered already."""
        ...

    def cant_get_it_done_cases(self, open_only: bool = False) -> list[CantGetItDoneRecord]:
        """Registered cases, oldest first."""
        ...

    def cant_get_it_done_case(self, case_id: str) -> CantGetItDoneRecord | None:
        """One registered case, or None."""
        ...

    def case_bundle(self, case_id: str) -> str | None:
        """The bundle of a case the notebook knows (its case record), or None."""
        ...

    def open_cant_get_it_done(self) -> list[OpenCantGetItDone]:
        """Open cases per cause with the oldest registration."""
        ...

    def iter_cases(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[CaseRecord]:
        """Cases opened in [since, until) with their steps, read a page at a time."""
        ...

    def iter_events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[FrictionEvent]:
        """Events that occurred in [since, until), read a page at a time."""
        ...

    def close(self) -> None: ...
