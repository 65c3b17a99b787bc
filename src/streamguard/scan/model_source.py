"""Where a scan's models come from: a folder, a git revision, or a registered model version.

- `--model-dir DIR` (alias `--models`): the folder as it is, with `--graphs`
  and `--params` beside it; a detector's folder (with a card.json,
  models/detector_card.py) loads with its own params.yaml.
- none of the three: the workspace's `models` when it holds a trained fusion,
  else the detector that ships with StreamGuard (models/detector_card.SHIPPED_DIR).
- `--rev REV`: the detector at a git revision (branch, tag or commit) of the
  registry repository (`--registry`, default `.`).
- `--model NAME@VERSION` (or `NAME#STAGE`, or `NAME` for the latest version):
  the revision a GTO tag names (`detector@v0.1.0`, `detector#prod#3`), found
  with DVC's model registry (dvc.api's artifacts_show logic), then as `--rev`.

A revision's detector is the artifact dvc.yaml declares under `artifacts:`
(`detector`, path `models`), plus the two files outside that folder its
models need, named in the artifact's `meta`: the graph vocabulary (with the
graph_stats.json beside it, only when the fusion uses a graph model) and the
params file (the architecture and trimming the models were trained with, so a
revision is scanned with its own params).
Only what the scan loads is fetched, through DVC (the registry's cache, else
its remote): the fusion folder, each base model fusion.json names, those two
files. They land in `<cache>/models/<commit>/` (cache: $STREAMGUARD_CACHE,
else $XDG_CACHE_HOME/streamguard, else ~/.cache/streamguard), written to a
temporary folder and renamed when complete, so a later scan of the same
commit reuses it and an interrupted fetch leaves nothing half-written behind.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamguard.errors import StreamGuardError
from streamguard.io.fusion_json import read_fusion_summary
from streamguard.models.detector_card import PARAMS_FILE, SHIPPED_DIR, default_models_dir, is_detector
from streamguard.models.registry import GRAPH_MODELS

DEFAULT_ARTIFACT = "detector"
DEFAULT_MODELS_PATH = "models"  # a revision without an `artifacts:` entry keeps its models here
DEFAULT_GRAPH_VOCABULARY = "data/graphs/vocab.json"
DEFAULT_PARAMS = "params.yaml"
PROVENANCE_FILE = "provenance.json"  # written last: its presence marks a complete fetch
_VERSION_TAG = re.compile(r"^(?P<name>.+)@(?P<version>v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)$")  # GTO's format


@dataclass(frozen=True)
class ModelSource:
    """The folders and params file a scan loads, and where they came from (recorded in the report)."""

    models_dir: Path
    graphs_dir: Path
    params_file: Path
    params_where: str  # names the params file in messages ("params.yaml at detector@v0.1.0")
    origin: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """`--model`'s value: an artifact name and a version, a stage, or neither (the latest version)."""

    name: str
    version: str | None = None
    stage: str | None = None

    @property
    def text(self) -> str:
        return (
            f"{self.name}@{self.version}" if self.version else f"{self.name}#{self.stage}" if self.stage else self.name
        )


def parse_model_spec(text: str) -> ModelSpec:
    if "@" in text:
        name, version = text.split("@", 1)
        spec = ModelSpec(name, version=version)
    elif "#" in text:
        name, stage = text.split("#", 1)
        spec = ModelSpec(name, stage=stage)
    else:
        spec = ModelSpec(text)
    if not spec.name or spec.version == "" or spec.stage == "":
        raise StreamGuardError(
            f"--model {text!r}: expected NAME@VERSION (e.g. detector@v0.1.0), NAME#STAGE (e.g. detector#prod) or NAME"
        )
    return spec


def from_folder(models_dir: Path, graphs_dir: Path, params_file: Path, kind: str = "model-dir") -> ModelSource:
    origin = {"kind": kind, "reference": str(models_dir)}
    if is_detector(models_dir):  # a detector scores with the params it was trained with
        params_file = models_dir / PARAMS_FILE
    return ModelSource(models_dir, graphs_dir, params_file, str(params_file), origin)


def default_source(graphs_dir: Path, params_file: Path) -> ModelSource:
    """The workspace's trained models (`models`, with a fusion) when it has them, else the shipped detector."""
    folder = default_models_dir(Path(DEFAULT_MODELS_PATH))
    return from_folder(folder, graphs_dir, params_file, kind="shipped" if folder == SHIPPED_DIR else "model-dir")


