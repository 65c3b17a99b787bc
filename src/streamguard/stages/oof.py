"""The `oof_<model>` stages: for each fold k, fit a base model on the other folds and predict fold k.

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


SKIPPED_MARKER = "skipped.json"


def skip_oof(model: str, folds: int, model_dir: Path) -> dict:
    """One marker saying why no fold model was trained; any earlier fold output is removed, never left stale."""
    why = "fusion.fit_on is 'valid': the stacker is fitted on the full models' valid probabilities, not on OOF"
    if is_main_process():
        shutil.rmtree(model_dir, ignore_errors=True)
        model_dir.mkdir(parents=True)
        status = {"model": model, "folds": folds, "status": "skipped", "why": why}
        (model_dir / SKIPPED_MARKER).write_text(json.dumps(status) + "\n")
        console.print(f"oof {model}: skipped ({why})")
    return {"skipped": why}


def fold_params(model: str, params: Params) -> Params:
    """The params a fold model trains with: `oof.epochs`, when set, replaces a torch-trained model's epochs."""
    if not (params.oof.epochs and MODELS[model].neural):
        return params
    return replace(params, **{model: replace(getattr(params, model), epochs=params.oof.epochs)})


def run_oof(
    model: str,
    params: Params,
    processed_dir: Path,
    graphs_dir: Path,
    out_root: Path,
    *,
    folds_file: Path,
    checkpoints: Path,
    pretrained: Path | None = None,
    only_fold: int | None = None,
) -> dict:
    """Every fold of `model` (or `only_fold` alone) into out_root/<model>/fold_<k>.

    The data is loaded once for all folds; checkpoints/oof/<model>/fold_<k> is a
    fold's scratch while it trains, so an interrupted fold resumes.
    """
    k = params.oof.folds
    if only_fold is not None and not 0 <= only_fold < k:
        raise StreamGuardError(f"oof: fold {only_fold} is outside 0..{k - 1} (oof.folds = {k})")
    model_dir = out_root / model
    if not fold_models_wanted(params):
        return skip_oof(model, k, model_dir)
    params = fold_params(model, params)
    folds = read_folds(folds_file, k, params.seed)
    loader = make_branch(model, params, processed_dir, graphs_dir)
    train, valid = loader.load_items("train"), loader.load_items("valid")
    if is_main_process():  # no fold or marker of another oof.folds or fit_on stays behind
        shutil.rmtree(model_dir if only_fold is None else model_dir / f"fold_{only_fold}", ignore_errors=True)
        (model_dir / SKIPPED_MARKER).unlink(missing_ok=True)
    done = {}
    for fold in range(k) if only_fold is None else [only_fold]:
        inside, held_out = fold_split(train, folds, fold)
        scratch = checkpoints / "oof" / model / f"fold_{fold}"
        with checkpoint_claim(scratch):  # the fold model is not kept: only its held-out predictions are
            probs, _ = fit_runs(
                model,
                params,
                processed_dir,
                graphs_dir,
                inside,
                valid,
                {"train": held_out},
                scratch / "model",
                scratch / "ckpt",
                pretrained,
            )
            if is_main_process():  # the other ranks may still be predicting: rank 0 alone writes and removes files
                shutil.rmtree(scratch, ignore_errors=True)
        done[fold] = {"trained_on": len(inside), "held_out": len(held_out)}
        if not is_main_process():
            continue
        out_dir = model_dir / f"fold_{fold}"
        rows = prediction_rows(held_out, probs["train"], "train", fold=fold)
        write_predictions(out_dir / "predictions.jsonl", rows, splits=OOF_SPLITS)
        summary = {
            "model": model,
            "fold": fold,
            "folds": k,
            "runs": params.n_runs,
            "held_out_ids": sorted(item_id(i) for i in held_out),
            "trained_on_ids": sorted(item_id(i) for i in inside),
        }
        (out_dir / "fold.json").write_text(json.dumps(summary) + "\n")
        console.print(f"oof {model} fold {fold}/{k}: trained on {len(inside)}, predicted {len(held_out)}")
    return {"folds": done}


def main(args: argparse.Namespace) -> None:
    run_oof(
        args.model,
        load_params(args.params),
        Path(args.processed),
        Path(args.graphs),
        Path(args.out),
        folds_file=Path(args.folds),
        checkpoints=Path(args.checkpoints),
        pretrained=Path(args.pretrained),
        only_fold=args.fold,
    )
