"""One full training step per neural branch, eager against torch.compile, fused/foreach AdamW and threads.

A benchmark: prints figures (and writes them as JSON with --json), asserts nothing. A step is what the
training loop (streamguard.training.loop) does per batch: forward, class-weighted cross-entropy,
backward, clip_grad_norm_, AdamW over `decay_groups`, the linear schedule, zero_grad. The models are
built as training builds them (`roberta_config` + RobertaForSequenceClassification, `gnn_from_graph_dir`).

- transformer: real token ids: the pipeline's processed train records encoded by its trained tokenizer
  (`encode_function`, max_length), in random batches of `batch_size` padded to the batch's longest row
  (padded batching; most rows reach max_length);
- gnn: real graph batches of `batch_size` graphs from the graphs stage's train.pt (`load_graph_split`).

Each variant is timed against eager in alternating pairs (eager, variant, variant, eager, ...: a shared
machine drifts), `--steps` steps per timing after warm-up, by wall clock and by this process's CPU time;
the speedup is the median of the pairs' ratios. threads1v2 times eager at 1 torch thread (its "eager")
against 2. Deterministic algorithms are on (warn only), as training's `seed_everything` sets them.
Numerics: with dropout 0, eager and the variant take `--check-steps` steps from the same weights on the
same batches and the losses are compared.

    python benchmarks/compile_costs.py --branch transformer --params /tmp/conv/params.yaml \
        --records /tmp/conv/data/processed/train.jsonl --tokenizer /tmp/conv/models/transformer/hf
    python benchmarks/compile_costs.py --branch gnn --params /tmp/conv/params.yaml --graphs /tmp/conv/data/graphs
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from streamguard.params import TrainParams, load_params
from streamguard.training.loop import decay_groups
from streamguard.training.loss import weighted_cross_entropy


@dataclass
class Branch:
    """What a step needs: a model factory (dropout given), batches, labels, the forward function."""

    build: Callable[[float], nn.Module]
    batches: list[Any]
    labels: list[torch.Tensor]
    forward: Callable[[nn.Module, Any], torch.Tensor]
    cfg: TrainParams
    dropout: float  # the section's: timed steps drop out as training does


def transformer_branch(params_path: str, records: Path, tokenizer_dir: Path, n_batches: int) -> Branch:
    from transformers import AutoTokenizer, RobertaForSequenceClassification

    from streamguard.models.transformer import TransformerConfig, collate_token_ids, encode_function, roberta_config

    section = load_params(params_path).transformer
    config = TransformerConfig.of(section)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    lines = records.read_text().splitlines()
    picked = random.Random(0).sample(lines, section.batch_size * n_batches)
    rows = [json.loads(line) for line in picked]
    ids = [encode_function(tokenizer, r["func"], config.max_length, "bench").input_ids for r in rows]
    size = section.batch_size
    batches = [collate_token_ids(ids[i : i + size], tokenizer.pad_token_id) for i in range(0, len(ids), size)]
    labels = [torch.as_tensor([int(r["target"]) for r in rows[i : i + size]]) for i in range(0, len(rows), size)]

    def build(dropout: float) -> nn.Module:
        return RobertaForSequenceClassification(
            roberta_config(replace(config, dropout=dropout), tokenizer, num_labels=2)
        )

    def forward(model: nn.Module, batch: dict) -> torch.Tensor:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    return Branch(build, batches, labels, forward, section, section.dropout)


def gnn_branch(params_path: str, graphs_dir: Path, n_batches: int) -> Branch:
    from torch_geometric.data import Batch

    from streamguard.graphs.store import load_graph_split
    from streamguard.models.gnn import GNNConfig, gnn_from_graph_dir

    section = load_params(params_path).gnn
    size = int(section.batch_size)
    graphs = load_graph_split(graphs_dir, "train")
    picked = random.Random(0).sample(range(len(graphs)), size * n_batches)
    batches = [Batch.from_data_list([graphs[i] for i in picked[k : k + size]]) for k in range(0, len(picked), size)]
    labels = [b.y.long().view(-1) for b in batches]
    config = GNNConfig.of(section)

    def build(dropout: float) -> nn.Module:
        return gnn_from_graph_dir(replace(config, dropout=dropout), graphs_dir)

    def forward(model: nn.Module, batch: Any) -> torch.Tensor:
        return model(batch)

    return Branch(build, batches, labels, forward, section, section.dropout)


class Trainer:
    """A model, its AdamW and schedule, stepping over the branch's batches in turn."""

    def __init__(self, branch: Branch, model: nn.Module, optimizer: str = "default", compile_kw: dict | None = None):
        self.branch, self.model, self.at = branch, model, 0
        cfg = branch.cfg
        flags = {"default": {}, "fused": {"fused": True}, "foreach": {"foreach": True}}[optimizer]
        self.optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.learning_rate, **flags)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, 10, 10_000)
        self.runs = torch.compile(model, **compile_kw) if compile_kw is not None else model
        model.train()

    def step(self) -> float:
        k = self.at % len(self.branch.batches)
        self.at += 1
        logits = self.branch.forward(self.runs, self.branch.batches[k])
        y = self.branch.labels[k]
        loss = weighted_cross_entropy(logits, y, torch.ones(len(y)))
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.branch.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def timed_ms(self, steps: int) -> tuple[float, float]:
        """(wall, this process's CPU) milliseconds per step."""
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - started) / steps * 1000, (time.process_time() - cpu) / steps * 1000


