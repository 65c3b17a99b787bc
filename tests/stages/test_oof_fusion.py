"""Out-of-fold predictions never come from a model that saw the function; fusion never reads test labels;
`streamguard predict` scores as the pipeline does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    LEXICAL_PIPELINE_PARAMS,
    TINY_NEURAL_PARAMS,
    run_oof_stage,
    train_lexical,
    train_lexical_pipeline,
    write_processed_sample,
)

from streamguard.data.records import read_split
from streamguard.data.split import assign_folds
from streamguard.errors import StreamGuardError
from streamguard.io.predictions import OOF_SPLITS, read_predictions
from streamguard.models.fusion import load_stacker, to_logit
from streamguard.models.registry import BASE_MODELS
from streamguard.params import params_from_dict
from streamguard.stages.fusion import run_fusion
from streamguard.stages.oof import fold_params
from streamguard.training import branches


def _test_split(path: Path, name: str):
    return read_predictions(path, name).splits["test"]


@pytest.mark.slow
def test_oof_probabilities_come_from_models_that_never_saw_the_function(tmp_path, sample_records, monkeypatch):
    """What each branch's `fit` actually received, captured at the call, against the fold it predicted."""
    from streamguard.stages.graphs import run_graphs_stage

    folds = 2
    params = params_from_dict(
        {
            **LEXICAL_PIPELINE_PARAMS,
            **TINY_NEURAL_PARAMS,
            "data": {"limit": 240},
            "oof": {"models": list(BASE_MODELS), "folds": folds},
        }
    )
    processed = write_processed_sample(tmp_path, sample_records, params)
    run_graphs_stage(processed, tmp_path / "graphs", params)
    fitted_on: dict[str, list[tuple[list[str], list[str]]]] = {}
    for cls in (branches.LexicalBranch, branches.TransformerBranch, branches.GNNBranch):

        def spy(self, train_items, valid_items, *args, _fit=cls.fit, **kwargs):
            fitted_on.setdefault(self.name, []).append(
                ([branches.item_id(i) for i in train_items], [branches.item_id(i) for i in valid_items])
            )
            return _fit(self, train_items, valid_items, *args, **kwargs)

        monkeypatch.setattr(cls, "fit", spy)

    # the folds as the split module assigns them, independent of how the stage slices its items
    fold_of = assign_folds(read_split(processed, "train"), folds, params.seed)
    valid_ids = {r.id for r in read_split(processed, "valid")}
    for model in BASE_MODELS:
        items = {
            branches.item_id(i)
            for i in branches.make_branch(model, params, processed, tmp_path / "graphs").load_items("train")
        }
        predicted: set[str] = set()
        run_oof_stage(model, None, params, processed, tmp_path)  # the stage: every fold, in order
        assert len(fitted_on[model]) == folds
        for fold in range(folds):
            trained, validated = fitted_on[model][fold]
            path = tmp_path / "oof" / model / f"fold_{fold}" / "predictions.jsonl"
            ids = set(read_predictions(path, model, splits=OOF_SPLITS).splits["train"].ids)
            assert ids == {i for i in items if fold_of[i] == fold}, f"{model} fold {fold} predicted other functions"
            assert not set(trained) & ids, f"{model} fold {fold}: the model was fit on functions it then predicted"
            assert set(trained) == items - ids and set(validated) <= valid_ids
            predicted |= ids
        assert predicted == items


def test_changing_test_labels_changes_nothing_before_evaluate(tmp_path, sample_records, lexical_pipeline):
    a = lexical_pipeline  # the same records and params, the test labels as written
    b = train_lexical_pipeline(tmp_path / "b", sample_records, flip_test=True)
    fa = json.loads((a / "models" / "fusion" / "fusion.json").read_text())
    fb = json.loads((b / "models" / "fusion" / "fusion.json").read_text())
    assert fa == fb  # threshold and stacker identical
    pa = read_predictions(a / "models" / "fusion" / "predictions.jsonl", "fusion")
    pb = read_predictions(b / "models" / "fusion" / "predictions.jsonl", "fusion")
    for split in ("valid", "test"):
        assert np.array_equal(pa.splits[split].prob, pb.splits[split].prob)
    assert not np.array_equal(pa.splits["test"].target, pb.splits["test"].target)
    assert (a / "models/lexical/weights.npz").read_bytes() == (b / "models/lexical/weights.npz").read_bytes()


def test_saved_stacker_reproduces_fusion_probabilities(lexical_pipeline):
    root = lexical_pipeline
    stacker, summary = load_stacker(root / "models" / "fusion")
    base = _test_split(root / "models/lexical/predictions.jsonl", "lexical")
    fused = _test_split(root / "models/fusion/predictions.jsonl", "fusion")
    assert base.ids == fused.ids
    again = stacker.predict_proba(base.prob[:, None])
    assert np.allclose(again, fused.prob)
    assert summary["threshold_rule"] == "max_accuracy"


