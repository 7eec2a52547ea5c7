"""Staff accounts as the store keeps them: one row per account, read afresh on every call
so an account added or changed by one process (`onething account`, another gateway) is
seen by all. The gateway's AccountBook checks and hashes; this part only stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from friction.store.engine import Cursor, Engine, Row

__all__ = ["AccountRow", "AccountSql", "AccountStore"]


class AccountRow(msgspec.Struct, kw_only=True, frozen=True):
    username: str
    display_name: str
    roles: tuple[str, ...]
    centres: tuple[str, ...]
    serves_elsewhere: bool
    lang: str
    password_hash: str  # "scrypt$<salt hex>$<hash hex>"
    active: bool


@runtime_checkable
class AccountStore(Protocol):
    """What the gateway's account book and the CLI need."""

    def account(self, username: str) -> AccountRow | None:
        """The account named `username`, active or not."""
        ...

    def accounts(self) -> list[AccountRow]:
        """Every account, by username."""
        ...

    def add_accounts(self, rows: Sequence[AccountRow]) -> list[str]:
        """Store each account whose username is not taken, in one transaction; the
        usernames stored (a taken one is left as it is)."""
        ...

    def set_account_lang(self, username: str, lang: str) -> None:
        """The language the account's console speaks."""
        ...


_COLUMNS = ("username, display_name, roles, centres, serves_elsewhere, lang, "
            "password_hash, active")
_SELECT = f"SELECT {_COLUMNS} FROM accounts"
_ONE = _SELECT + " WHERE username = ?"
_ALL = _SELECT + " ORDER BY username"
_INSERT = (f"INSERT INTO accounts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
           " ON CONFLICT (username) DO NOTHING")
_LANG = "UPDATE accounts SET lang = ? WHERE username = ?"


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def _row(row: Row) -> AccountRow:
    username, display_name, roles, centres, elsewhere, lang, password_hash, active = row
    return AccountRow(username=username, display_name=display_name, roles=_split(roles),
                      centres=_split(centres), serves_elsewhere=bool(elsewhere), lang=lang,
                      password_hash=password_hash, active=bool(active))


class AccountSql:
    """AccountStore in SQL."""

    _engine: Engine

    def account(self, username: str) -> AccountRow | None:
        rows = self._engine.fetch(_ONE, (username,))
        return _row(rows[0]) if rows else None

    def accounts(self) -> list[AccountRow]:
        return [_row(row) for row in self._engine.fetch(_ALL)]

    def add_accounts(self, rows: Sequence[AccountRow]) -> list[str]:
        sql = self._engine.sql(_INSERT)
        values = [(r.username, r.display_name, ",".join(r.roles), ",".join(r.centres),
                   int(r.serves_elsewhere), r.lang, r.password_hash, int(r.active))
                  for r in rows]

        def write(cur: Cursor) -> list[str]:
            stored = self._engine.dialect.insert_new(cur, sql, values)
            return [r.username for r, new in zip(rows, stored, strict=True) if new]

        return self._engine.write(write)

    def set_account_lang(self, username: str, lang: str) -> None:
        sql = self._engine.sql(_LANG)

        def write(cur: Cursor) -> None:
            cur.execute(sql, (lang, username))

        self._engine.write(write)
