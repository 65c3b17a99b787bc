"""Out-of-fold predictions never come from a model that saw the function; fusion never reads test labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from streamguard.data.preprocess import preprocess_records
from streamguard.data.records import Record, write_records
from streamguard.models.fusion import load_stacker, run_fusion
from streamguard.params import params_from_dict
from streamguard.training.stages import read_predictions, run_oof_fold, run_train

PARAMS = {"oof": {"models": ["lexical"], "folds": 3}, "lexical": {"max_features": 3000}, "data": {"limit": 500}}


def _write_processed(tmp_path: Path, sample_records, params, flip_test=False) -> Path:
    records, _ = preprocess_records([Record(**r.to_dict()) for r in sample_records], params)
    out = tmp_path / "processed"
    for split in ("train", "valid", "test"):
        recs = [r for r in records if r.split == split]
        if flip_test and split == "test":
            recs = [Record(**{**r.to_dict(), "target": 1 - r.target}) for r in recs]
        write_records(out / f"{split}.jsonl", recs)
    return out


def _pipeline(tmp_path: Path, sample_records, flip_test=False) -> Path:
    params = params_from_dict(PARAMS)
    processed = _write_processed(tmp_path, sample_records, params, flip_test)
    run_train("lexical", params, processed, tmp_path / "graphs", tmp_path / "models" / "lexical")
    for fold in range(3):
        run_oof_fold("lexical", fold, params, processed, tmp_path / "graphs", tmp_path / "oof")
    run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion")
    return tmp_path


def test_oof_probabilities_come_from_models_that_never_saw_the_function(tmp_path, sample_records, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _pipeline(tmp_path, sample_records)
    train_ids = {json.loads(l)["id"] for l in (root / "processed" / "train.jsonl").read_text().splitlines()}
    predicted: set[str] = set()
    for fold in range(3):
        info = json.loads((root / "oof" / "lexical" / f"fold_{fold}" / "fold.json").read_text())
        held_out, seen = set(info["held_out_ids"]), set(info["trained_on_ids"])
        assert not held_out & seen
        rows = read_predictions(root / "oof" / "lexical" / f"fold_{fold}" / "predictions.jsonl")
        ids = {r["id"] for r in rows}
        assert ids == held_out and all(r["fold"] == fold for r in rows)
        assert not ids & predicted  # each function predicted exactly once
        predicted |= ids
    assert predicted == train_ids


def test_changing_test_labels_changes_nothing_before_evaluate(tmp_path, sample_records, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = _pipeline(tmp_path / "a", sample_records)
    b = _pipeline(tmp_path / "b", sample_records, flip_test=True)
    fa = json.loads((a / "models" / "fusion" / "fusion.json").read_text())
    fb = json.loads((b / "models" / "fusion" / "fusion.json").read_text())
    assert fa == fb  # threshold and stacker identical
    pa = read_predictions(a / "models" / "fusion" / "predictions.jsonl")
    pb = read_predictions(b / "models" / "fusion" / "predictions.jsonl")
    assert [r["prob"] for r in pa] == [r["prob"] for r in pb]
    assert [r["target"] for r in pa if r["split"] == "test"] != [r["target"] for r in pb if r["split"] == "test"]
    assert (a / "models/lexical/weights.npz").read_bytes() == (b / "models/lexical/weights.npz").read_bytes()


def test_saved_stacker_reproduces_fusion_probabilities(tmp_path, sample_records, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _pipeline(tmp_path, sample_records)
    stacker, summary = load_stacker(root / "models" / "fusion")
    base = {r["id"]: r["prob"] for r in read_predictions(root / "models/lexical/predictions.jsonl")
            if r["split"] == "test"}
    fused = [r for r in read_predictions(root / "models/fusion/predictions.jsonl") if r["split"] == "test"]
    again = stacker.predict_proba(np.array([[base[r["id"]]] for r in fused]))
    assert np.allclose(again, [r["prob"] for r in fused])
    assert summary["threshold_rule"] == "max_accuracy"


def test_seed_ensemble_writes_runs_and_paired_seed_tests(tmp_path, sample_records, monkeypatch):
    from streamguard.evaluation.report import run_evaluate

    monkeypatch.chdir(tmp_path)
    params = params_from_dict({**PARAMS, "n_runs": 2, "evaluate": {"bootstrap_resamples": 50}})
    processed = _write_processed(tmp_path, sample_records, params)
    run_train("lexical", params, processed, tmp_path / "graphs", tmp_path / "models" / "lexical")
    assert (tmp_path / "models/lexical/run_1/weights.npz").exists()
    for fold in range(3):
        run_oof_fold("lexical", fold, params, processed, tmp_path / "graphs", tmp_path / "oof")
    oof_rows = read_predictions(tmp_path / "oof/lexical/fold_0/predictions.jsonl")
    assert all(len(r["prob_runs"]) == 2 and np.isclose(np.mean(r["prob_runs"]), r["prob"]) for r in oof_rows)
    summary = run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion")
    assert len(summary["thresholds_runs"]) == 2
    result = run_evaluate(params, tmp_path / "models", tmp_path / "metrics")
    comparison = result["comparisons"]["fusion_vs_lexical"]
    assert comparison["n_runs"] == 2 and 0.0 <= comparison["accuracy_ttest_p"] <= 1.0


def test_fusion_with_per_function_features_round_trips(tmp_path, sample_records, monkeypatch):
    from streamguard.models.fusion import function_features

    monkeypatch.chdir(tmp_path)
    feats = ["length", "nesting", "dangerous_calls"]
    assert function_features("int f() { if (a) { memcpy(d, s, n); } }", feats)[1] == 0.3  # { { ( depth 3
    params = params_from_dict({**PARAMS, "fusion": {"features": feats, "stacker": "gbm"}})
    processed = _write_processed(tmp_path, sample_records, params)
    run_train("lexical", params, processed, tmp_path / "graphs", tmp_path / "models" / "lexical")
    for fold in range(3):
        run_oof_fold("lexical", fold, params, processed, tmp_path / "graphs", tmp_path / "oof")
    summary = run_fusion(params, tmp_path / "oof", tmp_path / "models", tmp_path / "models" / "fusion", processed)
    assert summary["features"] == feats
    stacker, _ = load_stacker(tmp_path / "models" / "fusion")
    from streamguard.data.records import read_split

    test = {r.id: r for r in read_split(processed, "test")}
    base = {r["id"]: r["prob"] for r in read_predictions(tmp_path / "models/lexical/predictions.jsonl")
            if r["split"] == "test"}
    fused = [r for r in read_predictions(tmp_path / "models/fusion/predictions.jsonl") if r["split"] == "test"]
    F = np.array([function_features(test[r["id"]].func, feats) for r in fused])
    again = stacker.predict_proba(np.array([[base[r["id"]]] for r in fused]), F)
    assert np.allclose(again, [r["prob"] for r in fused])