def cache_root() -> Path:
    if os.environ.get("STREAMGUARD_CACHE"):
        return Path(os.environ["STREAMGUARD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "streamguard"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _open_registry(registry: str):
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        return Repo.open(url=registry)
    except DvcException as exc:
        raise StreamGuardError(
            f"--registry {registry}: not a DVC repository I can open ({_short(exc)}); "
            "pass the path or git URL of the StreamGuard repository that holds the model tags"
        ) from None


def _resolve(repo, registry: str, spec: ModelSpec | None, rev: str | None) -> str:
    """The commit `spec` (a GTO tag) or `rev` names."""
    from dvc.exceptions import DvcException
    from scmrepo.exceptions import SCMError

    if spec is not None:
        try:
            target = repo.artifacts.get_rev(spec.name, version=spec.version, stage=spec.stage)
        except DvcException as exc:
            raise StreamGuardError(
                f"--model {spec.text}: {_short(exc)} in {registry}; list the registered versions with "
                f"`git tag -l '{spec.name}@*' '{spec.name}#*'` (after `git fetch --tags`) or `gto show {spec.name}`"
            ) from None
    else:
        target = rev
    try:
        return repo.scm.resolve_commit(target).hexsha  # peels annotated tags (a stage tag may tag a version tag)
    except (SCMError, DvcException) as exc:
        raise StreamGuardError(f"--rev {target}: not a revision of {registry} ({_short(exc)})") from None


def _versions_at(repo, name: str, commit: str) -> list[str]:
    """The versions of `name` registered at `commit` (GTO version tags pointing at it), oldest first."""
    found = []
    for tag in repo.scm.list_tags():
        m = _VERSION_TAG.match(tag)
        if m and m.group("name") == name and repo.scm.resolve_commit(tag).hexsha == commit:
            found.append(m.group("version"))
    return sorted(found)


def _artifact(repo, name: str) -> tuple[str | None, str, dict]:
    """(declared name or None, models path, meta) of artifact `name` in the revision's root dvc.yaml."""
    declared = repo.artifacts.read().get("dvc.yaml", {}).get(name)
    if declared is None:
        return None, DEFAULT_MODELS_PATH, {}
    return name, declared.path, dict(declared.meta or {})


def _download(fs, path: str, to: Path, registry: str, commit: str, optional: bool = False) -> None:
    from dvc.exceptions import DvcException
    from dvc.fs import download
    from dvc_data.index.index import DataIndexError

    try:
        if not fs.exists(path):
            if optional:
                return
            raise StreamGuardError(
                f"{path}: not in {registry} at {commit[:12]}; that revision has no trained detector "
                "(run `dvc repro fusion`, commit dvc.lock, `dvc push`, then tag the commit)"
            )
        download(fs, path, str(to))
    except (DvcException, DataIndexError, OSError) as exc:  # a directory listing missing from the remote included
        raise StreamGuardError(
            f"{path} at {commit[:12]}: could not fetch it from {registry}'s DVC cache or remote ({_short(exc)}); "
            "check `dvc remote list` and the remote's credentials, and that `dvc push` ran for that commit"
        ) from None


def _fetch(repo, registry: str, commit: str, artifact: str, dest: Path) -> dict:
    """Download the detector at `commit` into `dest`; its provenance."""
    with repo.switch(commit):
        declared, models_path, meta = _artifact(repo, artifact)
        fs = repo.dvcfs
        _download(fs, f"{models_path}/fusion", dest / "models" / "fusion", registry, commit)
        try:
            models = read_fusion_summary(dest / "models" / "fusion" / "fusion.json")["models"]
        except StreamGuardError as exc:
            raise StreamGuardError(
                f"{models_path}/fusion/fusion.json at {commit[:12]}: no readable model list ({_short(exc)}); "
                "re-run the fusion stage at that revision"
            ) from None
        for model in models:
            _download(fs, f"{models_path}/{model}", dest / "models" / model, registry, commit)
        vocabulary = str(meta.get("graph_vocabulary", DEFAULT_GRAPH_VOCABULARY))
        if any(m in GRAPH_MODELS for m in models):
            _download(fs, vocabulary, dest / "graphs" / posixpath.basename(vocabulary), registry, commit)
            # gnn.batch_size "auto" sizes batches from the graph stats written beside the vocabulary
            stats = posixpath.join(posixpath.dirname(vocabulary), "graph_stats.json")
            _download(fs, stats, dest / "graphs" / "graph_stats.json", registry, commit, optional=True)
        params = str(meta.get("params", DEFAULT_PARAMS))
        _download(fs, params, dest / "params.yaml", registry, commit)
    return {"artifact": declared, "path": models_path, "models": list(models), "params": params}


def from_registry(
    registry: str, *, model: str | None = None, rev: str | None = None, cache: Path | None = None
) -> ModelSource:
    """The detector a GTO tag (`model`) or a revision (`rev`) of `registry` names, fetched into the cache."""
    if (model is None) == (rev is None):
        raise StreamGuardError("pass one of --model NAME@VERSION or --rev REV")
    spec = parse_model_spec(model) if model is not None else None
    artifact = spec.name if spec else DEFAULT_ARTIFACT
    with _open_registry(registry) as repo:
        commit = _resolve(repo, registry, spec, rev)
        dest = (cache or cache_root()) / "models" / commit
        if not (dest / PROVENANCE_FILE).is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=dest.parent))
            try:
                fetched = _fetch(repo, registry, commit, artifact, partial)
                (partial / PROVENANCE_FILE).write_text(json.dumps(fetched, indent=2) + "\n")
                try:
                    partial.rename(dest)
                except OSError:  # another scan finished the same fetch first: keep its copy
                    if not (dest / PROVENANCE_FILE).is_file():
                        raise
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        fetched = json.loads((dest / PROVENANCE_FILE).read_text())
        versions = _versions_at(repo, artifact, commit)
    version = spec.version if spec and spec.version else (versions[-1] if versions else None)
    origin = {
        "kind": "registry" if spec else "rev",
        "reference": spec.text if spec else rev,
        "registry": registry,
        "name": artifact,  # the GTO name looked up; `artifact` is None when that revision's dvc.yaml lacks it
        "artifact": fetched["artifact"],
        "version": version,
        "stage": spec.stage if spec else None,
        "commit": commit,
        "path": fetched["path"],
    }
    return ModelSource(
        dest / "models",
        dest / "graphs",
        dest / "params.yaml",
        f"{fetched['params']} at {origin['reference']} ({commit[:12]})",
        origin,
    )
