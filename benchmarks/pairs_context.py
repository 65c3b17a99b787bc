"""Windows and the pair term on held-out fix pairs: fine-tune one transformer several ways, score each.

    python benchmarks/pairs_context.py --base-params devign-scratch.yaml --init scratch/hf \\
        --devign processed --mined p2processed/train.jsonl --heldout heldout/git.jsonl \\
        --devign-train 2000 --devign-valid 1000 --out runs \\
        --config w1=max_windows=1 --config w8=max_windows=8 --config w8pair=max_windows=8,pair_loss_weight=1 \\
        [--set epochs=3 --set learning_rate=0.0002] [--json OUT]

A benchmark, not a stage. It builds one processed folder (train: every mined record
of `--mined`, i.e. source git, with its pairs, plus a seeded sample of Devign's train
split; valid: a seeded sample of Devign's valid split; test: Devign's test split or
a seeded sample of it), then for each `--config NAME=KEY=VALUE,...` (transformer keys, on top of
`--set` and `--base-params`) runs `streamguard train transformer` from `--init` and
`benchmarks/pairs_eval.py` on the held-out pairs, and reports the Devign test metrics
at the valid split's threshold (bootstrap CIs) next to the pair metrics. Runs that
already wrote their figures are kept (delete OUT/NAME to rerun one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import yaml

from streamguard.data.records import read_records, write_records
from streamguard.evaluation.metrics import bootstrap_metrics
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.io.predictions import read_predictions
from streamguard.params import load_params

HERE = Path(__file__).parent
SHOWN = ("pairwise_accuracy", "tied", "p_c", "p_r", "vd_s")
DEVIGN_SHOWN = ("accuracy", "f1", "roc_auc", "mcc")


def _value(text: str):
    return yaml.safe_load(text)


def _overrides(spec: str) -> dict:
    return {k: _value(v) for k, _, v in (kv.partition("=") for kv in spec.split(",") if kv)}


def build_processed(args: argparse.Namespace, out: Path) -> dict:
    """train = mined records + a Devign sample; valid = a Devign sample; test = Devign's test split."""
    if (out / "sizes.json").exists():
        return json.loads((out / "sizes.json").read_text())
    rng = random.Random(args.seed)
    mined = [r for r in read_records(args.mined) if r.source == "git"]
    devign_train = list(read_records(args.devign / "train.jsonl"))
    devign_valid = list(read_records(args.devign / "valid.jsonl"))
    train = mined + rng.sample(devign_train, min(args.devign_train, len(devign_train)))
    valid = rng.sample(devign_valid, min(args.devign_valid, len(devign_valid)))
    devign_test = list(read_records(args.devign / "test.jsonl"))
    test = rng.sample(devign_test, args.devign_test) if args.devign_test else devign_test
    for split, records in (("train", train), ("valid", valid), ("test", test)):
        for r in records:
            r.split = split
        write_records(out / f"{split}.jsonl", records)
    sizes = {
        "train": len(train),
        "train_mined": len(mined),
        "train_mined_pairs": len({r.pair for r in mined if r.pair}),
        "valid": len(valid),
        "test": len(test),
    }
    (out / "sizes.json").write_text(json.dumps(sizes) + "\n")
    return sizes


def run_config(args: argparse.Namespace, name: str, overrides: dict, processed: Path) -> dict:
    run_dir = args.out / name
    done = run_dir / "figures.json"
    if done.exists():
        return json.loads(done.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(Path(args.base_params).read_text())
    raw["transformer"].update({"model_name_or_path": str(args.init), "init": "scratch", **args.set, **overrides})
    params_path = run_dir / "params.yaml"
    params_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    model_dir = run_dir / "model"
    env = dict(os.environ)
    cmd = ["streamguard", "--params", str(params_path), "train", "transformer"]
    cmd += ["--processed", str(processed), "--out", str(model_dir)]
    started = time.time()
    if not (model_dir / "run_info.json").exists():  # a trained model is kept when only scoring failed
        subprocess.run(cmd, check=True, env=env)
    train_s = json.loads((model_dir / "timing.json").read_text())["wall_time_s"]
    pairs_json = run_dir / "pairs.json"
    started = time.time()
    subprocess.run(
        [sys.executable, str(HERE / "pairs_eval.py"), "--pairs", str(args.heldout), "--params", str(params_path)]
        + ["--model", f"transformer={model_dir}", "--json", str(pairs_json)],
        check=True,
        env=env,
    )
    pairs_s = time.time() - started
    params = load_params(params_path)
    preds = read_predictions(model_dir / "predictions.jsonl", "transformer")
    valid, test = preds.splits["valid"], preds.splits["test"]
    threshold = choose_threshold(valid.target, valid.prob, params.fusion.threshold_rule)
    devign = bootstrap_metrics(
        test.target,
        test.prob,
        threshold,
        params.evaluate.bootstrap_resamples,
        params.evaluate.confidence_level,
        params.evaluate.seed,
    )
    info = json.loads((model_dir / "run_info.json").read_text())
    figures = {
        "overrides": overrides,
        "transformer_params": raw["transformer"],
        "pairs": next(iter(json.loads(pairs_json.read_text())["models"].values())),
        "devign_test": {**devign, "threshold": threshold},
        "train_wall_s": round(train_s, 1),
        "pairs_eval_wall_s": round(pairs_s, 1),
        "run_info": {k: info.get(k) for k in ("best_epoch", "epochs_run", "history", "token_trimming_train")}
        | {k: info.get(k) for k in ("windows_per_function_train", "train_pairs_ranked", "max_windows")},
        "load_after": os.getloadavg(),
    }
    done.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-params", required=True)
    ap.add_argument("--init", type=Path, required=True, help="a saved transformer (hf folder) to fine-tune")
    ap.add_argument("--devign", type=Path, required=True, help="a processed folder with Devign's splits")
    ap.add_argument("--mined", type=Path, required=True, help="records with pairs (source git) for training")
    ap.add_argument("--heldout", type=Path, required=True, help="held-out pairs (pairs_eval.py --pairs)")
    ap.add_argument("--devign-train", type=int, default=2000)
    ap.add_argument("--devign-valid", type=int, default=1000)
    ap.add_argument("--devign-test", type=int, default=0, help="a seeded sample of the test split; 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", action="append", required=True, metavar="NAME=KEY=VALUE,...")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every config")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.set = _overrides(",".join(args.set))
    processed = args.out / "processed"
    sizes = build_processed(args, processed)
    print(f"data: {sizes}  load {os.getloadavg()}")
    result = {"sizes": sizes, "load_before": os.getloadavg(), "configs": {}}
    for spec in args.config:
        name, _, overrides = spec.partition("=")
        figures = run_config(args, name, _overrides(overrides), processed)
        result["configs"][name] = figures
        pairs, devign = figures["pairs"], figures["devign_test"]
        shown = "  ".join(f"{k} {pairs[k]:.3f}" for k in SHOWN if k in pairs)
        shown += "  | devign " + "  ".join(f"{k} {devign[k]:.3f}" for k in DEVIGN_SHOWN)
        print(f"{name}: {shown}  (train {figures['train_wall_s']} s)", flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
