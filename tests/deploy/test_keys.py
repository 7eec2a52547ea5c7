"""Keys are never defaults: the pseudonym key is configured, or made once at random in
the state folder, readable by its owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.settings import (
    MissingSetting,
    Settings,
    installation_secret,
    payload_keys,
    pseudonym_key,
)
from kernel.codec import format_key, generate_key


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


ROOT = Path(__file__).resolve().parents[2]
KEYS = ("ONETHING_PAYLOAD_KEYS", "ONETHING_PSEUDONYM_KEY", "ONETHING_SECRET_KEY")


def start(command: str, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ONETHING_", "OTEL_"))}
    base.update(ONETHING_STATE_DIR=str(state), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "deploy.cli", command], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


# Port 9 (discard): nothing answers, and nothing should be asked before the refusal.
CONFIGURED = {"ONETHING_TEMPORAL_ADDRESS": "127.0.0.1:9"}


@pytest.mark.parametrize(("command", "needed"), [
    ("worker", ("ONETHING_PAYLOAD_KEYS", "ONETHING_PSEUDONYM_KEY")),
    ("gateway", ("ONETHING_PAYLOAD_KEYS", "ONETHING_SECRET_KEY", "ONETHING_PSEUDONYM_KEY")),
])
def test_a_configured_start_without_keys_refuses_and_names_them(
    tmp_path: Path, command: str, needed: tuple[str, ...],
) -> None:
    refused = start(command, tmp_path / "state", **CONFIGURED)
    assert refused.returncode == 2, refused.stderr
    for variable in needed:
        assert variable in refused.stderr
    for other in set(KEYS) - set(needed):
        assert other not in refused.stderr
    # No key was made at random on the way.
    state = tmp_path / "state"
    assert not any((state / name).exists()
                   for name in ("payload.keys", "pseudonym.key", "secret.key"))
    # A store of a city (PostgreSQL) is a configured start too; one key given, one missing.
    partial = start(command, tmp_path / "state",
                    ONETHING_FRICTION_DSN="postgresql://nobody@127.0.0.1:9/none",
                    ONETHING_PAYLOAD_KEYS=format_key("k1", generate_key()))
    assert partial.returncode == 2
    assert "ONETHING_PAYLOAD_KEYS" not in partial.stderr
    assert needed[1] in partial.stderr


def test_the_key_functions_never_make_a_key_outside_the_embedded_default(
    tmp_path: Path,
) -> None:
    configured = Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path), **CONFIGURED})
    assert not configured.embedded
    for make, variable in ((payload_keys, "ONETHING_PAYLOAD_KEYS"),
                           (pseudonym_key, "ONETHING_PSEUDONYM_KEY"),
                           (installation_secret, "ONETHING_SECRET_KEY")):
        with pytest.raises(MissingSetting, match=variable):
            make(configured)
    assert list(tmp_path.iterdir()) == []
    # The parts `onething up` starts are told they are embedded; the local defaults are.
    told = Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path), "ONETHING_EMBEDDED": "1",
                              **CONFIGURED})
    assert told.embedded and len(payload_keys(told)) == 1
    assert Settings.from_env({"ONETHING_STATE_DIR": str(tmp_path)}).embedded
