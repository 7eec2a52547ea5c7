"""`onething account`: a clerk's centres (repeated --centre, the first the desk's own) and
whether they may serve other centres' cases (--serve-elsewhere), kept in the friction
store; `onething account import FILE` brings in an accounts file of an earlier release."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from deploy.cli import _first_accounts, main
from deploy.settings import Settings
from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import AccountBook

OLD_FILE = ('{"accounts": [{"username": "chen", "display_name": "陈", "roles": ["clerk"], '
            '"centre": "binhu-hehu", "password_hash": "scrypt$00$00"}]}')


def test_an_account_lists_its_centres_and_may_serve_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ONETHING_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ONETHING_FRICTION_DB", str(tmp_path / "friction.db"))
    monkeypatch.setattr("sys.stdin", io.StringIO("window-password-1\n"))
    assert main(["account", "wang", "--role", "clerk", "--centre", "binhu-hehu",
                 "--centre", "liangxi-chongan", "--serve-elsewhere"]) == 0
    book = AccountBook(SqliteFrictionStore(tmp_path / "friction.db"))
    wang = book.get("wang")
    assert wang is not None
    assert wang.centres == ("binhu-hehu", "liangxi-chongan") and wang.centre == "binhu-hehu"
    assert wang.serves_elsewhere
    monkeypatch.setattr("sys.stdin", io.StringIO("window-password-2\n"))
    assert main(["account", "li", "--role", "clerk", "--centre", "binhu-hehu"]) == 0
    li = book.get("li")
    assert li is not None and li.centres == ("binhu-hehu",) and not li.serves_elsewhere
    assert book.authenticate("li", "window-password-2") == li
    # A clerk works somewhere: no centre is refused, naming the field.
    monkeypatch.setattr("sys.stdin", io.StringIO("window-password-3\n"))
    assert main(["account", "zhao", "--role", "clerk"]) == 2
    assert "centres" in capsys.readouterr().err


def test_an_accounts_file_is_imported_once_and_keeps_the_store_s_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "accounts.json"
    old.write_text(OLD_FILE)
    monkeypatch.setenv("ONETHING_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ONETHING_FRICTION_DB", str(tmp_path / "friction.db"))
    assert main(["account", "import", str(old)]) == 0
    assert "1 accounts imported" in capsys.readouterr().out
    book = AccountBook(SqliteFrictionStore(tmp_path / "friction.db"))
    chen = book.get("chen")
    assert chen is not None and chen.centres == ("binhu-hehu",)
    assert chen.password_hash == "scrypt$00$00"
    assert main(["account", "import", str(old)]) == 0  # again: the store's account stays
    assert "1 already in the store, left as they were: chen" in capsys.readouterr().out
    assert main(["account", "import", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(OLD_FILE.replace('"binhu-hehu"', '"a,b"').replace('"chen"', '"zhou"'))
    assert main(["account", "import", str(bad)]) == 2  # a centre the store cannot keep
    assert "zhou: centres" in capsys.readouterr().err
    assert book.get("zhou") is None


def test_the_first_start_imports_the_file_instead_of_making_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "accounts.json").write_text(OLD_FILE)
    monkeypatch.setenv("ONETHING_STATE_DIR", str(tmp_path / "state"))
    settings = Settings.from_env()
    assert _first_accounts(settings) == {}  # imported: no account made
    book = AccountBook(SqliteFrictionStore(settings.friction_db))
    assert [a.username for a in book.all()] == ["chen"]
    # A new installation, no file: one account per staff role, each password shown once.
    monkeypatch.setenv("ONETHING_STATE_DIR", str(tmp_path / "new"))
    (tmp_path / "new").mkdir()
    made = _first_accounts(Settings.from_env())
    assert sorted(made) == ["admin", "analyst", "auditor", "clerk", "developer"]
    assert _first_accounts(Settings.from_env()) == {}  # once
