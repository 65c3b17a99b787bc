"""Roofline of each neural branch: the FLOP/s it reaches against the core's matmul peak, and the padding it computes.

    nice python benchmarks/roofline.py --data ../shared/datasets/devign/devign.jsonl.gz \\
        --limit 4000 --steps 40 --repeats 2 --out benchmarks/results/roofline

On a fixed-seed stratified subsample of the corpus (`data.limit`, the
duplicate-aware split of preprocess), each branch trains through the real loop
(`Branch.fit`, stopped after --steps optimizer steps) at params.yaml plus -S
overrides (by default the README's converged full-Devign settings:
transformer.max_length=256). Reported per branch and batching mode:

- samples/s and tokens/s (transformer, masked LM: real tokens, and padded
  tokens computed), nodes + edges/s (GNN), over the step loop's wall time;
- FLOPs per sample, counted with torch.utils.flop_counter (forward + backward,
  dense ops: matmuls and attention; the GNN's gathers and scatters do no
  multiply-adds and are not counted), both as executed (padding included) and
  useful (each sample at its own length);
- achieved GFLOP/s (executed FLOPs / loop seconds) and its share of the peak:
  the best of a few large float32 matmuls on the same threads, in the same run;
- the share of real tokens among the tokens of each batch (padding = the rest).

Modes alternate (padded, bucketed, padded, ...) --repeats times so that load
from other jobs falls on both; the median run is reported. Writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import subsample
import torch
from torch.utils.flop_counter import FlopCounterMode

from streamguard.models import mlm
from streamguard.models import transformer as tf
from streamguard.training.branches import GNNBranch, TransformerBranch
from streamguard.training.loop import TrainingInterrupted, TrainingTask, seed_everything, train

CONVERGED = ["transformer.max_length=256"]  # README's converged run; its other overrides set epochs/patience only


def matmul_peak_gflops(n: int = 2048, reps: int = 5) -> dict[str, float]:
    """The best float32 GFLOP/s of an n x n matmul on torch's current threads, per wall and per CPU second."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = {"wall": 0.0, "cpu": 0.0}
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        a @ b
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best["wall"] = max(best["wall"], round(2 * n**3 / wall / 1e9, 2))
        best["cpu"] = max(best["cpu"], round(2 * n**3 / cpu / 1e9, 2))
    return best


class CpuClock:
    """CPU seconds of this process from the first training batch on: time other jobs take from the
    shared cores does not count, so it measures what the branch costs rather than how busy the machine was."""

    def __init__(self) -> None:
        self.start: float | None = None

    def tick(self) -> None:
        if self.start is None:
            self.start = time.process_time()

    def seconds(self) -> float:
        return time.process_time() - (self.start or 0.0)


def train_flops(model: torch.nn.Module, forward, batch: Any) -> int:
    """Forward + backward FLOPs of one batch, as torch's flop counter sees them."""
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        forward(model, batch, torch.device("cpu")).float().sum().backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def rates(batches: int, samples: int, seconds: tuple[float, float]) -> dict:
    """The figures every branch reports: batches, samples, loop seconds and samples/s, per wall and per CPU second."""
    wall, cpu = seconds
    return {
        "batches": batches,
        "samples": samples,
        "loop_seconds": round(wall, 2),
        "loop_cpu_seconds": round(cpu, 2),
        "samples_per_s": round(samples / wall, 2),
        "samples_per_cpu_s": round(samples / cpu, 2),
    }


def stopped_loop_seconds(fit, steps: int, clock: CpuClock) -> tuple[float, float]:
    """(wall, CPU) seconds of the step loop of `fit`, which stops after `steps` optimizer steps."""
    try:
        fit()
    except TrainingInterrupted as stopped:
        return stopped.loop_seconds, clock.seconds()
    raise SystemExit(f"training finished before {steps} steps; lower --steps or raise --limit")