def dynamo_counts() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return {
        "frames_compiled": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
        "recompiles": int(sum(v for k, v in counters["recompiles"].items())) if "recompiles" in counters else 0,
    }


def compare(
    branch: Branch,
    name: str,
    pairs: int,
    steps: int,
    check_steps: int,
    optimizer: str = "default",
    compile_kw: dict | None = None,
    threads: tuple[int, int] | None = None,
) -> dict:
    """Eager (default AdamW) against one variant: alternating timed pairs, and a numerics check."""
    default_threads = torch.get_num_threads()
    torch.manual_seed(0)
    start = branch.build(branch.dropout)
    eager = Trainer(branch, copy.deepcopy(start))
    variant = Trainer(branch, copy.deepcopy(start), optimizer, compile_kw)
    result: dict[str, Any] = {"variant": name}
    if compile_kw is not None:
        torch._dynamo.reset()
        from torch._dynamo.utils import counters

        counters.clear()
        started = time.perf_counter()
        for _ in range(len(branch.batches)):  # every batch shape once: the compiles (and recompiles) happen here
            variant.step()
        result["compile_s"] = round(time.perf_counter() - started, 1)
        result["dynamo"] = dynamo_counts()
    for trainer in (eager, variant):  # warm-up
        trainer.timed_ms(2)
    eager_ms: list[tuple[float, float]] = []
    variant_ms: list[tuple[float, float]] = []
    for p in range(pairs):
        order = [(eager, eager_ms), (variant, variant_ms)]
        for trainer, out in order if p % 2 == 0 else order[::-1]:
            if threads is not None:
                torch.set_num_threads(threads[0] if trainer is eager else threads[1])
            out.append(trainer.timed_ms(steps))
    torch.set_num_threads(default_threads)
    for i, clock in enumerate(("", "cpu_")):  # wall, then process CPU
        e, v = [t[i] for t in eager_ms], [t[i] for t in variant_ms]
        ratios = [a / b for a, b in zip(e, v)]
        result.update({
            f"eager_{clock}ms": round(statistics.median(e), 1),
            f"variant_{clock}ms": round(statistics.median(v), 1),
            f"{clock}speedup": round(statistics.median(ratios), 3),
            f"{clock}speedup_range": [round(min(ratios), 3), round(max(ratios), 3)],
            f"eager_{clock}ms_pairs": [round(x, 1) for x in e],
            f"variant_{clock}ms_pairs": [round(x, 1) for x in v],
        })  # fmt: skip
    if check_steps and threads is None:
        result.update(numerics(branch, check_steps, optimizer, compile_kw))
    if compile_kw is not None:
        result["dynamo_after"] = dynamo_counts()
    print(json.dumps(result), flush=True)
    return result


def numerics(branch: Branch, check_steps: int, optimizer: str, compile_kw: dict | None) -> dict:
    """Losses of eager and the variant over the same steps from the same weights, dropout off."""
    torch.manual_seed(1)
    start = branch.build(0.0)
    losses = []
    for opt, kw in (("default", None), (optimizer, compile_kw)):
        if kw is not None:
            torch._dynamo.reset()
        trainer = Trainer(branch, copy.deepcopy(start), opt, kw)
        losses.append([trainer.step() for _ in range(check_steps)])
    diffs = [abs(a - b) for a, b in zip(*losses)]
    return {
        "check_steps": check_steps,
        "eager_last_loss": losses[0][-1],
        "variant_last_loss": losses[1][-1],
        "max_abs_loss_diff": max(diffs),
        "last_abs_loss_diff": diffs[-1],
    }


VARIANTS = ("compile", "compile-dynamic", "fused", "foreach", "threads1v2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--branch", choices=("transformer", "gnn"), required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--records", type=Path, default=Path("data/processed/train.jsonl"))
    parser.add_argument("--tokenizer", type=Path, default=Path("models/transformer/hf"))
    parser.add_argument("--graphs", type=Path, default=Path("data/graphs"))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--batches", type=int, default=6, help="distinct batches the steps cycle over")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4, help="steps per timing")
    parser.add_argument("--check-steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    parser.add_argument("--json", type=Path, help="append the results here (a JSON list)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)  # as training's seed_everything
    if args.branch == "transformer":
        branch = transformer_branch(args.params, args.records, args.tokenizer, args.batches)
    else:
        branch = gnn_branch(args.params, args.graphs, args.batches)
    shapes = [
        tuple(b["input_ids"].shape) if isinstance(b, dict) else (b.num_graphs, b.num_nodes) for b in branch.batches
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.branch} batches {shapes}", flush=True)
    results = []
    for name in args.variants:
        kw: dict[str, Any] = {}
        if name == "compile":
            kw = {"compile_kw": {}}
        elif name == "compile-dynamic":
            kw = {"compile_kw": {"dynamic": True}}
        elif name in ("fused", "foreach"):
            kw = {"optimizer": name}
        else:
            kw = {"threads": (1, 2)}
        results.append(compare(branch, name, args.pairs, args.steps, args.check_steps, **kw))
    if args.json:
        existing = json.loads(args.json.read_text()) if args.json.exists() else []
        meta = {"branch": args.branch, "torch": torch.__version__, "threads": torch.get_num_threads()}
        args.json.write_text(json.dumps(existing + [{**meta, **r} for r in results], indent=1) + "\n")


if __name__ == "__main__":
    main()
