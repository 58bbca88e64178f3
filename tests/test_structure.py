"""The shape of the helpers package: no import cycle, no private names used across modules, one definition of
the constants the notebooks share (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
MODULES = {path.stem: ast.parse(path.read_text()) for path in sorted(HELPERS.glob("*.py"))}


def imported_names(tree: ast.AST):
    """(module, names) for every ``from .x import ...`` / ``from helpers.x import ...``, lazy imports included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            parts = node.module.split(".")
            if node.level == 1:
                yield parts[0], [alias.name for alias in node.names]
            elif parts[0] == "helpers" and len(parts) > 1:
                yield parts[1], [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 1:  # from . import gpu
            for alias in node.names:
                yield alias.name, []


def import_graph() -> dict[str, set[str]]:
    return {name: {mod for mod, _ in imported_names(tree) if mod in MODULES and mod != name}
            for name, tree in MODULES.items()}


def test_helpers_import_graph_has_no_cycle():
    graph, state, cycles = import_graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles in helpers: {cycles}"


def test_the_cycle_check_would_see_a_cycle():
    """The check above is not hollow: memory imports models, so models importing memory would be a cycle."""
    assert "models" in import_graph()["memory"]
    graph = import_graph()
    graph["models"] = graph["models"] | {"memory"}
    assert "memory" in graph["models"] and "models" in graph["memory"]


def test_no_private_name_is_imported_from_another_module():
    private = [(name, mod, n) for name, tree in MODULES.items() for mod, names in imported_names(tree)
               for n in names if n.startswith("_") and n != "__version__"]
    assert not private, private


def _assignments(target: str) -> list[str]:
    return [name for name, tree in MODULES.items() for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == target for t in node.targets)]


def test_shared_constants_are_defined_once():
    assert _assignments("GIB") == ["memory"]
    assert _assignments("PHI2_TARGET_MODULES") == ["models"]
    literal = '("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2")'
    holders = [name for name in MODULES if literal in (HELPERS / f"{name}.py").read_text()]
    assert holders == ["models"], holders


def test_the_package_exports_without_aliases():
    tree = MODULES["__init__"]
    aliases = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
               if alias.asname]
    assert not aliases, aliases