def test_predict_decides_at_the_fusion_threshold_and_agrees_with_the_pipeline(tmp_path, lexical_pipeline):
    from streamguard.predict import run_predict

    root = lexical_pipeline
    params = params_from_dict(LEXICAL_PIPELINE_PARAMS)
    test_records = read_split(root / "processed", "test")
    rows = run_predict(
        [root / "processed" / "test.jsonl"], root / "models", tmp_path / "scored.jsonl", root / "graphs", params
    )
    assert [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()] == rows
    threshold = json.loads((root / "models" / "fusion" / "fusion.json").read_text())["threshold"]
    fused = _test_split(root / "models/fusion/predictions.jsonl", "fusion")
    pipeline_prob = dict(zip(fused.ids, fused.prob))
    assert len(rows) == len(test_records) == len(fused)
    for row, record in zip(rows, test_records):
        assert row["threshold"] == threshold
        assert row["predicted"] == int(row["fused_probability"] >= threshold)
        # the same function scored by predict and by the pipeline's own test predictions
        assert row["fused_probability"] == pytest.approx(pipeline_prob[record.id], abs=1e-6)
    assert {row["predicted"] for row in rows} == {0, 1}  # the threshold splits this test set: the check has teeth


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"threshold": 0.4',
        "[1, 2]",
        '{"threshold": "high"}',
        '{"threshold": 0.4, "models": ["lexical"], "stacker": "logreg"}',
    ],
)
def test_corrupt_fusion_json_is_an_error_naming_the_file(tmp_path, lexical_pipeline, content):
    fusion_dir = tmp_path / "fusion"
    shutil.copytree(lexical_pipeline / "models" / "fusion", fusion_dir)
    load_stacker(fusion_dir)  # the intact copy loads
    path = fusion_dir / "fusion.json"
    path.write_text(content)
    with pytest.raises(StreamGuardError, match=f"{path}: .*re-run the fusion stage"):
        load_stacker(fusion_dir)


@pytest.mark.slow
def test_seed_ensemble_writes_runs_and_paired_seed_tests(tmp_path, sample_records, monkeypatch):
    from streamguard.stages.evaluate import run_evaluate

    params = params_from_dict({**LEXICAL_PIPELINE_PARAMS, "n_runs": 2, "evaluate": {"bootstrap_resamples": 50}})
    processed = write_processed_sample(tmp_path, sample_records, params)
    train_lexical(params, processed, tmp_path)
    assert (tmp_path / "models/lexical/run_1/weights.npz").exists()
    run_oof_stage("lexical", None, params, processed, tmp_path)
    oof = read_predictions(tmp_path / "oof/lexical/fold_0/predictions.jsonl", "lexical", OOF_SPLITS).splits["train"]
    assert oof.prob_runs is not None and oof.prob_runs.shape == (2, len(oof))
    assert np.allclose(oof.prob_runs.mean(axis=0), oof.prob)
    summary = run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion", processed)
    assert len(summary["thresholds_runs"]) == 2
    result = run_evaluate(params, tmp_path / "models", tmp_path / "metrics")
    comparison = result["comparisons"]["fusion_vs_lexical"]
    assert comparison["n_runs"] == 2 and 0.0 <= comparison["accuracy_ttest_p"] <= 1.0


@pytest.mark.slow
def test_fusion_with_per_function_features_round_trips(tmp_path, lexical_pipeline):
    from streamguard.models.fusion import function_features

    feats = ["length", "nesting", "dangerous_calls"]
    assert function_features("int f() { if (a) { memcpy(d, s, n); } }", feats)[1] == 0.3  # { { ( depth 3
    params = params_from_dict(
        {**LEXICAL_PIPELINE_PARAMS, "fusion": {"fit_on": "oof", "features": feats, "stacker": "gbm"}}
    )
    for part in ("processed", "models/lexical", "oof"):  # the lexical model and its folds read no fusion.* key
        shutil.copytree(lexical_pipeline / part, tmp_path / part)
    processed = tmp_path / "processed"
    summary = run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion", processed)
    assert summary["features"] == feats
    stacker, _ = load_stacker(tmp_path / "models" / "fusion")
    test = {r.id: r for r in read_split(processed, "test")}
    base = _test_split(tmp_path / "models/lexical/predictions.jsonl", "lexical")
    fused = _test_split(tmp_path / "models/fusion/predictions.jsonl", "fusion")
    assert base.ids == fused.ids
    F = np.array([function_features(test[i].func, feats) for i in fused.ids])
    again = stacker.predict_proba(base.prob[:, None], F)
    assert np.allclose(again, fused.prob)


