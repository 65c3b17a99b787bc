"""Data-parallel training on this machine: 1 process vs N processes (torchrun, gloo on CPU).

    python benchmarks/distributed.py --data data/sample/devign_sample.jsonl.gz --steps 20
    python benchmarks/distributed.py --data ... --branch gnn --nproc 1 2 --json benchmarks/results/distributed.json

Preprocesses the corpus once (the duplicate-aware split, graphs for the GNN),
then, per branch and process count, runs the branch's real `fit` with the
params.yaml configuration for --steps optimizer steps of the same global batch
and prints the step loop's wall time and samples/s (rank 0's clock; tokenizer,
encoding and start-up are timed apart as the whole command's wall time).
Each run gets the machine's cores split evenly between its processes
(OMP_NUM_THREADS), so 1 process is not handicapped to one thread; --threads T
gives every process T threads instead (on a busy machine, spare intra-op
threads spin and wait, which can cost more than they bring).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

RESULT_PREFIX = "DISTRIBUTED_RESULT "


def prepare(data: str, params_path: str, tmp: Path) -> None:
    from streamguard.data.preprocess import preprocess_records
    from streamguard.data.records import read_records, write_records
    from streamguard.params import load_params
    from streamguard.stages.graphs import run_graphs_stage

    params = load_params(params_path)
    records, _ = preprocess_records(list(read_records(data, defaults={"source": "devign"})), params)
    for split in ("train", "valid", "test"):
        write_records(tmp / "processed" / f"{split}.jsonl", [r for r in records if r.split == split])
    run_graphs_stage(tmp / "processed", tmp / "graphs", params)


def worker(args: argparse.Namespace) -> None:
    """One rank: fit the branch for --steps steps and (rank 0) print the loop's time."""
    from streamguard.params import load_params
    from streamguard.training.branches import make_branch
    from streamguard.training.loop import TrainingInterrupted

    tmp = Path(args.tmp)
    params = load_params(args.params)
    section = replace(getattr(params, args.branch), device="cpu", checkpoint_every=0, epochs=1000)
    params = replace(params, **{args.branch: section})
    branch = make_branch(args.branch, params, tmp / "processed", tmp / "graphs")
    train_items, valid_items = branch.load_items("train"), branch.load_items("valid")[:64]
    batch_size = branch.batch_size() if args.branch == "gnn" else section.batch_size
    out = tmp / f"out_{args.branch}_{os.environ.get('WORLD_SIZE', '1')}"
    try:
        branch.fit(train_items, valid_items, out / "model", out / "ckpt", params.seed, stop_after_steps=args.steps)
        raise SystemExit(f"{args.branch}: training finished before {args.steps} steps; lower --steps")
    except TrainingInterrupted as stopped:
        if os.environ.get("RANK", "0") == "0":
            samples = args.steps * batch_size * section.grad_accum
            print(RESULT_PREFIX + json.dumps({"loop_s": stopped.loop_seconds, "samples": samples}), flush=True)


def run(branch: str, nproc: int, args: argparse.Namespace, tmp: Path) -> dict:
    me = [str(Path(__file__).resolve()), "--worker", "--branch", branch, "--tmp", str(tmp)]
    me += ["--steps", str(args.steps), "--params", args.params]
    launcher = [sys.executable]
    if nproc > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    threads = args.threads or max((os.cpu_count() or 1) // nproc, 1)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.time()
    done = subprocess.run([*launcher, *me], env=env, capture_output=True, text=True)
    wall = time.time() - started
    if done.returncode != 0:
        raise SystemExit(f"{branch} with {nproc} process(es) failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    figures = json.loads(line[len(RESULT_PREFIX) :])
    return {
        "branch": branch,
        "processes": nproc,
        "threads_per_process": threads,
        "steps": args.steps,
        "samples": figures["samples"],
        "loop_s": round(figures["loop_s"], 2),
        "samples_per_s": round(figures["samples"] / figures["loop_s"], 1),
        "command_wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/sample/devign_sample.jsonl.gz")
    ap.add_argument("--branch", choices=["transformer", "gnn", "all"], default="all")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps to time (same global batch for every N)")
    ap.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads per process; 0 = cores / processes")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        prepare(args.data, args.params, tmp)
        for branch in ["transformer", "gnn"] if args.branch == "all" else [args.branch]:
            for nproc in args.nproc:
                rows.append(run(branch, nproc, args, tmp))
                r = rows[-1]
                print(
                    f"{branch}: {nproc} process(es) x {r['threads_per_process']} thread(s): {r['steps']} steps, "
                    f"{r['samples']} samples in {r['loop_s']} s = {r['samples_per_s']} samples/s "
                    f"(whole command {r['command_wall_s']} s)",
                    flush=True,
                )
    report = {
        "command": " ".join(["python", *sys.argv]),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "runs": rows,
    }
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
