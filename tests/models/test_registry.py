"""The model registry is the one list of model names; models build from their own configs, not params."""

from __future__ import annotations

import ast
import dataclasses
import json

import numpy as np
from conftest import REPO

from streamguard.cli import build_parser
from streamguard.cloud.nodes import DISTRIBUTED_STAGES
from streamguard.models import branches
from streamguard.models import transformer as tf
from streamguard.models.gnn import GNNConfig
from streamguard.models.lexical import LexicalConfig, LexicalModel
from streamguard.models.registry import (
    BASE_MODELS,
    COMPARISON_PAIRS,
    DEEP_MODELS,
    EVALUATED_MODELS,
    MODELS,
    NEURAL_MODELS,
    TEXT_MODELS,
)
from streamguard.models.text_models import TEXT_MODEL_CLASSES
from streamguard.params import OOFParams, Params
from streamguard.training import branches as training_branches

MODELS_DIR = REPO / "src" / "streamguard" / "models"


def test_one_list_of_model_names():
    assert tuple(branches.BRANCH_CLASSES) == BASE_MODELS  # what predict and scan load
    assert tuple(training_branches.BRANCH_CLASSES) == BASE_MODELS  # what train and oof fit
    assert tuple(TEXT_MODEL_CLASSES) == TEXT_MODELS
    assert OOFParams().models == list(BASE_MODELS)
    for command in ("train", "oof"):
        sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        (model,) = [a for a in sub._actions if a.dest == "model"]
        assert tuple(model.choices) == BASE_MODELS
    # the models the torch loop trains are the ones whose stages may run under torchrun
    assert set(DISTRIBUTED_STAGES.values()) == {*NEURAL_MODELS, "pretrain"}
    assert all(MODELS[name].neural for name in NEURAL_MODELS) and not MODELS["lexical"].neural


def test_evaluation_order_is_the_report_order():
    """comparisons.json and metrics/test/ follow these orders; a registry change must not reorder them."""
    assert EVALUATED_MODELS == ("lexical", "transformer", "gnn", "fusion")
    assert DEEP_MODELS == ("transformer", "gnn", "fusion")
    assert COMPARISON_PAIRS == (
        ("fusion", "lexical"),
        ("fusion", "transformer"),
        ("fusion", "gnn"),
        ("transformer", "lexical"),
        ("gnn", "lexical"),
    )


def test_models_build_from_their_own_config_not_params():
    for name in ("lexical.py", "transformer.py", "gnn.py", "mlm.py"):
        tree = ast.parse((MODELS_DIR / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "streamguard.params" not in imported, f"models/{name} reads params; give it a model-only config"
    params = Params()
    # architecture fields only: what a section holds for its training loop stays out
    assert {f.name for f in dataclasses.fields(GNNConfig)} == {"hidden_size", "num_layers", "dropout"}
    assert GNNConfig.of(params.gnn) == GNNConfig(params.gnn.hidden_size, params.gnn.num_layers, params.gnn.dropout)
    # the pretrain stage's MLM and the classifier share one config
    assert tf.TransformerConfig.of(params.pretrain).max_length == params.pretrain.max_length


def test_a_lexical_model_folder_keeps_its_config_file(tmp_path):
    """config.json holds the params section's values in its key order, as models/lexical has always held."""
    section = Params().lexical
    texts = ["int f(void) { return strcpy(a, b); }", "int g(void) { return 0; }"] * 4
    model = LexicalModel(LexicalConfig.of(section)).fit(texts, [1, 0] * 4, np.ones(8))
    model.save(tmp_path)
    assert (tmp_path / "config.json").read_text() == json.dumps(dataclasses.asdict(section), indent=2)
    loaded = LexicalModel.load(tmp_path)
    assert loaded.config == model.config
    assert np.allclose(loaded.predict_proba(texts), model.predict_proba(texts))