def test_predict_with_a_corrupt_fusion_json_exits_2_naming_the_file(tmp_path, lexical_pipeline, capsys):
    import yaml

    from streamguard.cli import main

    models = tmp_path / "models"
    shutil.copytree(lexical_pipeline / "models", models)
    (models / "fusion" / "fusion.json").write_text('{"threshold": 0.4')  # cut short, as by a full disk
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(LEXICAL_PIPELINE_PARAMS))
    argv = [
        "--params",
        str(tmp_path / "params.yaml"),
        "predict",
        str(lexical_pipeline / "processed" / "test.jsonl"),
        "--models",
        str(models),
        "-o",
        str(tmp_path / "scored.jsonl"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{models / 'fusion' / 'fusion.json'}: not valid JSON" in err and "Traceback" not in err
    assert not (tmp_path / "scored.jsonl").exists()


def test_fusion_fitted_on_valid_skips_the_folds_and_cross_fits_its_threshold(tmp_path, sample_records, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from streamguard.evaluation.thresholds import choose_threshold
    from streamguard.stages.evaluate import run_evaluate

    oof_params = params_from_dict(LEXICAL_PIPELINE_PARAMS)
    params = params_from_dict(
        {**LEXICAL_PIPELINE_PARAMS, "fusion": {"fit_on": "valid"}, "evaluate": {"bootstrap_resamples": 50}}
    )
    processed = write_processed_sample(tmp_path, sample_records, params)
    train_lexical(params, processed, tmp_path)
    run_oof_stage("lexical", 0, oof_params, processed, tmp_path)
    stale = tmp_path / "oof/lexical/fold_0/predictions.jsonl"
    assert stale.exists()
    assert run_oof_stage("lexical", None, params, processed, tmp_path)["skipped"]
    status = json.loads((tmp_path / "oof/lexical/skipped.json").read_text())
    assert status["status"] == "skipped" and "fusion.fit_on" in status["why"]
    assert list((tmp_path / "oof/lexical").iterdir()) == [tmp_path / "oof/lexical/skipped.json"]
    assert not stale.exists()  # an earlier run's fold predictions are not left behind

    summary = run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion", processed)
    valid = read_predictions(tmp_path / "models/lexical/predictions.jsonl", "lexical").splits["valid"]
    fused = read_predictions(tmp_path / "models/fusion/predictions.jsonl", "fusion").splits
    assert summary["fit_on"] == "valid" and summary["fit_functions"] == len(valid) > 0
    # the written valid probabilities are cross-fitted, not the in-sample fit's ...
    in_sample = LogisticRegression(max_iter=1000).fit(to_logit(valid.prob)[:, None], valid.target)
    assert not np.allclose(fused["valid"].prob, in_sample.predict_proba(to_logit(valid.prob)[:, None])[:, 1])
    # ... and the threshold is the one those cross-fitted probabilities give
    assert summary["threshold"] == choose_threshold(fused["valid"].target, fused["valid"].prob, "max_accuracy")
    # test is scored by the stacker fitted on all of valid
    stacker, _ = load_stacker(tmp_path / "models" / "fusion")
    test = _test_split(tmp_path / "models/lexical/predictions.jsonl", "lexical")
    assert np.allclose(stacker.predict_proba(test.prob[:, None]), fused["test"].prob)
    assert np.allclose(
        stacker.predict_proba(valid.prob[:, None]), in_sample.predict_proba(to_logit(valid.prob)[:, None])[:, 1]
    )
    result = run_evaluate(params, tmp_path / "models", tmp_path / "metrics")
    assert 0.0 <= result["metrics"]["fusion"]["accuracy"] <= 1.0


def test_fusion_on_valid_with_too_few_of_a_class_names_the_key(tmp_path, sample_records, monkeypatch):
    params = params_from_dict({**LEXICAL_PIPELINE_PARAMS, "fusion": {"fit_on": "valid", "valid_folds": 500}})
    processed = write_processed_sample(tmp_path, sample_records, params)
    train_lexical(params, processed, tmp_path)
    with pytest.raises(StreamGuardError, match="lower fusion.valid_folds or use fusion.fit_on: oof"):
        run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion", processed)


def test_oof_epochs_shorten_only_the_fold_models_the_torch_loop_trains():
    params = params_from_dict({"oof": {"epochs": 1}, "transformer": {"epochs": 4}, "gnn": {"epochs": 3}})
    assert fold_params("transformer", params).transformer.epochs == 1
    assert fold_params("gnn", params).gnn.epochs == 1
    assert fold_params("gnn", params).transformer.epochs == 4  # only the fold's own model
    assert fold_params("lexical", params) is params
    unset = params_from_dict({"gnn": {"epochs": 3}})  # oof.epochs 0: the full model's epochs
    assert fold_params("gnn", unset).gnn.epochs == 3
