"""`onething account`: a clerk's centres (repeated --centre, the first the desk's own) and
whether they may serve other centres' cases (--serve-elsewhere)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from deploy.cli import main
from gateway.accounts import AccountBook


def test_an_account_lists_its_centres_and_may_serve_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = tmp_path / "accounts.json"
    monkeypatch.setenv("ONETHING_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ONETHING_ACCOUNTS_FILE", str(accounts))
    monkeypatch.setattr("sys.stdin", io.StringIO("window-password-1\n"))
    assert main(["account", "wang", "--role", "clerk", "--centre", "binhu-hehu",
                 "--centre", "liangxi-chongan", "--serve-elsewhere"]) == 0
    wang = AccountBook(accounts).get("wang")
    assert wang is not None
    assert wang.centres == ("binhu-hehu", "liangxi-chongan") and wang.centre == "binhu-hehu"
    assert wang.serves_elsewhere
    monkeypatch.setattr("sys.stdin", io.StringIO("window-password-2\n"))
    assert main(["account", "li", "--role", "clerk", "--centre", "binhu-hehu"]) == 0
    li = AccountBook(accounts).get("li")
    assert li is not None and li.centres == ("binhu-hehu",) and not li.serves_elsewhere
    # A clerk works somewhere: no centre is refused, naming the field.
    monkeypatch.setattr("sys.stdin", io.StringIO("window-password-3\n"))
    assert main(["account", "zhao", "--role", "clerk"]) == 2
    assert "centres" in capsys.readouterr().err
