"""Keys are never defaults: the pseudonym key is configured, or made once at random in
the state folder, readable by its owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from deploy.settings import Settings, pseudonym_key


def test_the_pseudonym_key_is_random_made_once_and_private(tmp_path: Path) -> None:
    first = Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path / "a")})
    other = Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path / "b")})
    key = pseudonym_key(first)
    assert key == pseudonym_key(first)  # kept across restarts
    assert key != pseudonym_key(other)  # no key known to everyone
    assert key != b"onething-dev-key" and len(key) == 64
    assert stat.S_IMODE((tmp_path / "a" / "pseudonym.key").stat().st_mode) == 0o600


def test_a_configured_pseudonym_key_wins(tmp_path: Path) -> None:
    settings = Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path),
                                  "ONETHING_PSEUDONYM_KEY": "cluster-wide-key"})
    assert pseudonym_key(settings) == b"cluster-wide-key"
    assert not (tmp_path / "pseudonym.key").exists()
