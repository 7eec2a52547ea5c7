"""The notebook's storage, split by concern; each part states the Protocol its consumers
need and defines the answers it gives beside its SQL:

- ingest: events (with their rollups, friction.store.rollups) and case records
  (IngestStore, IngestResult);
- stuck_points: the ranked stuck points, one point, its trend (StuckPointStore);
- backlog: items, transitions, the verifier's rate windows (BacklogStore);
- register: the can't-get-it-done register (RegisterStore, OpenCantGetItDone);
- reports and dashboard: the data bureau's sums and the metrics (ReportStore,
  DashboardStore, MetricsStore and their sums);
- export: the event log a page at a time (ExportStore);
- ratings: the citizens' ratings, their follow-ups and their join to the friction
  (RatingStore);
- access_log: who read or changed which case, append-only (AccessLogStore, AccessEntry);
- accounts: staff accounts, shared by every gateway (AccountStore, AccountRow);
- engine: one connection, the dialect, transactions; migrations: one file per schema
  version; sql: SqlFrictionStore, every part over one engine.

FrictionStore is all of them, as friction.stores.open_store returns it; a consumer that
needs one part takes that part's Protocol. Contract every implementation keeps:
- ingest stores each event id once; a batch is all-or-nothing; the rollups change in the
  same transaction as the events and only for newly stored events;
- every read except events_for_case and the export reads rollups, cases and the register,
  so its cost does not grow with the number of raw events, and no read writes;
- save_backlog changes an item and records its transition in one transaction, and only
  if the item's status is still the one its caller read (optimistic concurrency);
- methods are synchronous and safe to call from several threads.

The parts import nothing from this package's __init__ (only from each other), and nothing
of their consumers (the notebook, the dashboard, the gateway): no import circle.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from friction.store.access_log import ACCESS_ACTIONS, AccessAction, AccessEntry, AccessLogStore
from friction.store.accounts import AccountRow, AccountStore
from friction.store.backlog import BacklogStore
from friction.store.dashboard import (
    BreachSums,
    CantGetItDoneByCause,
    DashboardFilter,
    DashboardStore,
    KindDay,
    PointSums,
)
from friction.store.engine import ConflictError
from friction.store.export import ExportStore
from friction.store.ingest import IngestResult, IngestStore
from friction.store.ratings import FrictionSplit, RatingStore, SatisfactionSums
from friction.store.register import OpenCantGetItDone, RegisterStore
from friction.store.reports import GroupBy, KindTotal, MetricsStore, ReportStore, ReportSums
from friction.store.stuck_points import StuckPointStore
from friction.stuck_points import Granularity

__all__ = [
    "ACCESS_ACTIONS", "AccessAction", "AccessEntry", "AccessLogStore", "AccountRow",
    "AccountStore", "BacklogStore",
    "BreachSums", "CantGetItDoneByCause", "ConflictError", "DashboardFilter",
    "DashboardStore", "ExportStore", "FrictionSplit", "FrictionStore", "Granularity",
    "GroupBy", "IngestResult", "IngestStore", "KindDay", "KindTotal", "MetricsStore",
    "OpenCantGetItDone", "PointSums", "RatingStore", "RegisterStore", "ReportStore",
    "ReportSums", "SatisfactionSums",
    "StuckPointStore",
]


@runtime_checkable
class FrictionStore(
    IngestStore, StuckPointStore, BacklogStore, RegisterStore, DashboardStore, MetricsStore,
    ExportStore, RatingStore, AccessLogStore, AccountStore, Protocol,
):
    """Every part of the store, for whoever wires the parts' consumers together."""

    # The schema version the database had when this store opened it (and migrated it to
    # friction.store.migrations.SCHEMA_VERSION); 0 for a new database.
    migrated_from: int

    def close(self) -> None: ...
