"""No two packages of filegate import each other, directly or round a longer loop: each domain
package (a folder of src/filegate) builds on the ones below it. The modules at the top
(app.py, worker.py, cli.py, deps.py, ...) wire the packages together and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[3] / "src" / "filegate"


def _package_of(module: str) -> str | None:
    """'filegate.tickets.service' → 'tickets'; None for a top-level module or another library."""
    parts = module.split(".")
    if parts[0] != "filegate" or len(parts) < 2:
        return None
    return parts[1] if (SOURCE / parts[1]).is_dir() else None


def _imports(path: Path) -> set[str]:
    """Every filegate module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in sorted(path for path in SOURCE.iterdir() if (path / "__init__.py").exists()):
        uses = graph.setdefault(package.name, set())
        for path in package.rglob("*.py"):
            for module in _imports(path):
                other = _package_of(module)
                if other is not None and other != package.name:
                    uses.add(other)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One loop of the graph, as the packages along it, or None."""
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for other in sorted(graph.get(node, ())):
            if state.get(other) == 1:
                return [*path[path.index(other) :], other]
            if other not in state and (loop := visit(other)):
                return loop
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (loop := visit(node)):
            return loop
    return None


def test_the_packages_import_each_other_in_one_direction_only() -> None:
    graph = package_graph()
    assert {"state", "tickets", "archive", "scheduling", "storage"} <= set(graph)
    loop = _cycle(graph)
    assert loop is None, " → ".join(loop or [])


def test_the_check_finds_a_loop_when_there_is_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
