"""The `train` and `oof` stages over any base model.

train: fit on the training split (early stopping on valid), write the model,
run_info.json and `predictions.jsonl` with valid and test probabilities —
the rule for every base model's valid/test probabilities is "the full-train
model", the same for all.

oof: fold k of K (stratified, grouped by duplicate key, seeded): fit on the
other folds, predict fold k. The record ids of both sides are written, so a
test can check that no out-of-fold probability comes from a model that saw
that function.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from streamguard.data.split import assign_folds
from streamguard.errors import StreamGuardError
from streamguard.params import Params
from streamguard.progress import console
from streamguard.training.branches import item_id, item_target, make_branch
from streamguard.training.run_info import write_run_info

CHECKPOINT_ROOT = Path("checkpoints")


def write_predictions(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")


def read_predictions(path: Path) -> list[dict]:
    if not path.exists():
        raise StreamGuardError(f"{path}: missing; run the stage that writes it (`dvc repro`)")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def prediction_rows(items: Sequence[Any], probs: np.ndarray, split: str, **extra: Any) -> list[dict]:
    return [{"id": item_id(it), "split": split, "target": item_target(it), "prob": float(p), **extra}
            for it, p in zip(items, probs)]


def run_train(model: str, params: Params, processed_dir: Path, graphs_dir: Path, out_dir: Path) -> dict:
    started = time.time()
    branch = make_branch(model, params, processed_dir, graphs_dir)
    splits = {s: branch.load_items(s) for s in ("train", "valid", "test")}
    info = branch.fit(splits["train"], splits["valid"], out_dir, CHECKPOINT_ROOT / model, params.seed)
    rows = []
    for split in ("valid", "test"):
        rows += prediction_rows(splits[split], branch.predict(splits[split]), split)
    write_predictions(out_dir / "predictions.jsonl", rows)
    info = write_run_info(out_dir, seed=params.seed, params=branch.params_used(), data_sha256=branch.data_sha256(),
                          device=info.pop("device", "cpu"), wall_time_s=time.time() - started,
                          model=model, train_size=len(splits["train"]), **info)
    console.print(f"train {model}: {len(splits['train'])} functions, {info['wall_time_s']:.1f} s")
    return info


def fold_split(items: Sequence[Any], records_folds: dict[str, int], fold: int) -> tuple[list, list]:
    inside, held_out = [], []
    for it in items:
        if item_id(it) not in records_folds:
            raise StreamGuardError(f"oof: item {item_id(it)} has no fold; graphs and processed data disagree")
        (held_out if records_folds[item_id(it)] == fold else inside).append(it)
    return inside, held_out


def run_oof_fold(model: str, fold: int, params: Params, processed_dir: Path, graphs_dir: Path, out_root: Path) -> dict:
    from dataclasses import replace

    from streamguard.data.records import read_split

    k = params.oof.folds
    if not 0 <= fold < k:
        raise StreamGuardError(f"oof: fold {fold} is outside 0..{k - 1} (oof.folds = {k})")
    if params.oof.epochs and model in ("transformer", "gnn"):
        section = getattr(params, model)
        params = replace(params, **{model: replace(section, epochs=params.oof.epochs)})
    folds = assign_folds(read_split(processed_dir, "train"), k, params.seed)
    branch = make_branch(model, params, processed_dir, graphs_dir)
    train_items = branch.load_items("train")
    inside, held_out = fold_split(train_items, folds, fold)
    out_dir = out_root / model / f"fold_{fold}"
    fit_dir = CHECKPOINT_ROOT / "oof" / model / f"fold_{fold}" / "model"
    branch.fit(inside, branch.load_items("valid"), fit_dir, CHECKPOINT_ROOT / "oof" / model / f"fold_{fold}" / "ckpt",
               params.seed)
    rows = prediction_rows(held_out, branch.predict(held_out), "train", fold=fold)
    write_predictions(out_dir / "predictions.jsonl", rows)
    (out_dir / "fold.json").write_text(json.dumps(
        {"model": model, "fold": fold, "folds": k, "held_out_ids": sorted(item_id(i) for i in held_out),
         "trained_on_ids": sorted(item_id(i) for i in inside)}) + "\n")
    import shutil

    shutil.rmtree(CHECKPOINT_ROOT / "oof" / model / f"fold_{fold}", ignore_errors=True)
    console.print(f"oof {model} fold {fold}/{k}: trained on {len(inside)}, predicted {len(held_out)}")
    return {"trained_on": len(inside), "held_out": len(held_out)}
