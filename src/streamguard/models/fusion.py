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
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from streamguard.data.records import SPLITS, read_split
from streamguard.data.trim import DANGEROUS_CALL
from streamguard.errors import StreamGuardError
from streamguard.evaluation.predictions import read_predictions as read_model_predictions
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.params import FusionParams, Params
from streamguard.progress import console
from streamguard.training.stages import read_predictions, write_predictions


def to_logit(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def load_oof_matrix(oof_dir: Path, models: list[str], folds: int) -> tuple[list[str], np.ndarray, np.ndarray, list[np.ndarray]]:
    """Ids, targets, the [n, models] mean-probability matrix, and one such matrix per seed run."""
    per_model: dict[str, dict[str, dict]] = {}
    for model in models:
        rows: dict[str, dict] = {}
        for fold in range(folds):
            path = oof_dir / model / f"fold_{fold}" / "predictions.jsonl"
            if not path.exists():
                raise StreamGuardError(f"fusion: {path} missing; oof.folds is {folds}, so dvc.yaml's oof_{model} "
                                       f"matrix must list folds 0..{folds - 1} (and `dvc repro` must have run them)")
            for row in read_predictions(path):
                rows[row["id"]] = row
        per_model[model] = rows
    ids = sorted(per_model[models[0]])
    for model in models[1:]:
        if set(per_model[model]) != set(ids):
            raise StreamGuardError(f"fusion: OOF predictions of {model} and {models[0]} cover different functions; "
                                   "rerun the oof stages (`dvc repro`)")
    y = np.array([per_model[models[0]][i]["target"] for i in ids])
    X = np.column_stack([[per_model[m][i]["prob"] for i in ids] for m in models])
    n_runs = len(per_model[models[0]][ids[0]].get("prob_runs", [0]))
    X_runs = [np.column_stack([[per_model[m][i]["prob_runs"][r] for i in ids] for m in models])
              for r in range(n_runs)] if n_runs > 1 else []
    return ids, y, X, X_runs


def load_split_matrix(models_dir: Path, models: list[str], split: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, list[np.ndarray]]:
    """The full-train models' probabilities for one split, aligned by id (plus per-run matrices)."""
    preds = [read_model_predictions(models_dir / m / "predictions.jsonl", m).splits[split] for m in models]
    ids = preds[0].ids
    for model, p in zip(models[1:], preds[1:]):
        if p.ids != ids:
            raise StreamGuardError(f"fusion: {split} predictions of {model} and {models[0]} cover different functions")
    X = np.column_stack([p.prob for p in preds])
    n_runs = preds[0].prob_runs.shape[0] if preds[0].prob_runs is not None else 1
    X_runs = [np.column_stack([p.prob_runs[r] for p in preds]) for r in range(n_runs)] if n_runs > 1 else []
    return ids, preds[0].target.astype(int), X, X_runs


FEATURES = ("length", "nesting", "dangerous_calls")


def function_features(func: str, names: list[str]) -> list[float]:
    """Cheap per-function stacker inputs, scaled to roughly unit range."""
    values = {}
    if "length" in names:
        values["length"] = math.log1p(len(func)) / 10
    if "nesting" in names:
        depth = deepest = 0
        for ch in func:
            if ch in "{(":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in "})":
                depth = max(0, depth - 1)
        values["nesting"] = deepest / 10
    if "dangerous_calls" in names:
        values["dangerous_calls"] = math.log1p(len(DANGEROUS_CALL.findall(func)))
    return [values[n] for n in names]


def feature_matrix(processed_dir: Path, ids: Sequence[str], names: list[str]) -> np.ndarray | None:
    if not names:
        return None
    funcs = {r.id: r.func for split in SPLITS for r in read_split(processed_dir, split)}
    return np.array([function_features(funcs[i], names) for i in ids])


class Stacker:
    def __init__(self, params: FusionParams, seed: int) -> None:
        self.params = params
        if params.stacker == "logreg":
            self.estimator = LogisticRegression(C=params.C, max_iter=1000)
        else:
            self.estimator = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                                            random_state=seed)

    @staticmethod
    def _inputs(probs: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        logits = to_logit(probs)
        return logits if features is None else np.hstack([logits, features])

    def fit(self, probs: np.ndarray, y: np.ndarray, features: np.ndarray | None = None) -> "Stacker":
        self.estimator.fit(self._inputs(probs, features), y)
        return self

    def predict_proba(self, probs: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        return self.estimator.predict_proba(self._inputs(probs, features))[:, 1]


def fit_fusion(params: Params, oof_dir: Path, models_dir: Path, processed_dir: Path) -> dict:
    """The stacker on mean OOF probabilities, plus one per seed run when n_runs > 1 (for paired tests)."""
    models = list(params.oof.models)
    oof_ids, y_oof, X_oof, X_oof_runs = load_oof_matrix(oof_dir, models, params.oof.folds)
    splits = {split: load_split_matrix(models_dir, models, split) for split in ("valid", "test")}
    rule = params.fusion.threshold_rule
    names = list(params.fusion.features)
    features = {"oof": feature_matrix(processed_dir, oof_ids, names),
                **{split: feature_matrix(processed_dir, splits[split][0], names) for split in splits}}

    def fit(X_train: np.ndarray, X_valid: np.ndarray) -> tuple[Stacker, float]:
        stacker = Stacker(params.fusion, params.seed).fit(X_train, y_oof, features["oof"])
        return stacker, choose_threshold(splits["valid"][1], stacker.predict_proba(X_valid, features["valid"]), rule)

    stacker, threshold = fit(X_oof, splits["valid"][2])
    fitted = {"stacker": stacker, "models": models, "threshold": threshold, "oof_ids": oof_ids,
              "oof": (y_oof, X_oof), "splits": splits, "runs": [], "features": features}
    for r, X_r in enumerate(X_oof_runs):
        run_stacker, run_threshold = fit(X_r, splits["valid"][3][r])
        fitted["runs"].append((run_stacker, run_threshold))
    return fitted


def run_fusion(params: Params, oof_dir: Path, models_dir: Path, out_dir: Path,
               processed_dir: Path = Path("data/processed")) -> dict:
    fitted = fit_fusion(params, oof_dir, models_dir, processed_dir)
    stacker: Stacker = fitted["stacker"]
    rows = []
    for split in ("valid", "test"):
        ids, y, X, X_runs = fitted["splits"][split]
        F = fitted["features"][split]
        probs = stacker.predict_proba(X, F)
        run_probs = [s.predict_proba(X_r, F) for (s, _), X_r in zip(fitted["runs"], X_runs)]
        for i, (id_, target, prob) in enumerate(zip(ids, y, probs)):
            row = {"id": id_, "split": split, "target": int(target), "prob": float(prob)}
            if run_probs:
                row["prob_runs"] = [float(p[i]) for p in run_probs]
            rows.append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.jsonl", rows)
    y_oof, X_oof = fitted["oof"]
    F_oof = fitted["features"]["oof"]
    np.savez(out_dir / "oof_matrix.npz", X=X_oof, y=y_oof, F=F_oof if F_oof is not None else np.zeros((len(y_oof), 0)))
    summary = {
        "models": fitted["models"],
        "stacker": params.fusion.stacker,
        "threshold": fitted["threshold"],
        "threshold_rule": params.fusion.threshold_rule,
        "features": list(params.fusion.features),
        "fitted_on": "out-of-fold probabilities of the training split (mean over seed runs)",
        "oof_functions": len(fitted["oof_ids"]),
        "seed": params.seed,
        "params": params.section("fusion"),
    }
    if fitted["runs"]:
        summary["thresholds_runs"] = [t for _, t in fitted["runs"]]
    if params.fusion.stacker == "logreg":
        summary["coefficients"] = dict(zip(fitted["models"] + list(params.fusion.features),
                                           stacker.estimator.coef_[0].tolist()))
        summary["intercept"] = float(stacker.estimator.intercept_[0])
    (out_dir / "fusion.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"fusion ({params.fusion.stacker}) on {len(fitted['oof_ids'])} OOF functions; threshold "
                  f"{fitted['threshold']:.3f} ({params.fusion.threshold_rule} on valid)")
    return summary


def load_stacker(out_dir: Path) -> tuple[Stacker, dict]:
    """The fitted stacker from models/fusion (for `streamguard predict`)."""
    summary = json.loads((out_dir / "fusion.json").read_text())
    stacker = Stacker(FusionParams(**summary["params"]), summary["seed"])
    if summary["stacker"] == "logreg":
        est = stacker.estimator
        est.coef_ = np.array([[summary["coefficients"][m] for m in summary["models"] + summary.get("features", [])]])
        est.intercept_ = np.array([summary["intercept"]])
        est.classes_ = np.array([0, 1])
    else:
        data = np.load(out_dir / "oof_matrix.npz", allow_pickle=False)
        stacker.fit(data["X"], data["y"], data["F"] if data["F"].shape[1] else None)
    return stacker, summary
