"""Who may use the gateway: staff accounts with roles, kept in the friction store (shared
by every gateway of a cluster); earlier releases kept them in one JSON file, which
`onething account import FILE` (or the first start on an empty store) brings in.

Passwords are stored as scrypt hashes with a per-account salt.
Citizens have no account: they follow a case by its number and verification code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Literal, get_args

import msgspec

from friction.store.accounts import AccountRow, AccountStore

Role = Literal["clerk", "analyst", "developer", "admin", "channel", "auditor"]
# clerk: a window clerk; analyst: the data bureau; developer: fixes stuck points;
# admin: everything; channel: a service (online app) that sends friction events;
# auditor: reads the access log (who looked at or changed which case), nothing else.
ROLES: tuple[Role, ...] = get_args(Role)
STAFF_ROLES: tuple[Role, ...] = ("clerk", "analyst", "developer", "admin", "auditor")
_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
_CENTRE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8
RESERVED_USERNAME = "import"  # `onething account import FILE`


class AccountError(ValueError):
    """An account request the book refuses; the message names the field at fault."""


EVERY_CENTRE = "*"  # a service account's token may name it; no person's account can


class Account(msgspec.Struct, kw_only=True, frozen=True):
    username: str
    display_name: str
    roles: tuple[Role, ...]
    # The service centres a clerk works at; the first is the desk's own (its worklist and
    # the centre a case opened at the desk belongs to).
    centres: tuple[str, ...] = ()
    # Whether the clerk may serve a case of another centre (通办), stating why each time.
    serves_elsewhere: bool = False
    lang: str = "zh"
    password_hash: str = ""  # "scrypt$<salt hex>$<hash hex>"
    active: bool = True

    def has_any(self, *roles: Role) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    @property
    def centre(self) -> str | None:
        """The desk's centre: the first the account lists."""
        return next((c for c in self.centres if c != EVERY_CENTRE), None)

    def serves(self, centre: str | None) -> bool:
        """Whether the account works at `centre` (an admin works everywhere)."""
        return "admin" in self.roles or EVERY_CENTRE in self.centres or (
            centre is not None and centre in self.centres)


class _File(msgspec.Struct, kw_only=True):
    """An accounts file as earlier releases wrote it."""

    accounts: list[Account]


class _OneCentre(msgspec.Struct, kw_only=True):
    """An account as files written before accounts listed centres hold it."""

    username: str
    centre: str | None = None


class _OldFile(msgspec.Struct, kw_only=True):
    accounts: list[_OneCentre]


def _decode(raw: bytes) -> list[Account]:
    """The file's accounts; an account of an older file with one `centre` lists it."""
    accounts = msgspec.json.decode(raw, type=_File).accounts
    old = {a.username: a.centre for a in msgspec.json.decode(raw, type=_OldFile).accounts}
    return [msgspec.structs.replace(a, centres=(c,))
            if not a.centres and (c := old.get(a.username)) else a for a in accounts]


def check_centres(centres: tuple[str, ...]) -> tuple[str, ...]:
    """Centre ids as the book keeps them, in order, each once; refused naming `centres`."""
    kept: list[str] = []
    for centre in centres:
        centre = centre.strip()
        if not _CENTRE.match(centre):
            raise AccountError("centres: each a centre id of 1-64 letters, digits, "
                               "'.', '_' or '-'")
        if centre not in kept:
            kept.append(centre)
    return tuple(kept)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_hex, _, digest_hex = rest.partition("$")
    if scheme != "scrypt" or not salt_hex or not digest_hex:
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


# A fixed hash to compare against when the username is unknown, so a login attempt takes
# as long for a missing account as for a wrong password.
_DECOY = hash_password(secrets.token_hex(8))


