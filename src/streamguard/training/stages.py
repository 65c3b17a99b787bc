"""The `train` and `oof` stages over any base model.

train: fit on the training split (early stopping on valid), write the model,
run_info.json and `predictions.jsonl` with valid and test probabilities —
the rule for every base model's valid/test probabilities is "the full-train
model", the same for all.

oof: fold k of K (stratified, grouped by duplicate key, seeded): fit on the
other folds, predict fold k. fold.json lists the record ids of both sides
for people; tests/test_oof_fusion.py checks what each branch's `fit` really
received against the ids it then predicted. (The fusion stage itself lives
in `fusion_stage`.)
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.data.split import assign_folds
from streamguard.errors import StreamGuardError
from streamguard.evaluation.predictions import OOF_SPLITS, write_predictions
from streamguard.params import Params, run_seeds
from streamguard.progress import console
from streamguard.training.branches import item_id, item_target, make_branch
from streamguard.training.checkpoint_claim import checkpoint_claim
from streamguard.training.ranks import is_main_process
from streamguard.training.run_info import write_run_info

# Relative on purpose: a stage runs with the DVC workspace as its working directory, and
# every `dvc exp run --queue` / `--temp` experiment gets a workspace of its own (a fresh
# clone under .dvc/tmp/exps/), so concurrent experiments never share a checkpoint folder.
# `checkpoints/` is ignored by git, so it is never copied into a queued workspace either.
CHECKPOINT_ROOT = Path("checkpoints")


def prediction_rows(items: Sequence[Any], run_probs: list[np.ndarray], split: str, **extra: Any) -> list[dict]:
    """One row per item: the mean over runs as `prob`, and each run's as `prob_runs` when n_runs > 1."""
    mean = np.mean(run_probs, axis=0)
    rows = []
    for i, it in enumerate(items):
        row = {"id": item_id(it), "split": split, "target": item_target(it), "prob": float(mean[i]), **extra}
        if len(run_probs) > 1:
            row["prob_runs"] = [float(p[i]) for p in run_probs]
        rows.append(row)
    return rows


def run_dirs(out_dir: Path, n_runs: int) -> list[Path]:
    """Where each ensemble member lives: out_dir itself for one run, out_dir/run_<r> for several."""
    return [out_dir] if n_runs == 1 else [out_dir / f"run_{r}" for r in range(n_runs)]


def fit_runs(
    model: str,
    params: Params,
    processed_dir: Path,
    graphs_dir: Path,
    train_items: Sequence[Any],
    valid_items: Sequence[Any],
    predict_on: Mapping[str, Sequence[Any]],
    out_dir: Path,
    checkpoint_dir: Path,
) -> tuple[dict[str, list[np.ndarray]], list[dict]]:
    """Train one model per seed of `run_seeds(params)`; each predicts every split in `predict_on`."""
    probs: dict[str, list[np.ndarray]] = {split: [] for split in predict_on}
    infos = []
    dirs = run_dirs(out_dir, params.n_runs)
    for r, (seed, run_dir) in enumerate(zip(run_seeds(params), dirs)):
        started = time.time()
        branch = make_branch(model, params, processed_dir, graphs_dir)
        info = branch.fit(train_items, valid_items, run_dir, checkpoint_dir / f"run_{r}", seed)
        for split, items in predict_on.items():
            probs[split].append(branch.predict(items))
        info = write_run_info(
            run_dir,
            seed=seed,
            params=branch.params_used(),
            data_sha256=branch.data_sha256(),
            device=info.pop("device", "cpu"),
            wall_time_s=time.time() - started,
            model=model,
            train_size=len(train_items),
            **info,
        )
        infos.append(info)
    return probs, infos


