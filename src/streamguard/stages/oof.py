"""The `oof_<model>@<k>` stages: fit one base model on the other folds, predict fold k of the training split.

The folds come from the folds stage's file (data/folds.json), so every model's
fold k holds out the same records. fold.json lists the record ids of both sides
for people; tests/stages/test_oof_fusion.py checks what each branch's `fit` really
received against the ids it then predicted. Fold models are not kept: only
their held-out predictions are a product.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from streamguard.data.folds import read_folds
from streamguard.errors import StreamGuardError
from streamguard.io.predictions import OOF_SPLITS, write_predictions
from streamguard.io.ranks import is_main_process
from streamguard.models.registry import MODELS
from streamguard.params import Params, fold_models_wanted, load_params
from streamguard.progress import console
from streamguard.stages.train import fit_runs, prediction_rows
from streamguard.training.branches import item_id, make_branch
from streamguard.training.checkpoint_claim import checkpoint_claim


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


def fold_params(model: str, params: Params) -> Params:
    """The params a fold model trains with: `oof.epochs`, when set, replaces a torch-trained model's epochs."""
    if not (params.oof.epochs and MODELS[model].neural):
        return params
    return replace(params, **{model: replace(getattr(params, model), epochs=params.oof.epochs)})


def run_oof_fold(
    model: str,
    fold: int,
    params: Params,
    processed_dir: Path,
    graphs_dir: Path,
    out_root: Path,
    *,
    folds_file: Path,
    checkpoints: Path,
    pretrained: Path | None = None,
) -> dict:
    """Fold `fold` of `model` into out_root/<model>/fold_<fold>; checkpoints/oof/... is its scratch while it trains."""
    k = params.oof.folds
    if not 0 <= fold < k:
        raise StreamGuardError(f"oof: fold {fold} is outside 0..{k - 1} (oof.folds = {k})")
    out_dir = out_root / model / f"fold_{fold}"
    if not fold_models_wanted(params):
        return skip_oof_fold(model, fold, k, out_dir)
    params = fold_params(model, params)
    folds = read_folds(folds_file, k, params.seed)
    loader = make_branch(model, params, processed_dir, graphs_dir)
    inside, held_out = fold_split(loader.load_items("train"), folds, fold)
    scratch = checkpoints / "oof" / model / f"fold_{fold}"
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
            pretrained,
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


def main(args: argparse.Namespace) -> None:
    run_oof_fold(
        args.model,
        args.fold,
        load_params(args.params),
        Path(args.processed),
        Path(args.graphs),
        Path(args.out),
        folds_file=Path(args.folds),
        checkpoints=Path(args.checkpoints),
        pretrained=Path(args.pretrained),
    )