class AccountBook:
    """Accounts in the friction store (friction.store.accounts), read afresh on every call:
    an account added by `onething account` or another gateway is seen at once, by every
    gateway of a cluster sharing the store."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store
        # Counts this process's changes to the book: what remembers accounts for a moment
        # (gateway.auth.RecentAccounts) forgets them at once when it moves.
        self.generation = 0

    def __deepcopy__(self, memo: dict[int, object]) -> AccountBook:
        # One book per process: Litestar copies routers (and the auth handlers bound to
        # the book) when it registers them.
        return self

    def get(self, username: str) -> Account | None:
        row = self._store.account(username)
        return _account(row) if row is not None and row.active else None

    def all(self) -> list[Account]:
        return [_account(row) for row in self._store.accounts()]

    def authenticate(self, username: str, password: str) -> Account | None:
        account = self.get(username)
        if account is None:
            password_matches(password, _DECOY)
            return None
        return account if password_matches(password, account.password_hash) else None

    def add(
        self,
        username: str,
        password: str,
        roles: tuple[Role, ...],
        *,
        display_name: str | None = None,
        centres: tuple[str, ...] = (),
        serves_elsewhere: bool = False,
        lang: str = "zh",
    ) -> Account:
        if username == RESERVED_USERNAME or not _USERNAME.match(username):
            raise AccountError("username: 2-32 lowercase letters, digits, '.', '_' or '-' "
                               f"(not {RESERVED_USERNAME!r})")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        if not roles or any(r not in ROLES for r in roles):
            raise AccountError(f"roles: one or more of {', '.join(ROLES)}")
        centres = check_centres(centres)
        if "clerk" in roles and not centres:
            raise AccountError("centres: a clerk works at one or more service centres")
        if serves_elsewhere and not centres:
            raise AccountError("serves_elsewhere: only a clerk with a centre serves elsewhere")
        account = Account(
            username=username,
            display_name=display_name or username,
            roles=roles,
            centres=centres,
            serves_elsewhere=serves_elsewhere,
            lang=lang,
            password_hash=hash_password(password),
        )
        if not self._store.add_accounts([_row(account)]):
            raise AccountError(f"username: {username!r} exists already")
        self.generation += 1
        return account

    def set_lang(self, username: str, lang: str) -> None:
        self._store.set_account_lang(username, lang)
        self.generation += 1

    def import_file(self, path: Path) -> ImportResult:
        """The accounts of an accounts file (as earlier releases kept them), their
        password hashes as they are; an account whose username the store holds already
        is left as the store has it. Nothing is stored if any account is malformed."""
        accounts = _decode(path.read_bytes())
        for account in accounts:  # as `add` would check them, naming the account
            if not _USERNAME.match(account.username):
                raise AccountError(f"username: {account.username!r} is not a username")
            try:
                check_centres(account.centres)
            except AccountError as exc:
                raise AccountError(f"{account.username}: {exc}") from None
        stored = set(self._store.add_accounts([_row(a) for a in accounts]))
        self.generation += 1
        return ImportResult(imported=tuple(a.username for a in accounts if a.username in stored),
                            kept=tuple(a.username for a in accounts
                                       if a.username not in stored))

    def import_first(self, path: Path) -> ImportResult | None:
        """`import_file(path)` when the store holds no account yet and the file exists:
        an installation upgraded from accounts in a file keeps them on its first start.
        None when there is nothing to import."""
        if self._store.accounts() or not path.exists():
            return None
        return self.import_file(path)


class ImportResult(msgspec.Struct, kw_only=True, frozen=True):
    imported: tuple[str, ...]  # usernames stored
    kept: tuple[str, ...]  # usernames the store held already, left as they were


def _account(row: AccountRow) -> Account:
    return Account(username=row.username, display_name=row.display_name,
                   roles=tuple(r for r in ROLES if r in row.roles), centres=row.centres,
                   serves_elsewhere=row.serves_elsewhere, lang=row.lang,
                   password_hash=row.password_hash, active=row.active)


def _row(account: Account) -> AccountRow:
    return AccountRow(username=account.username, display_name=account.display_name,
                      roles=account.roles, centres=account.centres,
                      serves_elsewhere=account.serves_elsewhere, lang=account.lang,
                      password_hash=account.password_hash, active=account.active)


def seed_demo_accounts(book: AccountBook, centre: str) -> dict[str, str]:
    """One account per staff role with a fresh random password, for a new installation;
    returns username -> password, to be shown once. The clerk works at `centre` and may
    serve other centres' cases (通办), saying why each time."""
    made: dict[str, str] = {}
    names = {"clerk": "窗口工作人员", "analyst": "数据局分析员", "developer": "平台开发者",
             "admin": "管理员", "auditor": "审计员"}
    for role in STAFF_ROLES:
        if book.get(role) is not None:
            continue
        password = secrets.token_urlsafe(9)
        book.add(role, password, (role,), display_name=names[role],
                 centres=(centre,) if role == "clerk" else (),
                 serves_elsewhere=role == "clerk")
        made[role] = password
    return made
