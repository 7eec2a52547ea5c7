"""The layout is the architecture: imports run one way down the layers, no module imports
itself back through a circle, and the product never imports the simulation.

Every import counts, including those deferred into a function body: a circle closed at
run time is still a circle a newcomer has to untangle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each layer and the layers it may import (besides itself), bottom first.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "kernel": frozenset(),
    "friction": frozenset({"kernel"}),
    "workflows": frozenset({"kernel", "friction"}),
    "activities": frozenset({"kernel", "friction", "workflows"}),
    "gateway": frozenset({"kernel", "friction", "workflows"}),
    "deploy": frozenset({"kernel", "friction", "workflows", "activities", "gateway"}),
}
SIMULATION = "deploy.sim"
# The launcher starts the simulator and runs the demo; nothing else of the product may.
LAUNCHER = "deploy.cli"


def modules() -> dict[str, Path]:
    found = {}
    for layer in MAY_IMPORT:
        for path in sorted((ROOT / layer).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `path` imports, anywhere in its body."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; a package's own
            # __init__ runs first whatever is imported from it, which is no arrow.
            submodules = [f"{node.module}.{a.name}" for a in node.names
                          if f"{node.module}.{a.name}" in known]
            targets = submodules or [node.module]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target:
                yield target


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports(path, known)) - {name} for name, path in known.items()}


def test_imports_run_down_the_layers_only() -> None:
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if (la := a.split(".")[0]) != (lb := b.split(".")[0]) and lb not in MAY_IMPORT[la]
    )
    assert wrong == []


def test_the_product_never_imports_the_simulation() -> None:
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if b.startswith(SIMULATION) and not a.startswith(SIMULATION) and a != LAUNCHER
    )
    assert wrong == []


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert circles == []
