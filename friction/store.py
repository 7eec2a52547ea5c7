"""The notebook's storage interface. Implementations keep their SQL to themselves:
SqliteFrictionStore is the embedded default, a PostgreSQL store can sit behind the same
Protocol.

Contract every implementation keeps:
- ingest stores each event id once; a batch is all-or-nothing; the stuck-point rollups
  change in the same transaction as the events and only for newly stored events;
- stuck_points reads rollups, so its cost does not grow with the number of raw events;
- methods are synchronous and safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from friction.events import CaseRecord, FrictionEvent
from friction.stuck_points import StuckPoint


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

    def events_for_case(self, case_id: str) -> list[FrictionEvent]:
        """A case's events in the order they were stored."""
        ...

    def close(self) -> None: ...
