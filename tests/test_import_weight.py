"""Stages that never train a neural model must not import torch, transformers or PyG.

Each DVC stage is a fresh process, so what a stage imports it pays for on every run: torch,
transformers and torch_geometric together cost seconds of start-up per stage on 2 cores, and the
lexical branch alone runs six stages (benchmarks/results/pipeline-profile.md). sklearn is only
for stages that fit or split.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "torch_geometric", "sklearn")

# the module each CLI handler imports (streamguard/cli.py), and what it may pull in
LIGHT_STAGES = {
    "check-params (validate_params, before every run)": ("streamguard.params", ()),
    "download": ("streamguard.data.download", ()),
    "collect": ("streamguard.data.collectors", ()),
    "preprocess": ("streamguard.data.preprocess", ()),
    "pretrain (skipped, transformer.init: scratch)": ("streamguard.training.pretrain", ()),
    "train/oof lexical": ("streamguard.training.stages", ("sklearn",)),
    "fusion": ("streamguard.training.fusion_stage", ("sklearn",)),
    "evaluate": ("streamguard.evaluation.report", ("sklearn",)),
}


def imported_heavy(module: str, extra: str = "") -> list[str]:
    code = f"import sys, json, {module}\n{extra}\nprint(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
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
    heavy = imported_heavy("streamguard.training.stages", extra)
    assert "torch" not in heavy and "transformers" not in heavy, heavy