def token_batch_figures(
    batches: list[list[list[int]]], model, forward, pad_id: int, seconds: tuple[float, float]
) -> dict:
    """Throughput and FLOPs of batches of token ids (each padded to its longest), trained in `seconds`."""
    executed: dict[tuple[int, int], int] = {}
    useful: dict[int, int] = {}
    flops = real_flops = samples = real = padded = 0
    for batch in batches:
        width = max(len(ids) for ids in batch)
        shape = (len(batch), width)
        if shape not in executed:
            executed[shape] = train_flops(model, forward, tf.collate_token_ids([[pad_id] * width] * len(batch), pad_id))
        flops += executed[shape]
        for ids in batch:
            if len(ids) not in useful:
                useful[len(ids)] = train_flops(model, forward, tf.collate_token_ids([[pad_id] * len(ids)], pad_id))
            real_flops += useful[len(ids)]
        samples += len(batch)
        real += sum(len(ids) for ids in batch)
        padded += len(batch) * width
    shares = [sum(len(ids) for ids in b) / (len(b) * max(len(ids) for ids in b)) for b in batches]
    wall, cpu = seconds
    return {
        **rates(len(batches), samples, seconds),
        "real_tokens_per_cpu_s": round(real / cpu, 1),
        "padded_tokens_per_cpu_s": round(padded / cpu, 1),
        "mean_batch_size": round(samples / len(batches), 1),
        "real_token_share": round(real / padded, 4),
        "real_token_share_per_batch": {"min": round(min(shares), 3), "median": round(statistics.median(shares), 3)},
        "gflop_per_sample_executed": round(flops / samples / 1e9, 4),
        "gflop_per_sample_useful": round(real_flops / samples / 1e9, 4),
        "achieved_gflops": round(flops / wall / 1e9, 2),
        "achieved_gflops_cpu": round(flops / cpu / 1e9, 2),
        "useful_gflops_cpu": round(real_flops / cpu / 1e9, 2),
    }


def transformer_run(params, processed: Path, tmp: Path, steps: int, batching: str) -> dict:
    cfg = replace(params.transformer, batching=batching, device="cpu", checkpoint_every=0, epochs=50, resume="never")
    params = replace(params, transformer=cfg)
    seen: list[list[list[int]]] = []
    clock = CpuClock()

    class Recorded(TransformerBranch):
        def _task_fns(self):
            collate, forward = super()._task_fns()

            def record(items):
                clock.tick()
                seen.append([list(ids) for ids in items])
                return collate(items)

            return record, forward

    branch = Recorded(params, processed, tmp)
    train_items, valid_items = branch.load_items("train"), branch.load_items("valid")[:32]
    out = tmp / f"transformer_{batching}"
    seconds = stopped_loop_seconds(
        lambda: branch.fit(train_items, valid_items, out, out / "ck", params.seed, steps), steps, clock
    )
    return token_batch_figures(seen, branch.model, tf.forward_tokens, branch.tokenizer.pad_token_id, seconds)


