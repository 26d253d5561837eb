"""The package's modules import each other without a circle.

A circle works only while its imports stay inside functions, and turns into an ImportError
the day one of them moves to the top of a file; it also means neither module can be
understood, tested or reused without the other. So every import counts here, at any level
(inside functions too), read from the source with `ast`, without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fdikp_cli

PACKAGE = "fdikp_cli"
ROOT = Path(fdikp_cli.__file__).resolve().parent


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package (packages as __init__)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """`from .x import y` written in `importer` -> the absolute name of `.x`."""
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports anywhere in its source."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node.module, node.level, name, is_package)
            # `from package import module` imports the module; `from module import name` the module.
            found.update(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target
                         for alias in node.names)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # absent: unseen, 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # batch.py imports the defocus room only inside a function
    assert "fdikp_cli.defocus.maps" in graph["fdikp_cli.inference.batch"]
    assert "fdikp_cli.training.hooks" in graph["fdikp_cli.training.trainer"]


def test_find_cycle_reports_the_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_relative_imports_are_resolved() -> None:
    assert _absolute("maps", 1, "fdikp_cli.defocus.files", False) == "fdikp_cli.defocus.maps"
    assert _absolute(None, 1, "fdikp_cli.defocus", True) == "fdikp_cli.defocus"
    assert _absolute("errors", 2, "fdikp_cli.defocus.files", False) == "fdikp_cli.errors"


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
