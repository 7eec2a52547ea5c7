"""Every store test runs against SQLite and against PostgreSQL.

`backend` opens stores on one database (a SQLite file, or a fresh PostgreSQL schema that
is dropped afterwards) and reaches behind the store for what a test must do by hand: raw
SQL, a trigger that makes inserts fail, a dump of everything stored. Where PostgreSQL is
not reachable its tests are skipped, saying where it was looked for.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from friction.burden import BurdenTable
from friction.sqlite_store import SqliteFrictionStore
from friction.store.sql import SqlFrictionStore

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"
def postgres_dsn() -> str:
    return os.environ.get("ONETHING_TEST_POSTGRES_DSN", DEFAULT_POSTGRES_DSN)


@functools.cache
def postgres_unreachable(dsn: str) -> str | None:
    """Why PostgreSQL cannot be used at `dsn`, or None if it can (asked once per run)."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


class Backend:
    name: str
    error: type[Exception]  # what a failing statement raises out of the store

    def open(self, burden: BurdenTable | None = None) -> SqlFrictionStore:
        raise NotImplementedError

    def opener(self) -> str:
        """Python source that opens a store on the same database as `store`."""
        raise NotImplementedError

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement on a connection of its own and commit it."""
        raise NotImplementedError

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """Write rows straight into a table, as a bulk load or an older version would."""
        raise NotImplementedError

    def fail_inserts(self, table: str, when: str = "true") -> None:
        """Make inserts into `table` raise 'disk on fire' where `when` holds of NEW."""
        raise NotImplementedError

    def allow_inserts(self, table: str) -> None:
        self.execute("DROP TRIGGER boom" + (f" ON {table}" if self.name == "postgres" else ""))

    def dump(self) -> str:
        """Everything stored, as text, event bodies decoded."""
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"
    error = sqlite3.DatabaseError

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self, burden: BurdenTable | None = None) -> SqlFrictionStore:
        return SqliteFrictionStore(self.path, burden=burden)

    def opener(self) -> str:
        return (
            "from friction.sqlite_store import SqliteFrictionStore\n"
            f"store = SqliteFrictionStore({str(self.path)!r})\n"
        )

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        raw = sqlite3.connect(self.path)
        try:
            rows = raw.execute(sql).fetchall()
            raw.commit()
            return rows
        finally:
            raw.close()

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        raw = sqlite3.connect(self.path)
        try:
            raw.executemany(
                f"INSERT INTO {table} ({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(columns))})",
                rows,
            )
            raw.commit()
        finally:
            raw.close()

    def fail_inserts(self, table: str, when: str = "true") -> None:
        self.execute(
            f"CREATE TRIGGER boom BEFORE INSERT ON {table} WHEN {when}"
            " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )

    def dump(self) -> str:
        raw = sqlite3.connect(self.path)
        try:
            # Bodies are BLOBs, which iterdump would show as hex: read them as text too.
            bodies = [bytes(b).decode() for (b,) in raw.execute("SELECT body FROM events")]
            return "\n".join([*raw.iterdump(), *bodies])
        finally:
            raw.close()


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg

        self.error = psycopg.Error
        self.dsn = dsn
        self.schema = schema

    def open(self, burden: BurdenTable | None = None) -> SqlFrictionStore:
        from friction.postgres_store import PostgresFrictionStore

        return PostgresFrictionStore(self.dsn, burden=burden, schema=self.schema)

    def opener(self) -> str:
        return (
            "from friction.postgres_store import PostgresFrictionStore\n"
            f"store = PostgresFrictionStore({self.dsn!r}, schema={self.schema!r})\n"
        )

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        from friction.postgres_store import connect

        with connect(self.dsn, self.schema) as raw:
            cur = raw.execute(sql)
            return cur.fetchall() if cur.description else []

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        from friction.postgres_store import connect

        with connect(self.dsn, self.schema) as raw:
            raw.cursor().executemany(
                f"INSERT INTO {table} ({', '.join(columns)})"
                f" VALUES ({', '.join(['%s'] * len(columns))})",
                rows,
            )

    def fail_inserts(self, table: str, when: str = "true") -> None:
        self.execute(
            "CREATE OR REPLACE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$"
        )
        self.execute(
            f"CREATE TRIGGER boom BEFORE INSERT ON {table} FOR EACH ROW WHEN ({when})"
            " EXECUTE FUNCTION boom()"
        )

    def dump(self) -> str:
        tables = [
            name
            for (name,) in self.execute(
                "SELECT table_name FROM information_schema.tables"
                f" WHERE table_schema = '{self.schema}' ORDER BY table_name"
            )
        ]
        lines = [str(row) for table in tables for row in self.execute(f"SELECT * FROM {table}")]
        bodies = [bytes(b).decode() for (b,) in self.execute("SELECT body FROM events")]
        return "\n".join([*lines, *bodies])

    def drop(self) -> None:
        self.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


@contextlib.contextmanager
def postgres_schema() -> Iterator[PostgresBackend]:
    """A fresh schema on the test PostgreSQL, dropped afterwards; a skip if unreachable."""
    dsn = postgres_dsn()
    why = postgres_unreachable(dsn)
    if why is not None:
        pytest.skip(f"PostgreSQL not reachable at {dsn}: {why}")
    pg = PostgresBackend(dsn, f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield pg
    finally:
        pg.drop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield SqliteBackend(tmp_path / "state" / "friction.db")
    else:
        with postgres_schema() as pg:
            yield pg


@pytest.fixture
def postgres() -> Iterator[PostgresBackend]:
    """For the tests that are about PostgreSQL only."""
    with postgres_schema() as pg:
        yield pg


@pytest.fixture
def store(backend: Backend) -> Iterator[SqlFrictionStore]:
    opened = backend.open()
    yield opened
    opened.close()
