"""dvc.yaml's code deps cover every project module each stage's command can run.

A module a stage imports but does not list leaves its outputs "up to date"
after the module changed: a stale result. The module set is derived from the
code (streamguard.stage_deps), so a new import without a new dep fails here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from dvc.repo import Repo

from streamguard.stage_deps import attributes_read, code_files, module_closure, stage_code_files, uncovered

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _stages() -> list[tuple[str, str, list[str]]]:
    """(name, cmd, deps) of every stage, with foreach/matrix expanded by DVC itself."""
    with Repo(str(ROOT)) as repo:
        return [
            (stage.addressing, stage.cmd, [str(Path(d.def_path)) for d in stage.deps])
            for stage in repo.index.stages
            if getattr(stage, "cmd", None)
        ]


STAGES = _stages()


def test_every_stage_runs_a_streamguard_command():
    assert STAGES, "dvc.yaml has no stages"
    assert all(cmd.startswith("streamguard ") for _, cmd, _ in STAGES)


@pytest.mark.parametrize(("name", "cmd", "deps"), STAGES, ids=[s[0] for s in STAGES])
def test_stage_deps_cover_every_module_it_runs(name, cmd, deps):
    files = stage_code_files(cmd, SRC)
    assert files, f"{name}: found no code for {cmd!r}"
    missing = uncovered(files, deps, ROOT)
    assert not missing, f"dvc.yaml stage '{name}' runs modules its deps do not list: {missing}"


def test_known_lazy_imports_are_found():
    """Regressions named in issue #10: each was once missing from its stage's deps."""
    fusion = {p.relative_to(SRC).as_posix() for p in stage_code_files("streamguard fusion", SRC)}
    assert {
        "streamguard/evaluation/thresholds.py",
        "streamguard/io/predictions.py",
        "streamguard/data/trim.py",
    } <= fusion
    oof = {p.relative_to(SRC).as_posix() for p in stage_code_files("streamguard oof gnn 0", SRC)}
    assert {"streamguard/data/folds.py", "streamguard/stages/train.py"} <= oof  # the fold file; fit_runs
    git = {p.relative_to(SRC).as_posix() for p in stage_code_files("streamguard collect git --out x", SRC)}
    assert "streamguard/data/collectors/git_miner.py" in git  # imported by name (importlib)


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_closure_follows_function_level_and_relative_imports_but_not_type_checking(tmp_path):
    _write(tmp_path, "streamguard/__init__.py", '"""doc only"""\n')
    _write(tmp_path, "streamguard/pkg/__init__.py", "X = 1\n")
    _write(
        tmp_path,
        "streamguard/pkg/entry.py",
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from streamguard.pkg import annotations_only
        def run():
            from .lazy import thing
            from streamguard import sub
    """,
    )
    _write(tmp_path, "streamguard/pkg/lazy.py", "import streamguard.deep.leaf\nthing = 1\n")
    _write(tmp_path, "streamguard/pkg/annotations_only.py", "")
    _write(tmp_path, "streamguard/sub.py", "")
    _write(tmp_path, "streamguard/deep/__init__.py", '"""doc"""\n')
    _write(tmp_path, "streamguard/deep/leaf.py", "")
    modules = module_closure(["streamguard.pkg.entry"], tmp_path)
    assert modules == {
        "streamguard",
        "streamguard.pkg",
        "streamguard.pkg.entry",
        "streamguard.pkg.lazy",
        "streamguard.sub",
        "streamguard.deep",
        "streamguard.deep.leaf",
    }
    files = {p.relative_to(tmp_path).as_posix() for p in code_files(["streamguard.pkg.entry"], tmp_path)}
    # docstring-only __init__ files run nothing; pkg/__init__.py does
    assert files == {
        "streamguard/pkg/__init__.py",
        "streamguard/pkg/entry.py",
        "streamguard/pkg/lazy.py",
        "streamguard/sub.py",
        "streamguard/deep/leaf.py",
    }


def test_uncovered_reports_a_module_outside_every_dep(tmp_path):
    files = {SRC / "streamguard/data/split.py", SRC / "streamguard/training/loop.py"}
    assert uncovered(files, ["src/streamguard/training"], ROOT) == ["src/streamguard/data/split.py"]
    assert uncovered(files, ["src/streamguard/training", "src/streamguard/data/split.py"], ROOT) == []


def _declared_params(name: str) -> set[str]:
    with Repo(str(ROOT)) as repo:
        stage = next(s for s in repo.index.stages if s.addressing == name)
        return {key for d in stage.deps if type(d).__name__ == "ParamsDependency" for key in d.params}


COLLECT_STAGES = [name for name, cmd, _ in STAGES if cmd.startswith("streamguard collect ")]


def _collect_keys_read(cmd: str) -> set[str]:
    import dataclasses

    from streamguard.params import CollectParams

    fields = [f.name for f in dataclasses.fields(CollectParams)]
    # params.py validates every key; reading a key there does not make the stage's output depend on it
    code = {f for f in stage_code_files(cmd, SRC) if f.name != "params.py"}
    return {f"collect.{key}" for key in attributes_read(code, fields)}


@pytest.mark.parametrize("name", COLLECT_STAGES)
def test_collect_stages_list_the_collect_keys_their_code_reads(name):
    """Each collect stage's params cover every `collect.*` key its source's code reads (a section covers its keys)."""
    cmd = next(cmd for stage, cmd, _ in STAGES if stage == name)
    declared = _declared_params(name)
    uncovered_keys = {key for key in _collect_keys_read(cmd) if key not in declared and "collect" not in declared}
    assert not uncovered_keys, f"{name} reads params dvc.yaml does not list: {sorted(uncovered_keys)}"


def test_the_collect_section_holds_only_keys_some_source_reads():
    """The collect stages list the whole `collect` section: each of its keys is read by at least one source."""
    import dataclasses

    from streamguard.params import CollectParams

    assert COLLECT_STAGES, "dvc.yaml has no collect stages"
    read = set().union(*(_collect_keys_read(cmd) for name, cmd, _ in STAGES if name in COLLECT_STAGES))
    unread = {f"collect.{f.name}" for f in dataclasses.fields(CollectParams)} - read
    assert not unread, f"collect keys no source reads (list the keys instead of the section): {sorted(unread)}"


def test_a_stage_command_runs_its_stage_module():
    from streamguard.stage_deps import command_roots

    assert command_roots("oof") == {"streamguard.stages.oof"}
    assert command_roots("generalize-corpus") == {"streamguard.stages.generalize_corpus"}


def test_attributes_read_sees_attribute_and_getattr_reads(tmp_path):
    _write(
        tmp_path,
        "a.py",
        """
        def f(collect, kind):
            x = collect.git_repos
            y = getattr(collect, "juliet_path")
            return getattr(collect, f"confidence_{kind}")
    """,
    )
    names = ["git_repos", "juliet_path", "confidence_git", "confidence_juliet", "nvd_feeds"]
    assert attributes_read([tmp_path / "a.py"], names) == {
        "git_repos",
        "juliet_path",
        "confidence_git",
        "confidence_juliet",
    }
