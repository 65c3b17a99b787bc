"""Pretraining speed on CPU: corpus building (functions/s), masked-LM throughput (tokens/s), peak memory.

    python benchmarks/pretrain.py --processed data/processed --source /usr/src/linux-source-6.1.tar.xz \
        --source ../shared/datasets/repos/tcpdump.bundle --max-functions 20000 --steps 50

Builds the corpus with the real streaming builder (leakage rule against
--processed's valid/test functions included), then runs the real `pretrain`
stage through the one training loop for --steps optimizer steps with the
params.yaml `pretrain` sizes (override with -S pretrain.key=value) and prints
figures. Nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from training import override  # noqa: E402  (benchmarks/training.py: -S key=value over a params file)

from streamguard.params import load_params  # noqa: E402
from streamguard.stages.pretrain import run_pretrain  # noqa: E402
from streamguard.training.loop import TrainingInterrupted  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processed", required=True, help="data/processed (valid/test functions are kept out)")
    ap.add_argument("--source", action="append", default=[], help="pretrain source (repeatable); none = train split")
    ap.add_argument("--max-functions", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=50, help="optimizer steps to time")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument(
        "-S", dest="sets", action="append", default=[], help="override a param, e.g. -S pretrain.batch_size=64"
    )
    args = ap.parse_args()

    params = override(Path(args.params), args.sets) if args.sets else load_params(args.params)
    cfg = replace(params.pretrain, sources=args.source, max_functions=args.max_functions, checkpoint_every=0)
    params = replace(params, pretrain=cfg, transformer=replace(params.transformer, init="pretrain"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        started = time.time()
        try:
            run_pretrain(
                params, Path(args.processed), tmp_dir / "model", tmp_dir / "pretrain", tmp_dir / "ck", args.steps
            )
            print("pretrain: finished before --steps; lower the corpus or raise --steps to time the loop")
            return
        except TrainingInterrupted as stop:
            report = json.loads((tmp_dir / "pretrain" / "corpus_report.json").read_text())
            # windows average tokens/windows ids plus <s> and </s>
            tokens_per_step = cfg.batch_size * (report["tokens"] / report["train_windows"] + 2)
            print(
                f"corpus: {report['functions']} functions kept of {report['functions_seen']} seen, "
                f"{report['files_read']} files, {report['seconds']:.1f} s -> {report['functions_per_s']} "
                f"functions/s; {report['tokens']:,} training tokens; drops {report['drops']}"
            )
            print(
                f"pretrain: {stop.step} steps in {stop.loop_seconds:.1f} s of loop "
                f"({time.time() - started:.1f} s with corpus, tokenizer and encoding) -> "
                f"{stop.step * tokens_per_step / stop.loop_seconds:,.0f} tokens/s "
                f"({stop.step * cfg.batch_size / stop.loop_seconds:.1f} windows/s); peak RSS {peak_rss_mb():.0f} MiB"
            )


if __name__ == "__main__":
    main()
