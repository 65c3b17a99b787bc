"""The `fusion` stage: fit the stacker (`streamguard.models.fusion`) over base models' probabilities.

Fitted on the full models' valid probabilities with cross-fitting (`fusion.fit_on:
valid`, the default: no fold models needed) or on out-of-fold probabilities of the
training split (`fit_on: oof`); its decision threshold is chosen on valid only;
test is not read here beyond applying the fitted stacker (evaluate scores it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamguard.data.records import SPLITS, read_split
from streamguard.errors import StreamGuardError
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.io.predictions import OOF_SPLITS, read_predictions, write_predictions
from streamguard.models.fusion import Stacker, StackerConfig, function_features, save_stacker
from streamguard.params import Params, load_params
from streamguard.progress import console


def load_oof_matrix(
    oof_dir: Path, models: list[str], folds: int
) -> tuple[list[str], np.ndarray, np.ndarray, list[np.ndarray]]:
    """Ids, targets, the [n, models] mean-probability matrix, and one such matrix per seed run."""
    # per model: id -> (target, prob, per-run probs or None)
    per_model: dict[str, dict[str, tuple[int, float, np.ndarray | None]]] = {}
    for model in models:
        rows: dict[str, tuple[int, float, np.ndarray | None]] = {}
        for fold in range(folds):
            path = oof_dir / model / f"fold_{fold}" / "predictions.jsonl"
            if not path.exists():
                raise StreamGuardError(
                    f"fusion: {path} missing; oof.folds is {folds}: run the oof_{model} stage with these params "
                    f"(`dvc repro oof_{model}`)"
                )
            part = read_predictions(path, model, splits=OOF_SPLITS).splits["train"]
            for j, id_ in enumerate(part.ids):
                if id_ in rows:
                    raise StreamGuardError(
                        f"fusion: {path} predicts {id_[:80]!r}, which another fold of {model} "
                        "also predicts; rerun the oof stages (`dvc repro`)"
                    )
                runs = part.prob_runs[:, j] if part.prob_runs is not None else None
                rows[id_] = (int(part.target[j]), float(part.prob[j]), runs)
        per_model[model] = rows
    ids = sorted(per_model[models[0]])
    for model in models[1:]:
        if set(per_model[model]) != set(ids):
            raise StreamGuardError(
                f"fusion: OOF predictions of {model} and {models[0]} cover different functions; "
                "rerun the oof stages (`dvc repro`)"
            )
    y = np.array([per_model[models[0]][i][0] for i in ids])
    X = np.column_stack([[per_model[m][i][1] for i in ids] for m in models])
    first_runs = per_model[models[0]][ids[0]][2]
    n_runs = len(first_runs) if first_runs is not None else 1
    X_runs = (
        [
            np.column_stack([[per_model[m][i][2][r] for i in ids] for m in models])  # type: ignore[index]
            for r in range(n_runs)
        ]
        if n_runs > 1
        else []
    )
    return ids, y, X, X_runs


def load_split_matrix(
    models_dir: Path, models: list[str], split: str
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, list[np.ndarray]]:
    """The full-train models' probabilities for one split, aligned by id (plus per-run matrices)."""
    preds = [read_predictions(models_dir / m / "predictions.jsonl", m).splits[split] for m in models]
    ids = preds[0].ids
    for model, p in zip(models[1:], preds[1:]):
        if p.ids != ids:
            raise StreamGuardError(f"fusion: {split} predictions of {model} and {models[0]} cover different functions")
    X = np.column_stack([p.prob for p in preds])
    n_runs = preds[0].prob_runs.shape[0] if preds[0].prob_runs is not None else 1
    X_runs = [np.column_stack([p.prob_runs[r] for p in preds]) for r in range(n_runs)] if n_runs > 1 else []  # type: ignore[index]
    return ids, preds[0].target.astype(int), X, X_runs


def feature_matrix(processed_dir: Path, ids: Sequence[str], names: list[str]) -> np.ndarray | None:
    if not names:
        return None
    funcs = {r.id: r.func for split in SPLITS for r in read_split(processed_dir, split)}
    missing = [i for i in ids if i not in funcs]
    if missing:
        raise StreamGuardError(
            f"fusion: {len(missing)} predicted function(s) (e.g. {missing[0][:80]!r}) are not in "
            f"{processed_dir}; the models and the processed data disagree, rerun `dvc repro`"
        )
    return np.array([function_features(funcs[i], names) for i in ids])


def crossfit_valid(
    params: Params, y: np.ndarray, X: np.ndarray, F: np.ndarray | None
) -> tuple[Stacker, np.ndarray, float]:
    """Stacker fitted on all of valid, valid probabilities that no stacker saw its own row of, and the threshold.

    Valid is split into `fusion.valid_folds` stratified folds; each fold is
    scored by a stacker fitted on the others, and the threshold is chosen on
    those cross-fitted probabilities, so neither the threshold nor the
    reported valid scores come from a stacker that saw the row it scores.
    """
    from sklearn.model_selection import StratifiedKFold

    k = params.fusion.valid_folds
    smallest = int(min(np.bincount(y, minlength=2)))
    if smallest < k:
        raise StreamGuardError(
            f"fusion: fit_on is 'valid' with {k} folds, but valid has only {smallest} function(s) of one class; "
            "lower fusion.valid_folds or use fusion.fit_on: oof"
        )
    crossfit = np.zeros(len(y))
    for fit_rows, held_rows in StratifiedKFold(k, shuffle=True, random_state=params.seed).split(X, y):
        part = Stacker(StackerConfig.of(params.fusion), params.seed).fit(
            X[fit_rows], y[fit_rows], None if F is None else F[fit_rows]
        )
        crossfit[held_rows] = part.predict_proba(X[held_rows], None if F is None else F[held_rows])
    threshold = choose_threshold(y, crossfit, params.fusion.threshold_rule)
    return Stacker(StackerConfig.of(params.fusion), params.seed).fit(X, y, F), crossfit, threshold


