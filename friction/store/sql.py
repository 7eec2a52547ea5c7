"""SqlFrictionStore: the parts of the store (each with its own SQL) over one Engine.

SqliteFrictionStore and PostgresFrictionStore only open connections and pick a dialect;
opening a store brings its schema to the current version (friction.store.migrations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import msgspec

from friction.burden import BurdenTable, default_burden_table
from friction.store.access_log import AccessLogSql
from friction.store.accounts import AccountSql
from friction.store.backlog import BacklogSql
from friction.store.dashboard import DashboardSql
from friction.store.engine import Connection, Dialect, Engine
from friction.store.export import ExportSql
from friction.store.ingest import IngestSql
from friction.store.migrations import migrate
from friction.store.ratings import RatingSql
from friction.store.register import RegisterSql
from friction.store.reports import MetricsSql, ReportSql
from friction.store.stuck_points import StuckPointSql
from kernel.events import FrictionEvent

__all__ = ["SqlFrictionStore"]


class SqlFrictionStore(
    IngestSql, StuckPointSql, BacklogSql, RegisterSql, ReportSql, DashboardSql, MetricsSql,
    ExportSql, RatingSql, AccessLogSql, AccountSql,
):
    """FrictionStore over a DB-API connection. Each base is one concern's SQL; they share
    the engine (one connection under a lock), the burden table and the event codecs."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        dialect: Dialect,
        burden: BurdenTable | None = None,
    ) -> None:
        self._burden = burden or default_burden_table()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(FrictionEvent)
        self._engine = Engine(connect, dialect)
        try:
            # The schema version the database had before this store opened it.
            self.migrated_from = migrate(self._engine)
        except BaseException:
            self._engine.close()
            raise

    @property
    def _conn(self) -> Connection:
        """The connection in use now: a new one after the old was lost (the tests kill
        the server's backend to see the next call reconnect)."""
        return self._engine.connection

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
