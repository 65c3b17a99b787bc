"""The collectors import each other without cycles, at the top of each module: a cycle hidden
behind an import inside a function breaks as soon as someone moves that import up."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = "streamguard.data.collectors"
FOLDER = REPO / "src" / "streamguard" / "data" / "collectors"


def _imported_collectors(path: Path) -> set[str]:
    """Sibling modules `path` imports, wherever the import statement is (module level or in a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n[len(PACKAGE) + 1 :].split(".")[0] for n in names if n.startswith(PACKAGE + ".")}
    return found & {p.stem for p in FOLDER.glob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (module -> modules it imports) as a path, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            if found := visit(nxt, path + [node]):
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        if found := visit(start, []):
            return found
    return None


def test_collector_modules_import_each_other_without_cycles():
    graph = {p.stem: _imported_collectors(p) for p in FOLDER.glob("*.py") if p.stem != "__init__"}
    assert "context" in graph and graph["exploitdb"] >= {"context"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_sees_a_hidden_cycle():
    assert _cycle({"context": {"exploitdb"}, "exploitdb": {"context", "nvd"}, "nvd": set()}) is not None