def fit_fusion(params: Params, oof_dir: Path, models_dir: Path, processed_dir: Path) -> dict:
    """The stacker on mean OOF (or valid) probabilities, plus one per seed run when n_runs > 1 (for paired tests).

    Each fit gives (stacker, valid probabilities, threshold): the valid
    probabilities are the ones written out and the ones the threshold came from.
    """
    models = list(params.oof.models)
    splits = {split: load_split_matrix(models_dir, models, split) for split in ("valid", "test")}
    names = list(params.fusion.features)
    features = {split: feature_matrix(processed_dir, splits[split][0], names) for split in splits}
    y_valid, F_valid = splits["valid"][1], features["valid"]

    fit_ids: Sequence[str]
    if params.fusion.fit_on == "valid":
        fit_ids, y_fit, X_fit, X_fit_runs = splits["valid"]
        F_fit = F_valid

        def fit(X_train: np.ndarray, X_valid: np.ndarray) -> tuple[Stacker, np.ndarray, float]:
            return crossfit_valid(params, y_fit, X_train, F_fit)

    else:
        fit_ids, y_fit, X_fit, X_fit_runs = load_oof_matrix(oof_dir, models, params.oof.folds)
        F_fit = feature_matrix(processed_dir, fit_ids, names)

        def fit(X_train: np.ndarray, X_valid: np.ndarray) -> tuple[Stacker, np.ndarray, float]:
            stacker = Stacker(StackerConfig.of(params.fusion), params.seed).fit(X_train, y_fit, F_fit)
            valid_probs = stacker.predict_proba(X_valid, F_valid)
            return stacker, valid_probs, choose_threshold(y_valid, valid_probs, params.fusion.threshold_rule)

    stacker, valid_probs, threshold = fit(X_fit, splits["valid"][2])
    return {
        "stacker": stacker,
        "threshold": threshold,
        "valid_probs": valid_probs,
        "runs": [fit(X_r, X_valid_r) for X_r, X_valid_r in zip(X_fit_runs, splits["valid"][3])],
        "models": models,
        "fit_ids": fit_ids,
        "fit": (y_fit, X_fit, F_fit),
        "splits": splits,
        "features": features,
    }


FITTED_ON = {
    "oof": "out-of-fold probabilities of the training split (mean over seed runs)",
    "valid": "the full models' valid-split probabilities (mean over seed runs); threshold and valid "
    "predictions from {k}-fold cross-fitting on valid",
}


def run_fusion(params: Params, oof_dir: Path, models_dir: Path, out_dir: Path, processed_dir: Path) -> dict:
    fitted = fit_fusion(params, oof_dir, models_dir, processed_dir)
    stacker: Stacker = fitted["stacker"]
    rows = []
    for split in ("valid", "test"):
        ids, y, X, X_runs = fitted["splits"][split]
        F = fitted["features"][split]
        if split == "valid":  # as fitted: cross-fitted when fit_on is valid, so no stacker scores a row it saw
            probs = fitted["valid_probs"]
            run_probs = [run_valid for _, run_valid, _ in fitted["runs"]]
        else:
            probs = stacker.predict_proba(X, F)
            run_probs = [s.predict_proba(X_r, F) for (s, _, _), X_r in zip(fitted["runs"], X_runs)]
        for i, (id_, target, prob) in enumerate(zip(ids, y, probs)):
            row = {"id": id_, "split": split, "target": int(target), "prob": float(prob)}
            if run_probs:
                row["prob_runs"] = [float(p[i]) for p in run_probs]
            rows.append(row)
    write_predictions(out_dir / "predictions.jsonl", rows)
    summary = {
        "models": fitted["models"],
        "stacker": params.fusion.stacker,
        "threshold": fitted["threshold"],
        "threshold_rule": params.fusion.threshold_rule,
        "features": list(params.fusion.features),
        "fit_on": params.fusion.fit_on,
        "fitted_on": FITTED_ON[params.fusion.fit_on].format(k=params.fusion.valid_folds),
        "fit_functions": len(fitted["fit_ids"]),
        "seed": params.seed,
        "params": params.section("fusion"),
    }
    if fitted["runs"]:
        summary["thresholds_runs"] = [t for _, _, t in fitted["runs"]]
    y_fit, X_fit, F_fit = fitted["fit"]
    summary = save_stacker(stacker, out_dir, summary, y_fit, X_fit, F_fit)
    chosen_on = {"oof": "on valid", "valid": "on valid, cross-fitted"}[params.fusion.fit_on]
    console.print(
        f"fusion ({params.fusion.stacker}) on {len(fitted['fit_ids'])} {params.fusion.fit_on} functions; threshold "
        f"{fitted['threshold']:.3f} ({params.fusion.threshold_rule} {chosen_on})"
    )
    return summary


def main(args: argparse.Namespace) -> None:
    run_fusion(load_params(args.params), Path(args.oof), Path(args.models), Path(args.out), Path(args.processed))
