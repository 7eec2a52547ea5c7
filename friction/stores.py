"""Which friction store a deployment uses: PostgreSQL when a DSN is configured (a city or
a province, many workers), otherwise the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path

from friction.store import FrictionStore


def open_store(dsn: str | None, sqlite_path: Path) -> FrictionStore:
    """PostgresFrictionStore on `dsn` if given, else SqliteFrictionStore at `sqlite_path`."""
    if dsn:
        # Imported here so the embedded default never needs the PostgreSQL driver.
        from friction.postgres_store import PostgresFrictionStore

        return PostgresFrictionStore(dsn)
    from friction.sqlite_store import SqliteFrictionStore

    return SqliteFrictionStore(sqlite_path)
