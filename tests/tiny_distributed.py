"""Train a tiny real model with the shared loop, as one process or as one torchrun rank (test helper).

    python tiny_distributed.py SPEC.json                                   # one process
    python -m torch.distributed.run --standalone --nproc_per_node 2 tiny_distributed.py SPEC.json

SPEC: {"model": "transformer" | "gnn", "out": DIR, "ckpt": DIR, "seed": int, "delay": s per step,
"cfg": {TrainParams overrides}, "n_train": int, "graphs": DIR (gnn), "stop": stop after this global step}. "{rank}" in out/ckpt is replaced
by the process's rank, so a test can see which rank wrote what. Rank 0 writes result.json (history, best
epoch, the step resumed from) or, when stopped, interrupted.json and exits 3.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tiny_training import CFG, make_task  # noqa: E402

from streamguard.training.loop import TrainingInterrupted, train  # noqa: E402


def _fit_transformer(spec: dict, out: Path, ckpt: Path):
    cfg = replace(CFG, **spec.get("cfg", {}))
    task = make_task(spec.get("delay", 0.0), cfg, n_train=spec.get("n_train", 96))
    return train(task, cfg, seed=spec["seed"], out_dir=out, checkpoint_dir=ckpt, stop_after_steps=spec.get("stop"))


def _fit_gnn(spec: dict, out: Path, ckpt: Path):
    from streamguard.graphs.store import load_graph_split
    from streamguard.params import Params
    from streamguard.training.branches import GNNBranch

    graphs = Path(spec["graphs"])
    params = Params()
    gnn = {"hidden_size": 16, "num_layers": 2, "epochs": 3, "batch_size": 3, "patience": 5, "checkpoint_every": 0}
    params.gnn = replace(params.gnn, **{**gnn, "device": "cpu", **spec.get("cfg", {})})
    branch = GNNBranch(params, graphs.parent / "processed", graphs)
    train_items = load_graph_split(graphs, "train")[: spec.get("n_train")]
    info = branch.fit(train_items, load_graph_split(graphs, "valid"), out, ckpt, spec["seed"])
    return info


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    rank = os.environ.get("RANK", "0")
    out, ckpt = (Path(spec[k].replace("{rank}", rank)) for k in ("out", "ckpt"))
    started = time.time()
    try:
        if spec["model"] == "gnn":
            info = _fit_gnn(spec, out, ckpt)
            history, best_epoch, resumed = info["history"], info["best_epoch"], info["resumed_from_step"]
        else:
            result = _fit_transformer(spec, out, ckpt)
            history, best_epoch, resumed = result.history, result.best_epoch, result.resumed_from_step
    except TrainingInterrupted as exc:
        print(exc, file=sys.stderr)
        if rank == "0":
            out.mkdir(parents=True, exist_ok=True)
            (out / "interrupted.json").write_text(json.dumps({"global_step": exc.global_step}))
        return 3
    if rank == "0":
        (out / "result.json").write_text(
            json.dumps(
                {
                    "history": history,
                    "best_epoch": best_epoch,
                    "resumed_from_step": resumed,
                    "wall_s": time.time() - started,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
