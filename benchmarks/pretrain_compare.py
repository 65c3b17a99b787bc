"""Test metrics with bootstrap CIs for two runs of one branch (transformer or GNN), and McNemar between them.

    python benchmarks/pretrain_compare.py scratch=/tmp/pt/scratch pretrained=/tmp/pt/finetuned \
        --json benchmarks/results/pretrain.json

Each folder is a `streamguard train transformer|gnn --out DIR` output. The threshold
of each model is chosen on its valid predictions (fusion.threshold_rule, as
`evaluate` does); metrics and CIs come from streamguard.evaluation, McNemar
from evaluation/stats.py, on the same test functions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from streamguard.evaluation.metrics import bootstrap_metrics
from streamguard.evaluation.stats import mcnemar_exact, paired_bootstrap_diff
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.io.predictions import read_predictions
from streamguard.metrics import predict
from streamguard.params import load_params

SHOWN = ("accuracy", "f1", "roc_auc", "mcc")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs=2, metavar="NAME=DIR")
    ap.add_argument("--params", default="params.yaml", help="evaluate.* and fusion.threshold_rule")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    params = load_params(args.params)
    ev = params.evaluate
    results: dict = {"models": {}}
    test: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for spec in args.runs:
        name, folder = spec.split("=", 1)
        preds = read_predictions(Path(folder) / "predictions.jsonl", name)
        valid, tst = preds.splits["valid"], preds.splits["test"]
        threshold = choose_threshold(valid.target, valid.prob, params.fusion.threshold_rule)
        y, p = tst.target, tst.prob  # sorted by id
        metrics = bootstrap_metrics(y, p, threshold, ev.bootstrap_resamples, ev.confidence_level, ev.seed)
        info = json.loads((Path(folder) / "run_info.json").read_text())
        timing_file = Path(folder) / "timing.json"  # wall time lives beside run_info (streamguard/io/run_info.py)
        info.update(json.loads(timing_file.read_text()) if timing_file.exists() else {})
        results["models"][name] = {
            "threshold": threshold,
            **{k: v for k, v in metrics.items() if k.split("_ci_")[0] in SHOWN},
            "wall_time_s": info.get("wall_time_s"),
            "best_epoch": info.get("best_epoch"),
            "epochs_run": info.get("epochs_run"),
            "pretrained": info.get("pretrained"),
        }
        test[name] = (np.asarray(tst.ids), y, p)
        print(
            f"{name:>11}: "
            + "  ".join(
                f"{k} {metrics[k]:.3f} [{metrics[k + '_ci_low']:.3f}, {metrics[k + '_ci_high']:.3f}]" for k in SHOWN
            )
            + f"  (threshold {threshold:.3f}, wall {info.get('wall_time_s')} s, best epoch {info.get('best_epoch')})"
        )
    (a, (ids_a, y, p_a)), (b, (ids_b, _, p_b)) = test.items()
    assert list(ids_a) == list(ids_b), "the two runs predicted different test functions"
    t_a, t_b = results["models"][a]["threshold"], results["models"][b]["threshold"]
    correct_a, correct_b = predict(p_a, t_a) == y, predict(p_b, t_b) == y
    mcnemar = mcnemar_exact(correct_a, correct_b)
    diffs = {
        metric: paired_bootstrap_diff(
            y, p_a, t_a, p_b, t_b, metric, ev.bootstrap_resamples, ev.confidence_level, ev.seed
        )
        for metric in SHOWN
    }
    results["comparison"] = {"first": a, "second": b, "mcnemar": mcnemar, "differences": diffs}
    print(f"{a} vs {b}: McNemar b={mcnemar['b']} c={mcnemar['c']} p={mcnemar['p_value']:.3g}")
    for metric, d in diffs.items():
        print(f"  {metric} {a} - {b}: {d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
