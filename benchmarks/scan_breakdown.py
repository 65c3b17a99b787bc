"""CPU seconds per step of `streamguard scan`'s scoring, over every function of a C tree, in one process.

CPU time, not wall time: on a shared machine the load inflates wall time but
not (much) the CPU a step burns, so these figures say where a scan's work goes.
One torch thread, batches of 64, as each scan worker scores (scan/scoring.py).

    python benchmarks/scan_breakdown.py TREE [MODELS_DIR GRAPHS_DIR PARAMS_FILE]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from streamguard.c.functions import extract_functions
from streamguard.data.records import Record
from streamguard.data.trim import trim_to_budget
from streamguard.models.inference import predict_probs
from streamguard.models.scorer import Scorer
from streamguard.params import load_params
from streamguard.scan.walk import list_sources, scan_root

BATCH = 64


def main(tree: Path, models: Path, graphs: Path, params_file: Path) -> dict:
    torch.set_num_threads(1)
    params = load_params(params_file)
    steps: dict[str, float] = {}

    def timed(step: str, fn, *args):
        started = time.process_time()
        out = fn(*args)
        steps[step] = steps.get(step, 0.0) + time.process_time() - started
        return out

    def cut_functions() -> list[Record]:
        sources = list_sources([tree], scan_root([tree]))
        return [Record(func=f.text, target=0) for s in sources for f in extract_functions(s.path.read_bytes())]

    records = timed("walk + extract", cut_functions)
    scorer = Scorer(models, graphs, params)
    with torch.inference_mode():
        for rec in records:
            rec.func = timed("trim", lambda text: trim_to_budget(text, params.data.max_chars).text, rec.func)
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            for name in scorer.models:
                for member in scorer.members[name]:
                    if name == "transformer":
                        ids = timed("transformer tokenize", member._encode, batch)
                        collate, forward = member._task_fns()
                        cpu, size = torch.device("cpu"), params.transformer.batch_size
                        timed("transformer forward", predict_probs, member.model, ids, collate, forward, cpu, size)
                    elif name == "gnn":
                        graphs_built = timed("graph build", scorer._graphs, batch)
                        timed("gnn collate + forward", member.predict, graphs_built)
                    else:
                        timed(name, member.predict, batch)
    total = sum(steps.values())
    return {
        "functions": len(records),
        "cpu_s": {k: round(v, 2) for k, v in steps.items()},
        "total_cpu_s": round(total, 2),
        "functions_per_cpu_s": round(len(records) / total, 1),
    }


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    defaults = [Path("models"), Path("data/graphs"), Path("params.yaml")]
    print(json.dumps(main(*args, *defaults[len(args) - 1 :]), indent=1))