def mlm_run(params, processed: Path, tmp: Path, steps: int, batching: str) -> dict:
    """The pretrain stage's masked LM on the subsample's training functions (its default corpus)."""
    cfg = replace(
        params.pretrain, batching=batching, device="cpu", checkpoint_every=0, epochs=50, max_steps=0, resume="never"
    )
    texts = [r.func for r in TransformerBranch(params, processed, tmp).load_items("train")]
    seed_everything(params.seed)
    tokenizer = tf.train_tokenizer(texts, cfg.vocab_size, cfg.max_length)
    windows = mlm.encode_windows(tokenizer, texts, cfg.max_length - 2)
    model = mlm.build_mlm(tf.TransformerConfig.of(cfg), tokenizer)
    batches = mlm.MaskedBatches(tokenizer, windows, cfg.mlm_probability)
    seen: list[list[list[int]]] = []
    clock = CpuClock()

    def collate(items):
        clock.tick()
        seen.append([[0] * (len(windows.window(i)) + 2) for i in items])
        return batches.collate(items)

    task = TrainingTask(
        name="pretrain",
        model=model,
        train_items=range(len(windows)),
        valid_items=range(1),
        train_labels=[],
        train_confidence=[],
        valid_labels=[],
        collate=collate,
        forward=lambda m, b, d: m(input_ids=b["input_ids"].to(d), attention_mask=b["attention_mask"].to(d)).logits,
        loss_fn=mlm.mlm_loss,
        validate=lambda *_: {"neg_loss": 0.0},
        score_key="neg_loss",
        item_sizes=[(1, len(windows.window(i)) + 2) for i in range(len(windows))] if batching == "bucketed" else None,
    )
    out = tmp / f"mlm_{batching}"
    seconds = stopped_loop_seconds(
        lambda: train(task, cfg, params.seed, out, out / "ck", stop_after_steps=steps), steps, clock
    )

    def masked_lm_forward(m, b, d):  # the loss's work: encoder on every token, vocabulary head on ~15 %
        hidden = m.roberta(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        return m.lm_head(hidden[:, : max(1, round(hidden.shape[1] * cfg.mlm_probability))])

    figures = token_batch_figures(seen, model, masked_lm_forward, tokenizer.pad_token_id, seconds)
    figures["windows"] = len(windows)
    return figures


def gnn_run(params, processed: Path, tmp: Path, steps: int) -> dict:
    graphs = tmp / "graphs"
    if not (graphs / "train.pt").exists():
        from streamguard.stages.graphs import run_graphs_stage

        run_graphs_stage(processed, graphs, params)
    params = replace(params, gnn=replace(params.gnn, device="cpu", checkpoint_every=0, epochs=50, resume="never"))
    seen: list[Any] = []
    clock = CpuClock()

    class Recorded(GNNBranch):
        @staticmethod
        def _collate(items):
            clock.tick()
            batch = GNNBranch._collate(items)
            seen.append(batch)
            return batch

    branch = Recorded(params, processed, graphs)
    train_items, valid_items = branch.load_items("train"), branch.load_items("valid")[:32]
    out = tmp / "gnn"
    seconds = stopped_loop_seconds(
        lambda: branch.fit(train_items, valid_items, out, out / "ck", params.seed, steps), steps, clock
    )
    wall, cpu = seconds
    flops = sum(train_flops(branch.model, GNNBranch._forward, batch) for batch in seen)
    samples = sum(b.num_graphs for b in seen)
    nodes, edges = sum(b.num_nodes for b in seen), sum(b.edge_index.size(1) for b in seen)
    return {
        **rates(len(seen), samples, seconds),
        "batch_size": branch.batch_size(),
        "nodes_per_cpu_s": round(nodes / cpu, 1),
        "edges_per_cpu_s": round(edges / cpu, 1),
        "nodes_edges_per_cpu_s": round((nodes + edges) / cpu, 1),
        "mean_nodes_per_graph": round(nodes / samples, 1),
        "mean_edges_per_graph": round(edges / samples, 1),
        "real_token_share": 1.0,  # graphs are concatenated, never padded
        "gflop_per_sample_executed": round(flops / samples / 1e9, 4),
        "achieved_gflops": round(flops / wall / 1e9, 2),
        "achieved_gflops_cpu": round(flops / cpu / 1e9, 2),
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def median_run(runs: list[dict]) -> dict:
    """The run of median samples per CPU second, with every run's figures beside it."""
    ordered = sorted(runs, key=lambda r: r["samples_per_cpu_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["samples_per_cpu_s_runs"] = [r["samples_per_cpu_s"] for r in runs]
    chosen["samples_per_s_runs"] = [r["samples_per_s"] for r in runs]
    return chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subsample.add_arguments(ap, limit=4000)
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps timed per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per branch and mode, alternating modes")
    ap.add_argument("--branches", default="transformer,gnn,mlm")
    args = ap.parse_args()

    sets, params = subsample.params_for(args, CONVERGED)
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "overrides": sets,
        "torch_threads": torch.get_num_threads(),
        "cpu": os.cpu_count(),
        "torch": torch.__version__,
        "uptime_before": uptime(),
        "peak_gflops_before": matmul_peak_gflops(),
        "branches": {},
    }
    print(f"peak {report['peak_gflops_before']} GFLOP/s (wall, cpu) ({report['uptime_before']})", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        processed, records = subsample.write_splits(args.data, params, tmp)
        report["train_functions"] = sum(r.split == "train" for r in records)
        wanted = args.branches.split(",")
        for name, run in (("transformer", transformer_run), ("mlm", mlm_run)):
            if name not in wanted:
                continue
            runs: dict[str, list[dict]] = {"padded": [], "bucketed": []}
            for _ in range(args.repeats):
                for batching in runs:
                    runs[batching].append(run(params, processed, tmp, args.steps, batching))
                    last = runs[batching][-1]
                    print(name, batching, last["samples_per_s"], "samples/s", last["samples_per_cpu_s"], "per CPU s")
            report["branches"][name] = {mode: median_run(r) for mode, r in runs.items()}
        if "gnn" in wanted:
            gnn_runs = [gnn_run(params, processed, tmp, args.steps) for _ in range(args.repeats)]
            print("gnn", [r["samples_per_cpu_s"] for r in gnn_runs], "samples per CPU s", flush=True)
            report["branches"]["gnn"] = {"padded": median_run(gnn_runs)}
    report["peak_gflops_after"] = matmul_peak_gflops()
    report["uptime_after"] = uptime()
    peak = max(report["peak_gflops_before"]["cpu"], report["peak_gflops_after"]["cpu"])
    for modes in report["branches"].values():
        for figures in modes.values():
            figures["share_of_peak"] = round(figures["achieved_gflops_cpu"] / peak, 4)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report, peak))
    print(out.with_suffix(".md").read_text())


def markdown(report: dict, peak: float) -> str:
    rows = [
        "| branch | batching | samples per CPU s (runs) | samples per wall s (runs) | real (computed) tokens "
        "or nodes+edges per CPU s | GFLOP/sample executed (useful) | GFLOP per CPU s | of peak | real-token share "
        "(per-batch median, min) | mean batch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, modes in report["branches"].items():
        for mode, f in modes.items():
            cpu_runs = ", ".join(str(s) for s in f["samples_per_cpu_s_runs"])
            wall_runs = ", ".join(str(s) for s in f["samples_per_s_runs"])
            if name == "gnn":
                rate = f"{f['nodes_edges_per_cpu_s']:,.0f}"
                flop = f"{f['gflop_per_sample_executed']}"
                share, mode = "1 (no padding)", "graphs"
            else:
                rate = f"{f['real_tokens_per_cpu_s']:,.0f} ({f['padded_tokens_per_cpu_s']:,.0f})"
                flop = f"{f['gflop_per_sample_executed']} ({f['gflop_per_sample_useful']})"
                per = f["real_token_share_per_batch"]
                share = f"{f['real_token_share']} ({per['median']}, {per['min']})"
            batch = f.get("mean_batch_size", f.get("batch_size"))
            rows.append(
                f"| {name} | {mode} | {f['samples_per_cpu_s']} ({cpu_runs}) | {f['samples_per_s']} ({wall_runs}) | "
                f"{rate} | {flop} | {f['achieved_gflops_cpu']} | {f['share_of_peak']:.1%} | {share} | {batch} |"
            )
    before, after = report["peak_gflops_before"], report["peak_gflops_after"]
    return (
        "# Roofline per neural branch\n\n"
        f"Command: `{report['command']}`\n\n"
        f"Overrides: `{' '.join(report['overrides'])}`; {report['train_functions']} training functions; "
        f"{report['torch_threads']} torch thread(s) on a {report['cpu']}-core machine shared with other jobs; torch "
        f"{report['torch']}.\n\n"
        f"Load: before `{report['uptime_before']}`; after `{report['uptime_after']}`.\n\n"
        "Rates are per CPU second of this process (from the first training batch to the stop), which other jobs on "
        "the shared cores do not inflate; per wall second they depend on how much of a core the run got.\n\n"
        f"Peak (best float32 2048x2048 matmul, same thread count), GFLOP per CPU s: {before['cpu']} before, "
        f"{after['cpu']} after (per wall s: {before['wall']}, {after['wall']}); shares below use {peak}.\n\n"
        + "\n".join(rows)
        + "\n"
    )


if __name__ == "__main__":
    main()
