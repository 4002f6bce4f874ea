"""The package's floors (ARCHITECTURE.md): imports point down, and there are no cycles.

Read from the source with ``ast`` (no import side effects), so function-level imports count too:
a lazy import up the floors is still a dependency up the floors.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tracerdiff"

#: Floor of every top-level unit of the package, lowest first. A unit may import its own floor
#: or lower ones; units on one floor may import each other as long as no cycle forms.
FLOORS: dict[str, int] = {
    "errors": 0,
    "units": 1, "resources": 1,
    "quantity": 2, "jsonio": 3, "results": 3, "parallel": 2, "report": 2,
    "tracerdiff": 3,  # the package root: only __version__ and the base names
    "grains": 4, "species": 4,
    "io": 5,
    "isotope": 6,
    "models": 7,
    "simulate": 8,
    "profiles": 9, "boundaries": 9,
    "inversion": 10,
    "study": 11,
    "cli": 12,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from tracerdiff.x import y``: y is a submodule or a name defined in tracerdiff.x
            found.update(f"{target}:{alias.name}" for alias in node.names)
    return {name for name in found if name.split(":")[0] == "tracerdiff" or name.startswith("tracerdiff.")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = defaultdict(set)
    for module, path in files.items():
        for target in _imports(path, module):
            package, _, name = target.partition(":")
            # ``from package import submodule`` depends on the submodule, not on the package's
            # __init__ (which may itself import that submodule: not a cycle)
            target = f"{package}.{name}" if f"{package}.{name}" in files else package
            while target not in files and "." in target:
                target = target.rpartition(".")[0]
            if target in files and target != module:
                graph[module].add(target)
    for module in files:
        graph.setdefault(module, set())
    return dict(graph)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_unit_has_a_floor():
    units = {_unit(m) for m in _graph()}
    assert units <= set(FLOORS), f"units without a floor in this test: {sorted(units - set(FLOORS))}"


def test_imports_point_down_the_floors():
    upward = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                    if FLOORS[_unit(t)] > FLOORS[_unit(m)])
    assert upward == [], "modules importing a higher floor:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_there_are_no_import_cycles():
    assert _cycles(_graph()) == []


@pytest.mark.parametrize("source, expected", [
    ("from tracerdiff.cli.common import x, y\n", {"tracerdiff.cli.common:x", "tracerdiff.cli.common:y"}),
    ("from . import step\n", {"tracerdiff.boundaries:step"}),
    ("from ..io import api\n", {"tracerdiff.io:api"}),
    ("def f():\n    import tracerdiff.study\n", {"tracerdiff.study"}),
    ("import numpy\n", set()),
])
def test_the_import_reader_sees_every_form(tmp_path, source, expected):
    # a module inside tracerdiff/boundaries/, so relative imports resolve there
    path = tmp_path / "analysis.py"
    path.write_text(source)
    assert _imports(path, "tracerdiff.boundaries.analysis") == expected
