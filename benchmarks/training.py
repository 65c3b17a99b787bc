"""Training throughput and peak memory of each neural branch, through the real loop.

    python benchmarks/training.py --data ../shared/datasets/devign/devign.jsonl.gz
    python benchmarks/training.py --data ... --branch transformer --device cuda --steps 200

Preprocesses the corpus in memory (the duplicate-aware split), builds each
branch's training items (tokenising / graph building is timed separately),
then runs `streamguard.training.loop.train` for --steps optimizer steps with
the params.yaml configuration (override with -S key=value) and prints
samples/s and peak memory. On CUDA, AMP follows the `amp` param (on by
default: bf16 where supported, else fp16).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

from streamguard.data.preprocess import preprocess_records
from streamguard.data.records import read_records, write_records
from streamguard.models.inference import select_device
from streamguard.params import load_params, params_from_dict
from streamguard.training.loop import TrainingInterrupted


def override(params_path: Path, sets: list[str]):
    raw = yaml.safe_load(params_path.read_text())
    for item in sets:
        key, value = item.split("=", 1)
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return params_from_dict(raw, str(params_path))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="Devign JSONL(.gz) or function.json")
    ap.add_argument("--branch", choices=["transformer", "gnn", "all"], default="all")
    ap.add_argument("--steps", type=int, default=100, help="optimizer steps to time")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument(
        "-S", dest="sets", action="append", default=[], help="override a param, e.g. -S transformer.max_length=128"
    )
    args = ap.parse_args()

    params = override(Path(args.params), args.sets) if args.sets else load_params(args.params)
    started = time.time()
    records, _ = preprocess_records(list(read_records(args.data, defaults={"source": "devign"})), params)
    print(f"corpus: {len(records)} functions after preprocessing ({time.time() - started:.1f} s)")
    branches = ["transformer", "gnn"] if args.branch == "all" else [args.branch]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        processed = tmp / "processed"
        for split in ("train", "valid", "test"):
            write_records(processed / f"{split}.jsonl", [r for r in records if r.split == split])
        for name in branches:
            run_branch(name, params, processed, tmp, args)


def run_branch(name: str, params, processed: Path, tmp: Path, args) -> None:
    import torch

    from streamguard.training.branches import make_branch

    section = replace(getattr(params, name), device=args.device, checkpoint_every=0, epochs=1000)
    params = replace(params, **{name: section})
    graphs = tmp / "graphs"
    t0 = time.time()
    if name == "gnn" and not (graphs / "train.pt").exists():
        from streamguard.stages.graphs import run_graphs_stage

        run_graphs_stage(processed, graphs, params)
    branch = make_branch(name, params, processed, graphs)
    train_items, valid_items = branch.load_items("train"), branch.load_items("valid")[:64]
    prep_s = time.time() - t0
    batch_size = branch.batch_size() if name == "gnn" else section.batch_size
    device = select_device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    try:
        branch.fit(
            train_items,
            valid_items,
            tmp / f"out_{name}",
            tmp / f"ckpt_{name}",
            params.seed,
            stop_after_steps=args.steps,
        )
        raise SystemExit(f"{name}: training finished before {args.steps} steps; lower --steps")
    except TrainingInterrupted as stopped:
        # only the step loop is timed; tokenizer training / encoding is reported apart
        elapsed = stopped.loop_seconds
        prep_s += time.time() - started - elapsed
    samples = args.steps * batch_size * section.grad_accum
    line = (
        f"{name}: device {device}, amp {section.amp and device.type == 'cuda'}, batch {batch_size}, "
        f"{args.steps} steps, {samples / elapsed:.1f} samples/s, item preparation (tokenizer, encoding, model build) {prep_s:.1f} s, "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    if device.type == "cuda":
        line += f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
    print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
