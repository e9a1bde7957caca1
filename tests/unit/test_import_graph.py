"""DESIGN.md's rules of the house, checked on the source: the package import graph is acyclic,
lower layers never import higher ones, and only the web layer knows the web framework."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "farebox"


def unit_of(path: Path) -> str:
    """A module's unit: its top-level package under farebox (or the module itself)."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def imports() -> dict[str, set[str]]:
    """unit -> the farebox units it imports (at module level or inside functions)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        unit = unit_of(path)
        graph[unit]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "farebox" and len(parts) > 1 and parts[1] != unit:
                    graph[unit].add(parts[1])
    return graph


def web_framework_users() -> set[str]:
    users = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aiohttp")):
                continue
            if node.module.startswith("aiohttp.web") or any(a.name == "web" for a in node.names):
                users.add(str(path.relative_to(SRC)))
    return users


def test_the_package_graph_is_acyclic() -> None:
    graph = imports()
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        if state.get(unit) == 2:
            return
        assert state.get(unit) != 1, f"import cycle: {' -> '.join([*trail, unit])}"
        state[unit] = 1
        for dep in sorted(graph.get(unit, ())):
            visit(dep, [*trail, unit])
        state[unit] = 2

    for unit in sorted(graph):
        visit(unit, [])


def test_lower_layers_never_import_higher_ones() -> None:
    graph = imports()
    assert graph["protocol"] == set(), graph["protocol"]
    assert not graph["providers"] & {"api", "storage", "billing", "pipeline", "services", "cli", "runtime", "app"}
    for low in ("protocol", "providers", "storage", "billing", "routing", "ratelimit", "pipeline", "services"):
        assert not graph[low] & {"api", "cli", "app"}, (low, graph[low])
    assert not graph["api"] & {"cli"}


def test_only_the_web_layer_knows_the_web_framework() -> None:
    outside = {p for p in web_framework_users() if not p.startswith(("api/", "cli/")) and p != "app.py"}
    assert outside == set(), outside
