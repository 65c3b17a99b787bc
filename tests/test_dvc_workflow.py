"""What a DVC user relies on: a clean tree after a rerun, one line per `-S`, a bad `-S` that
stops before any output is removed, a dvc.lock without stale stages.

The slow tests build small real DVC repositories in temp dirs around the project's own
validate_params stage, params.yaml, .dvcignore and `streamguard` command.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, sh
from dvc.repo import Repo
from dvc.utils.hydra import apply_overrides

from streamguard.io.run_info import write_run_info

MARKER = "data/params.ok"


def _stage_deps() -> dict[str, list[str]]:
    """Each stage of the project's dvc.yaml (matrix expanded by DVC) and the paths it depends on."""
    with Repo(str(REPO)) as repo:
        return {
            stage.addressing: [Path(d.def_path).as_posix() for d in stage.deps]
            for stage in repo.index.stages
            if getattr(stage, "cmd", None)
        }


def test_every_stage_depends_on_the_params_check():
    stages = _stage_deps()
    assert "validate_params" in stages
    missing = [name for name, deps in stages.items() if name != "validate_params" and MARKER not in deps]
    assert not missing, f"stages that could run before params.yaml is checked: {missing}"


def test_lock_holds_only_stages_dvc_yaml_defines():
    locked = set(yaml.safe_load((REPO / "dvc.lock").read_text())["stages"])
    stale = sorted(locked - set(_stage_deps()))
    assert not stale, f"dvc.lock entries of stages dvc.yaml no longer has: {stale}"


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_set_param_changes_exactly_one_line_of_params_yaml(tmp_path):
    """`dvc exp run -S` rewrites params.yaml through dvc.utils.hydra.apply_overrides."""
    original = (REPO / "params.yaml").read_text()
    params = tmp_path / "params.yaml"
    params.write_text(original)
    apply_overrides(str(params), ["seed=42"])  # an unchanged value: DVC's own form is a fixed point
    assert _changed_lines(original, params.read_text()) == [], "params.yaml is not in the form DVC writes"
    apply_overrides(str(params), ["fusion.stacker=gbm"])
    changed = _changed_lines(original, params.read_text())
    assert len(changed) == 2 and changed[0].strip().startswith("-  stacker: logreg"), changed
    assert changed[1].strip().startswith("+  stacker: gbm"), changed


def test_run_info_does_not_change_between_runs_but_timing_does(tmp_path):
    for run, wall in (("one", 1.5), ("two", 99.0)):
        write_run_info(
            tmp_path / run, seed=1, params={"epochs": 2}, data_sha256={"a": "b"}, device="cpu", wall_time_s=wall
        )
    assert (tmp_path / "one" / "run_info.json").read_bytes() == (tmp_path / "two" / "run_info.json").read_bytes()
    assert (tmp_path / "one" / "timing.json").read_text() != (tmp_path / "two" / "timing.json").read_text()


def _dvc_repo(root: Path, stages: dict) -> Path:
    """A git + DVC repo with the project's params.yaml, .dvcignore, validate_params stage and its code deps."""
    project = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for rel in ("params.yaml", ".dvcignore", *project["validate_params"]["deps"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    (root / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"validate_params": project["validate_params"], **stages}})
    )
    (root / ".gitignore").write_text("/data\n/models\n")
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "dvc", "init", "-q")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "init")
    return root


# stand-ins for the project's download and fusion stages: cheap, but gated like them
STAND_INS = {
    "download": {"cmd": "mkdir -p data/raw && echo raw > data/raw/records.txt", "deps": [MARKER], "outs": ["data/raw"]},
    "fusion": {
        "cmd": "mkdir -p models/fusion && echo fused > models/fusion/fusion.txt",
        "deps": [MARKER, "data/raw"],
        "params": ["fusion.stacker"],
        "outs": ["models/fusion"],
    },
}


@pytest.mark.slow
@pytest.mark.integration
def test_bad_set_param_fails_before_any_output_is_removed(tmp_path):
    repo = _dvc_repo(tmp_path, STAND_INS)
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "repro")

    bad = sh(repo, "dvc", "exp", "run", "-S", "fusion.stacker=gmb", check=False)
    assert bad.returncode != 0, bad.stdout
    assert "fusion.stacker" in bad.stdout + bad.stderr and "gmb" in bad.stdout + bad.stderr
    assert (repo / "models" / "fusion" / "fusion.txt").read_text() == "fused\n"
    assert "Running stage 'fusion'" not in bad.stdout

    # whatever the target: download alone reads no transformer key, and still stops
    sh(repo, "git", "checkout", "-q", "params.yaml")
    bad = sh(repo, "dvc", "exp", "run", "-S", "transformer.epochs=-3", "download", check=False)
    assert bad.returncode != 0, bad.stdout
    assert "transformer.epochs" in bad.stdout + bad.stderr
    assert (repo / "data" / "raw" / "records.txt").exists()

    sh(repo, "git", "checkout", "-q", "params.yaml")
    good = sh(repo, "dvc", "exp", "run", "-S", "fusion.stacker=gbm")
    ran = {line.split("'")[1] for line in good.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"validate_params", "fusion"}, good.stdout


@pytest.mark.slow
@pytest.mark.integration
def test_forced_rerun_of_a_training_stage_leaves_the_tree_clean(tmp_path):
    """A model folder's DVC hash ignores timing.json, so rerunning leaves dvc.lock as it was."""
    write = (
        'python -c "import time; from pathlib import Path; from streamguard.io.run_info import write_run_info; '
        "write_run_info(Path('models/m'), seed=1, params={}, data_sha256={}, device='cpu', wall_time_s=time.time())\""
    )
    repo = _dvc_repo(tmp_path, {"train": {"cmd": write, "deps": [MARKER], "outs": ["models/m"]}})
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "repro")
    first = (repo / "models" / "m" / "timing.json").read_text()
    sh(repo, "dvc", "repro", "-f")
    assert (repo / "models" / "m" / "timing.json").read_text() != first  # it did run again
    assert sh(repo, "git", "status", "--porcelain").stdout == ""


@pytest.mark.slow
@pytest.mark.integration
def test_a_skipped_source_is_reported_once_without_dvc_empty_file_warnings(tmp_path):
    collect = {
        "cmd": "streamguard collect osv --out data/collected",  # no packages and no export: skipped
        "deps": [MARKER],
        "outs": ["data/collected/osv.jsonl", "data/collected/osv.report.json"],
    }
    repo = _dvc_repo(tmp_path, {"collect_osv": collect})
    run = sh(repo, "dvc", "repro")
    said = run.stdout + run.stderr
    assert said.count("collect osv: skipped") == 1, said
    assert "is empty" not in said, said
