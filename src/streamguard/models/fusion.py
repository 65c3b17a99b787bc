"""The `fusion` stage: a stacker over base models' probabilities.

Fitted on out-of-fold probabilities of the training split only; its decision
threshold is chosen on valid only; test is not read here beyond applying the
fitted stacker (evaluate scores it). Features are the logits of each base
model's P(vulnerable), in `fusion.json`'s model order.

The stacker is saved without pickling: logistic regression as coefficients,
gradient boosting as the OOF matrix it was fitted on (it refits
deterministically in well under a second when loaded).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from streamguard.errors import StreamGuardError
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.params import FusionParams, Params
from streamguard.progress import console
from streamguard.training.stages import read_predictions, write_predictions


def to_logit(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def load_oof_matrix(oof_dir: Path, models: list[str], folds: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, targets and an [n, models] probability matrix from every model's OOF folds."""
    per_model: dict[str, dict[str, tuple[int, float]]] = {}
    for model in models:
        rows: dict[str, tuple[int, float]] = {}
        for fold in range(folds):
            for row in read_predictions(oof_dir / model / f"fold_{fold}" / "predictions.jsonl"):
                rows[row["id"]] = (row["target"], row["prob"])
        per_model[model] = rows
    ids = sorted(per_model[models[0]])
    for model in models[1:]:
        if set(per_model[model]) != set(ids):
            raise StreamGuardError(f"fusion: OOF predictions of {model} and {models[0]} cover different functions; "
                                   "rerun the oof stages (`dvc repro`)")
    y = np.array([per_model[models[0]][i][0] for i in ids])
    X = np.column_stack([[per_model[m][i][1] for i in ids] for m in models])
    return ids, y, X


def load_split_matrix(models_dir: Path, models: list[str], split: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The full-train models' probabilities for one split, aligned by id."""
    tables = {}
    for model in models:
        rows = read_predictions(models_dir / model / "predictions.jsonl")
        tables[model] = {r["id"]: (r["target"], r["prob"]) for r in rows if r["split"] == split}
    ids = sorted(tables[models[0]])
    for model in models[1:]:
        if set(tables[model]) != set(ids):
            raise StreamGuardError(f"fusion: {split} predictions of {model} and {models[0]} cover different functions")
    y = np.array([tables[models[0]][i][0] for i in ids])
    X = np.column_stack([[tables[m][i][1] for i in ids] for m in models])
    return ids, y, X


class Stacker:
    def __init__(self, params: FusionParams, seed: int) -> None:
        self.params = params
        if params.stacker == "logreg":
            self.estimator = LogisticRegression(C=params.C, max_iter=1000)
        else:
            self.estimator = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                                            random_state=seed)

    def fit(self, probs: np.ndarray, y: np.ndarray) -> "Stacker":
        self.estimator.fit(to_logit(probs), y)
        return self

    def predict_proba(self, probs: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(to_logit(probs))[:, 1]


def fit_fusion(params: Params, oof_dir: Path, models_dir: Path) -> dict:
    models = list(params.oof.models)
    oof_ids, y_oof, X_oof = load_oof_matrix(oof_dir, models, params.oof.folds)
    stacker = Stacker(params.fusion, params.seed).fit(X_oof, y_oof)
    valid_ids, y_valid, X_valid = load_split_matrix(models_dir, models, "valid")
    threshold = choose_threshold(y_valid, stacker.predict_proba(X_valid), params.fusion.threshold_rule)
    test_ids, y_test, X_test = load_split_matrix(models_dir, models, "test")
    return {"stacker": stacker, "models": models, "threshold": threshold, "oof": (oof_ids, y_oof, X_oof),
            "valid": (valid_ids, y_valid, X_valid), "test": (test_ids, y_test, X_test)}


def run_fusion(params: Params, oof_dir: Path, models_dir: Path, out_dir: Path) -> dict:
    fitted = fit_fusion(params, oof_dir, models_dir)
    stacker: Stacker = fitted["stacker"]
    rows = []
    for split in ("valid", "test"):
        ids, y, X = fitted[split]
        probs = stacker.predict_proba(X)
        rows += [{"id": i, "split": split, "target": int(t), "prob": float(p)} for i, t, p in zip(ids, y, probs)]
    write_predictions(out_dir / "predictions.jsonl", rows)
    oof_ids, y_oof, X_oof = fitted["oof"]
    np.savez(out_dir / "oof_matrix.npz", X=X_oof, y=y_oof)
    summary = {
        "models": fitted["models"],
        "stacker": params.fusion.stacker,
        "threshold": fitted["threshold"],
        "threshold_rule": params.fusion.threshold_rule,
        "fitted_on": "out-of-fold probabilities of the training split",
        "oof_functions": len(oof_ids),
        "seed": params.seed,
        "params": params.section("fusion"),
    }
    if params.fusion.stacker == "logreg":
        summary["coefficients"] = dict(zip(fitted["models"], stacker.estimator.coef_[0].tolist()))
        summary["intercept"] = float(stacker.estimator.intercept_[0])
    (out_dir / "fusion.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"fusion ({params.fusion.stacker}) on {len(oof_ids)} OOF functions; threshold "
                  f"{fitted['threshold']:.3f} ({params.fusion.threshold_rule} on valid)")
    return summary


def load_stacker(out_dir: Path) -> tuple[Stacker, dict]:
    """The fitted stacker from models/fusion (for `streamguard predict`)."""
    summary = json.loads((out_dir / "fusion.json").read_text())
    stacker = Stacker(FusionParams(**summary["params"]), summary["seed"])
    if summary["stacker"] == "logreg":
        est = stacker.estimator
        est.coef_ = np.array([[summary["coefficients"][m] for m in summary["models"]]])
        est.intercept_ = np.array([summary["intercept"]])
        est.classes_ = np.array([0, 1])
    else:
        data = np.load(out_dir / "oof_matrix.npz", allow_pickle=False)
        stacker.fit(data["X"], data["y"])
    return stacker, summary
