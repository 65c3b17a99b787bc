"""Imports point one way: stages → {training, evaluation, scan, …} → models → {data, graphs} → params → {c, io, metrics}.

A module may import its own package and any lower layer; a higher layer or a sibling package of its
own layer is a violation. KNOWN_VIOLATIONS lists the ones the code still has, module by module, so a
new one fails and a fixed one must leave the list.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
TESTS = REPO / "tests"

# top-level names under streamguard/ (a package or a root module) → layer; higher imports lower
LAYERS = {
    "errors": 0,
    "progress": 1,
    "io": 1,
    "c": 1,
    "metrics": 1,
    "params": 2,
    "data": 3,
    "graphs": 3,
    "models": 4,
    "training": 5,
    "evaluation": 5,
    "scan": 5,
    "predict": 5,
    "cloud": 5,
    "plot_images": 5,
    "stages": 6,
    "cli": 7,
    "stage_deps": 8,
}
# a package may import these siblings of its own layer
SAME_LAYER_ALLOWED = {("graphs", "data")}
# modules placed below their package's layer: the model registry is data that params validates names against
MODULE_LAYERS = {"models.registry": 1}

# importer module → imported module; each one is a debt to pay, not a rule
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _unit(module: str) -> str:
    """What the module's layer is given for: its MODULE_LAYERS entry, else its top-level name."""
    inner = module.split(".", 1)[1] if "." in module else module
    return next((m for m in MODULE_LAYERS if inner == m or inner.startswith(f"{m}.")), _top(module))


def _layer(unit: str) -> int:
    return MODULE_LAYERS[unit] if unit in MODULE_LAYERS else LAYERS[unit]


def _is_violation(importer: str, imported: str) -> bool:
    a, b = _unit(importer), _unit(imported)
    if a == b:
        return False
    if _layer(b) < _layer(a):
        return False
    return not (_layer(a) == _layer(b) and (a, b) in SAME_LAYER_ALLOWED)


def _violations() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((SRC / "streamguard").rglob("*.py")):
        importer = _module_name(path)
        for imported in _imports(path):
            if imported.startswith("streamguard.") and _is_violation(importer, imported):
                found.add((importer, imported))
    return found


def test_every_top_level_name_has_a_layer():
    code = [p for p in (SRC / "streamguard").iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()]
    names = {p.stem if p.is_file() else p.name for p in code} - {"__init__"}
    assert names - set(LAYERS) == set(), "give each new package or root module a layer in LAYERS"


def test_imports_point_down_the_layers():
    new = _violations() - KNOWN_VIOLATIONS
    assert not new, "these imports point up or sideways; move the shared code down a layer:\n" + "\n".join(
        f"  {a} imports {b}" for a, b in sorted(new)
    )


def test_the_list_of_known_violations_holds_only_live_ones():
    fixed = KNOWN_VIOLATIONS - _violations()
    assert not fixed, "fixed; remove from KNOWN_VIOLATIONS:\n" + "\n".join(f"  {a} → {b}" for a, b in sorted(fixed))


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    assert _is_violation("streamguard.models.gnn", "streamguard.training.loop")
    assert _is_violation("streamguard.training.loop", "streamguard.scan.run")
    assert not _is_violation("streamguard.training.loop", "streamguard.models.gnn")
    assert not _is_violation("streamguard.graphs.build", "streamguard.data.records")
    assert not _is_violation("streamguard.params", "streamguard.models.registry")
    assert _is_violation("streamguard.models.registry", "streamguard.models.gnn")
    assert _is_violation("streamguard.models.registry", "streamguard.params")


def test_no_test_module_imports_another_test_module():
    """Shared helpers and fixtures live in conftest.py; a test module is never a library."""
    test_modules = {p.stem for p in TESTS.rglob("test_*.py")}
    found = set()
    for path in sorted(TESTS.rglob("*.py")):
        for imported in _imports(path):
            if imported.split(".")[0] in test_modules:
                found.add((str(path.relative_to(TESTS)), imported))
    assert not found, "move what these share into conftest.py:\n" + "\n".join(
        f"  {a} imports {b}" for a, b in sorted(found)
    )