def run_train(model: str, params: Params, processed_dir: Path, graphs_dir: Path, out_dir: Path) -> list[dict]:
    loader = make_branch(model, params, processed_dir, graphs_dir)
    splits = {s: loader.load_items(s) for s in ("train", "valid", "test")}
    evaluated = {"valid": splits["valid"], "test": splits["test"]}
    checkpoint_dir = CHECKPOINT_ROOT / model
    with checkpoint_claim(checkpoint_dir):
        probs, infos = fit_runs(
            model,
            params,
            processed_dir,
            graphs_dir,
            splits["train"],
            splits["valid"],
            evaluated,
            out_dir,
            checkpoint_dir,
        )
    if not is_main_process():  # under torchrun, rank 0 alone writes the stage's outputs
        return infos
    rows = [row for split in ("valid", "test") for row in prediction_rows(evaluated[split], probs[split], split)]
    write_predictions(out_dir / "predictions.jsonl", rows)
    total = sum(i["wall_time_s"] for i in infos)
    console.print(f"train {model}: {len(splits['train'])} functions, {params.n_runs} run(s), {total:.1f} s")
    return infos


def fold_split(items: Sequence[Any], records_folds: dict[str, int], fold: int) -> tuple[list, list]:
    inside: list[Any] = []
    held_out: list[Any] = []
    for it in items:
        if item_id(it) not in records_folds:
            raise StreamGuardError(f"oof: item {item_id(it)} has no fold; graphs and processed data disagree")
        (held_out if records_folds[item_id(it)] == fold else inside).append(it)
    return inside, held_out


def skip_oof_fold(model: str, fold: int, folds: int, out_dir: Path) -> dict:
    """fold.json saying why no fold model was trained; any earlier fold output is removed, never left stale."""
    why = "fusion.fit_on is 'valid': the stacker is fitted on the full models' valid probabilities, not on OOF"
    if is_main_process():
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        status = {"model": model, "fold": fold, "folds": folds, "status": "skipped", "why": why}
        (out_dir / "fold.json").write_text(json.dumps(status) + "\n")
        console.print(f"oof {model} fold {fold}/{folds}: skipped ({why})")
    return {"skipped": why}


def run_oof_fold(model: str, fold: int, params: Params, processed_dir: Path, graphs_dir: Path, out_root: Path) -> dict:
    from dataclasses import replace

    from streamguard.data.records import read_split

    k = params.oof.folds
    if not 0 <= fold < k:
        raise StreamGuardError(f"oof: fold {fold} is outside 0..{k - 1} (oof.folds = {k})")
    out_dir = out_root / model / f"fold_{fold}"
    if params.fusion.fit_on == "valid":
        return skip_oof_fold(model, fold, k, out_dir)
    if params.oof.epochs and model in ("transformer", "gnn"):
        section = getattr(params, model)
        params = replace(params, **{model: replace(section, epochs=params.oof.epochs)})
    folds = assign_folds(read_split(processed_dir, "train"), k, params.seed)
    loader = make_branch(model, params, processed_dir, graphs_dir)
    inside, held_out = fold_split(loader.load_items("train"), folds, fold)
    scratch = CHECKPOINT_ROOT / "oof" / model / f"fold_{fold}"
    # fold models are not kept: only their held-out predictions are a product
    with checkpoint_claim(scratch):
        probs, _ = fit_runs(
            model,
            params,
            processed_dir,
            graphs_dir,
            inside,
            loader.load_items("valid"),
            {"train": held_out},
            scratch / "model",
            scratch / "ckpt",
        )
        if is_main_process():  # the other ranks may still be predicting: rank 0 alone writes and removes files
            shutil.rmtree(scratch, ignore_errors=True)
    if not is_main_process():
        return {"trained_on": len(inside), "held_out": len(held_out)}
    write_predictions(
        out_dir / "predictions.jsonl", prediction_rows(held_out, probs["train"], "train", fold=fold), splits=OOF_SPLITS
    )
    (out_dir / "fold.json").write_text(
        json.dumps(
            {
                "model": model,
                "fold": fold,
                "folds": k,
                "runs": params.n_runs,
                "held_out_ids": sorted(item_id(i) for i in held_out),
                "trained_on_ids": sorted(item_id(i) for i in inside),
            }
        )
        + "\n"
    )
    console.print(f"oof {model} fold {fold}/{k}: trained on {len(inside)}, predicted {len(held_out)}")
    return {"trained_on": len(inside), "held_out": len(held_out)}
