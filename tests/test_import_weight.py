"""Stages that never train a neural model must not import torch, transformers or PyG.

Each DVC stage is a fresh process, so what a stage imports it pays for on every run: torch,
transformers and torch_geometric together cost seconds of start-up per stage on 2 cores, and the
lexical branch alone runs six stages (benchmarks/results/pipeline-profile.md). sklearn is only
for stages that fit or split. `scan` and `predict` import the libraries of the models they load
and nothing else (benchmarks/results/startup.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamguard.models.detector_card import SHIPPED_DIR

HEAVY = ("torch", "transformers", "torch_geometric", "sklearn")

# the module each command runs (cli.STAGE_COMMANDS, streamguard/stages/), and what it may pull in
LIGHT_STAGES = {
    "check-params (validate_params, before every run)": ("streamguard.stages.check_params", ()),
    "download": ("streamguard.stages.download", ()),
    "collect": ("streamguard.stages.collect", ()),
    "preprocess": ("streamguard.stages.preprocess", ()),
    "folds": ("streamguard.stages.folds", ()),
    "pretrain (skipped, transformer.init: scratch)": ("streamguard.stages.pretrain", ()),
    "train lexical": ("streamguard.stages.train", ("sklearn",)),
    "oof lexical": ("streamguard.stages.oof", ("sklearn",)),
    "fusion": ("streamguard.stages.fusion", ("sklearn",)),
    "evaluate": ("streamguard.stages.evaluate", ("sklearn",)),
    "summary": ("streamguard.evaluation.summary", ()),
    "compare": ("streamguard.evaluation.compare", ()),
    "argument parsing (every command)": ("streamguard.cli", ()),
    "scan (before its models load)": ("streamguard.scan.run", ()),
    "predict (before its models load)": ("streamguard.predict", ()),
}


def imported_heavy(module: str, extra: str = "", names: tuple[str, ...] = HEAVY) -> list[str]:
    code = f"import sys, json, {module}\n{extra}\nprint(json.dumps([m for m in {list(names)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("stage", sorted(LIGHT_STAGES))
def test_stages_without_a_neural_model_do_not_import_torch(stage):
    module, allowed = LIGHT_STAGES[stage]
    heavy = [m for m in imported_heavy(module) if m not in allowed]
    assert not heavy, f"{stage} ({module}) imports {heavy} at start-up; import them where they are used"


def test_the_lexical_branch_is_built_without_torch():
    # make_branch + LexicalModel: what `streamguard train lexical` runs before fitting
    extra = (
        "from streamguard.training.branches import make_branch\n"
        "from streamguard.params import load_params\n"
        "import streamguard.models.lexical\n"
    )
    heavy = imported_heavy("streamguard.stages.train", extra)
    assert "torch" not in heavy and "transformers" not in heavy, heavy


@pytest.mark.slow
@pytest.mark.integration
def test_a_scan_with_models_that_need_no_torch_never_imports_it(tmp_path, trained):
    # the shared scan models are lexical + a logreg fusion: scoring them needs sklearn, never torch
    # nor the gradient-boosting stacker's sklearn.ensemble
    source = tmp_path / "tree" / "high.c"
    source.parent.mkdir()
    source.write_text(trained["high"][0] + "\n")
    report = tmp_path / "report.json"
    argv = ["--params", str(trained["params"]), "scan", str(source.parent), "--models", str(trained["models"])]
    argv += ["--format", "json", "-o", str(report), "--workers", "2"]
    extra = f"from streamguard.cli import main\nassert main({argv!r}) == 0"
    heavy = imported_heavy("streamguard.cli", extra, (*HEAVY, "sklearn.ensemble"))
    assert json.loads(report.read_text())["scan"]["functions_scored"] == 1, "the scan must have scored the function"
    assert heavy == ["sklearn"], (
        f"a scan of lexical + fusion models imports {heavy}; import each library where its model needs it"
    )


@pytest.mark.skipif(not (SHIPPED_DIR / "card.json").is_file(), reason="no shipped detector in this checkout")
def test_a_scan_with_the_shipped_detector_imports_no_scikit_learn(tmp_path):
    # its models are saved weights scored with NumPy: scikit-learn (SciPy's statistics, pandas) is
    # most of a small scan's start-up
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "copy.c").write_text("int copy(char *d, const char *s) {\n  strcpy(d, s);\n  return 0;\n}\n")
    report = tmp_path / "report.json"
    argv = ["scan", str(tree), "--models", str(SHIPPED_DIR), "--format", "json", "-o", str(report)]
    argv += ["--min-probability", "0"]
    extra = f"from streamguard.cli import main\nassert main({argv!r}) == 0"
    heavy = imported_heavy("streamguard.cli", extra, (*HEAVY, "scipy.stats", "pandas"))
    assert json.loads(report.read_text())["scan"]["functions_scored"] == 1, "the scan must have scored the function"
    assert heavy == [], f"a scan with the shipped detector imports {heavy}; score saved weights with NumPy"


@pytest.mark.parametrize("model", ["transformer", "gnn"])
def test_a_fold_stage_with_no_fold_model_to_train_imports_no_torch(tmp_path, model):
    # fusion.fit_on: valid (the default) leaves the oof stages a marker to write
    params = tmp_path / "params.yaml"
    params.write_text("fusion:\n  fit_on: valid\n")
    out = tmp_path / "oof"
    argv = ["--params", str(params), "oof", model, "--out", str(out), "--checkpoints", str(tmp_path / "ckpt")]
    extra = f"from streamguard.cli import main\nassert main({argv!r}) == 0"
    heavy = imported_heavy("streamguard.cli", extra)
    assert json.loads((out / model / "skipped.json").read_text())["status"] == "skipped"
    assert heavy == [], f"a skipped {model} fold stage imports {heavy}"
