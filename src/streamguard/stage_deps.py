"""Which project source files a DVC stage's command can run: its code deps.

A stage's output is stale the moment a module it runs changes, so dvc.yaml must
list every such module (a file, or a folder holding it) under `deps`. This
module derives that set from the code itself, so a test can hold dvc.yaml to it:

- the stage's `cmd` names a `streamguard <command>`; cli.STAGE_COMMANDS names
  its module under streamguard/stages/ (a command outside that table: the
  modules its CLI handler imports);
- from there, every `streamguard.*` import is followed, transitively: module
  level and function level alike (lazy imports run too), except imports under
  `if TYPE_CHECKING:` (annotations only, never executed);
- importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py` first, so a
  package's `__init__.py` counts whenever it holds more than a docstring;
- dynamic imports are named by the code that makes them (`dynamic_roots`).

Modules that cannot change an output are exempt: `errors` (exception types),
`progress` (terminal display) and the package root (only `__version__`).

A dep covers a module when it is the module's file or a folder above it, so a
package dep (`src/streamguard/graphs`) covers every module of that package.

`python -m streamguard.stage_deps` prints, per stage, the code deps it needs, with
folders where a whole folder is needed.
"""

from __future__ import annotations

import ast
import inspect
import shlex
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "streamguard"
EXEMPT = frozenset({"streamguard", "streamguard.errors", "streamguard.progress"})


def module_file(module: str, src_root: Path) -> Path | None:
    """The source file of a project module (a .py file or a package's __init__.py)."""
    base = src_root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node, skipping the bodies of `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(tree: ast.AST, this_module: str, is_package: bool, src_root: Path) -> set[str]:
    """Project modules a parsed module imports at run time (module or function level)."""
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = this_module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            for alias in node.names:  # `from pkg import submodule`
                if module_file(f"{base}.{alias.name}", src_root) is not None:
                    found.add(f"{base}.{alias.name}")
    return found


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _only_docstring(tree: ast.Module) -> bool:
    body = tree.body
    return all(
        isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
        for stmt in body
    )


def module_closure(roots: Iterable[str], src_root: Path) -> set[str]:
    """The project modules that importing (and running) `roots` can execute."""
    seen: set[str] = set()
    todo = [m for root in roots for m in _with_parents(root)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, src_root)
        if path is None:  # a name imported from a module, not a module
            continue
        seen.add(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for imported in imported_modules(tree, module, path.name == "__init__.py", src_root):
            todo.extend(_with_parents(imported))
    return seen


def code_files(roots: Iterable[str], src_root: Path) -> set[Path]:
    """Source files a stage depends on: the closure of `roots`, minus exempt and docstring-only modules."""
    out: set[Path] = set()
    for module in module_closure(roots, src_root):
        if module in EXEMPT:
            continue
        path = module_file(module, src_root)
        assert path is not None
        if path.name == "__init__.py" and _only_docstring(ast.parse(path.read_text(encoding="utf-8"))):
            continue
        out.add(path)
    return out


def command_roots(command: str) -> set[str]:
    """The entry module(s) of `streamguard <command>`: its stage module, else what its CLI handler imports."""
    from streamguard.cli import STAGE_COMMANDS, build_parser

    if command in STAGE_COMMANDS:
        return {f"{PACKAGE}.stages.{STAGE_COMMANDS[command]}"}
    parser = build_parser()
    handler = parser.parse_known_args([command, *_placeholder_args(command)])[0].func
    tree = ast.parse(inspect.getsource(handler))
    src_root = Path(inspect.getfile(build_parser)).parents[1]
    return imported_modules(tree, "streamguard.cli", False, src_root)


def _placeholder_args(command: str) -> list[str]:
    """Positional arguments that let argparse pick the sub-command's handler."""
    return {"train": ["lexical"], "oof": ["lexical", "0"], "collect": ["git"]}.get(command, [])


def dynamic_roots(command: str, args: list[str]) -> set[str]:
    """Modules a command imports by name at run time (importlib), for the given arguments."""
    if command == "collect" and args:
        from streamguard.data.collectors import COLLECTORS

        spec = COLLECTORS.get(args[0])
        return {f"streamguard.data.collectors.{spec.split(':')[0]}"} if spec else set()
    return set()


def stage_code_files(cmd: str, src_root: Path) -> set[Path]:
    """Every project source file `cmd` (a dvc.yaml stage command) can run."""
    words = shlex.split(cmd)
    if not words or words[0] != "streamguard":
        raise ValueError(f"stage command {cmd!r} does not run `streamguard <command>`")
    command = next(w for w in words[1:] if not w.startswith("-"))
    positional = [w for w in words[words.index(command) + 1 :] if not w.startswith("-")]
    roots = command_roots(command) | dynamic_roots(command, positional)
    return code_files(roots, src_root)


def uncovered(files: Iterable[Path], deps: Iterable[str], repo_root: Path) -> list[str]:
    """The files (repo-relative) that no dep path covers (a dep covers itself and everything below it)."""
    dep_paths = [(repo_root / d).resolve() for d in deps]
    missing = []
    for f in sorted(files):
        resolved = f.resolve()
        if not any(resolved == d or d in resolved.parents for d in dep_paths):
            missing.append(str(resolved.relative_to(repo_root.resolve())))
    return missing


def attributes_read(files: Iterable[Path], names: Iterable[str]) -> set[str]:
    """Which of `names` the code in `files` reads as an attribute (`x.name`, `getattr(x, "name")`).

    A getattr with an f-string name (`getattr(c, f"confidence_{kind}")`) counts as reading
    every name that starts with its constant prefix. Static, so it over-approximates: an
    attribute of the same name on another object counts too.
    """
    wanted = set(names)
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in wanted:
                found.add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
                if len(node.args) < 2:
                    continue
                name = node.args[1]
                if isinstance(name, ast.Constant) and name.value in wanted:
                    found.add(name.value)
                elif isinstance(name, ast.JoinedStr) and name.values and isinstance(name.values[0], ast.Constant):
                    prefix = str(name.values[0].value)
                    found.update(n for n in wanted if n.startswith(prefix))
    return found


def compress(files: Iterable[Path], src_root: Path) -> list[Path]:
    """`files` as dep paths: a folder stands for its files when every .py file below it is needed."""
    needed = {f.resolve() for f in files}
    out: list[Path] = []

    def walk(folder: Path) -> None:
        all_py = {p.resolve() for p in folder.rglob("*.py")}
        if all_py and all_py <= needed and folder != src_root / PACKAGE:
            out.append(folder)
            return
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                walk(child)
            elif child.resolve() in needed:
                out.append(child)

    walk(src_root / PACKAGE)
    return out


def main() -> None:
    from dvc.repo import Repo

    repo_root = Path.cwd()
    src_root = repo_root / "src"
    with Repo(str(repo_root)) as repo:
        for stage in repo.index.stages:
            if not getattr(stage, "cmd", None):
                continue
            deps = [str(d.def_path) for d in stage.deps]
            files = stage_code_files(stage.cmd, src_root)
            missing = uncovered(files, deps, repo_root)
            print(f"{stage.addressing}:{'  MISSING ' + ', '.join(missing) if missing else ''}")
            for path in compress(files, src_root):
                print(f"  - {path.relative_to(repo_root)}")


if __name__ == "__main__":
    main()
