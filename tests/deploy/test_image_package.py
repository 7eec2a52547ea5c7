"""The image installs onething as a package, not from the source tree (`uv sync
--no-editable`): the built wheel must hold every file the product reads at run time
(templates, catalogues, static files, bundle definitions, calendars, burden.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "workflows", "activities", "gateway", "friction", "deploy")
# Read by people (and Babel's extraction), not by the product.
NOT_AT_RUN_TIME = (".md", "messages.pot")


def test_the_wheel_holds_every_file_the_product_reads(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "pyproject.toml", "README.md", *PACKAGES],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "src"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    # The build backend itself (PEP 517), as `uv build` calls it: a venv made by uv has no pip.
    (tmp_path / "out").mkdir()
    built = subprocess.run(
        [sys.executable, "-c", "import sys, setuptools.build_meta as backend; "
         "backend.build_wheel(sys.argv[1])", str(tmp_path / "out")],
        cwd=source, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "out").glob("onething-*.whl")
    held = set(zipfile.ZipFile(wheel).namelist())
    # The folders of deploy/ that hold no Python (the container, compose, Kubernetes,
    # Prometheus and Grafana files) deploy the product and are not part of it.
    folders = {Path(n).parent for n in tracked}
    cluster_files = tuple(f"{d}/" for d in folders if d.parent == Path("deploy") and not any(
        n.endswith(".py") and Path(n).is_relative_to(d) for n in tracked))
    assert "deploy/k8s/" in cluster_files and "deploy/sim/" not in cluster_files
    wanted = {n for n in tracked if n.startswith(tuple(f"{p}/" for p in PACKAGES))
              and not n.startswith(cluster_files)}
    assert sorted(n for n in wanted - held if not n.endswith(NOT_AT_RUN_TIME)) == []
    entry_points = next(n for n in held if n.endswith(".dist-info/entry_points.txt"))
    assert "onething = deploy.cli:entry" in zipfile.ZipFile(wheel).read(entry_points).decode()
