"""The `train_<model>` stages: one base model on the training split, and the seed runs both train and oof fit.

train: fit on the training split (early stopping on valid), write the model,
run_info.json and `predictions.jsonl` with valid and test probabilities —
the rule for every base model's valid/test probabilities is "the full-train
model", the same for all. `fit_runs` trains one model per seed of
`run_seeds(params)`; the oof stages (stages/oof.py) fit their fold models
through it too.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.io.predictions import write_predictions
from streamguard.io.ranks import is_main_process
from streamguard.io.run_info import write_run_info
from streamguard.params import Params, load_params, run_seeds
from streamguard.progress import console
from streamguard.training.branches import item_id, item_target, make_branch
from streamguard.training.checkpoint_claim import checkpoint_claim


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
    pretrained_dir: Path | None = None,
) -> tuple[dict[str, list[np.ndarray]], list[dict]]:
    """Train one model per seed of `run_seeds(params)`; each predicts every split in `predict_on`."""
    probs: dict[str, list[np.ndarray]] = {split: [] for split in predict_on}
    infos = []
    dirs = run_dirs(out_dir, params.n_runs)
    for r, (seed, run_dir) in enumerate(zip(run_seeds(params), dirs)):
        started = time.time()
        branch = make_branch(model, params, processed_dir, graphs_dir, pretrained_dir)
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
            write=is_main_process(),
            model=model,
            train_size=len(train_items),
            **info,
        )
        infos.append(info)
    return probs, infos


def run_train(
    model: str,
    params: Params,
    processed_dir: Path,
    graphs_dir: Path,
    out_dir: Path,
    *,
    checkpoints: Path,
    pretrained: Path | None = None,
) -> list[dict]:
    """Fit `model` on train, write out_dir; checkpoints/<model> holds the resumable checkpoints while it trains.

    `pretrained` is the pretrain stage's output, read when transformer.init or gnn.token_init is pretrain.
    """
    loader = make_branch(model, params, processed_dir, graphs_dir)
    splits = {s: loader.load_items(s) for s in ("train", "valid", "test")}
    evaluated = {"valid": splits["valid"], "test": splits["test"]}
    checkpoint_dir = checkpoints / model
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
            pretrained,
        )
    if not is_main_process():  # under torchrun, rank 0 alone writes the stage's outputs
        return infos
    rows = [row for split in ("valid", "test") for row in prediction_rows(evaluated[split], probs[split], split)]
    write_predictions(out_dir / "predictions.jsonl", rows)
    total = sum(i["wall_time_s"] for i in infos)
    console.print(f"train {model}: {len(splits['train'])} functions, {params.n_runs} run(s), {total:.1f} s")
    return infos


def main(args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out is not None else Path("models") / args.model
    run_train(
        args.model,
        load_params(args.params),
        Path(args.processed),
        Path(args.graphs),
        out,
        checkpoints=Path(args.checkpoints),
        pretrained=Path(args.pretrained),
    )
